"""Reference values end to end: ``release sign --corim`` declares them, ``intake --reference-values`` matches them.

The vendor signs a release of the demo firmware with ``--corim``; the operator takes in a simulated attest device
with that CoRIM. Each twin is built the way an attacker (or a careless vendor) would: a tampered image, a CoRIM
signed by a key the policy does not list, an unsigned one, one for another device class that declares the very
same digests, bytes that are not CBOR.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from attestations.corim.document import load_document
from attestations.corim.encode import encode_corim
from attestations.keys import load_signer
from tests.helpers import assert_clean_error, run_cli
from tests.workflows.conftest import Workspace, policy_text
from verifier.declared.device_manifest import load_device_manifest
from verifier.workflows.release_corim import release_corim

REFERENCE_POLICY = '''
[reference_values]
signers = ["keys/vendor.pub"]
missing = "{missing}"
required = {required}
'''


@pytest.fixture(scope="module")
def corim_release(workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A release signed with ``release sign --corim`` (through the CLI, as a vendor runs it)."""
    out = tmp_path_factory.mktemp("corim-release") / "release"
    result = run_cli(["release", "sign", "--firmware", workspace.firmware, "--key", workspace.paths["vendor_key"],
                      "--device-manifest", workspace.paths["device_manifest"], "--name", "rtu9", "--version",
                      "1.0.0", "--corim", "-o", out, "--format", "json"])
    assert result.returncode == 0, result.stderr
    assert str(out / "rtu9.corim") in json.loads(result.stdout)["files"]
    return out


def _policy(ws: Workspace, name: str, *, missing: str = "fail", required: str = "false") -> Path:
    return ws.write_policy(name, policy_text() + REFERENCE_POLICY.format(missing=missing, required=required))


def _intake(ws: Workspace, release: Path, port: str, *corims: Path, policy: Path,
            firmware: Path | None = None) -> tuple[int, dict[str, Any], str]:
    args: list[object] = ["intake", "--release", release, "--policy", policy, "--firmware", firmware or ws.firmware,
                          "--port", port, "--profile", "attest", "--timeout", "20", "--no-history",
                          "--format", "json"]
    for corim in corims:
        args += ["--reference-values", corim]
    result = run_cli(args)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout) if result.stdout.strip() else {}, result.stderr


def _refval(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["check"].startswith("refval.")]


def _by(report: dict[str, Any], check: str) -> dict[str, dict[str, Any]]:
    return {f["subject"]: f for f in report["findings"] if f["check"] == check}


def _other_corim(ws: Workspace, tmp: Path, *, key: str = "vendor_key", model: str | None = None,
                 signed: bool = True) -> Path:
    """A CoRIM of the same release made another way: signed by ``key``, for ``model``, or unsigned."""
    from dataclasses import replace

    device = load_device_manifest(ws.paths["device_manifest"])
    if model is not None:
        device = replace(device, model=model)
    from verifier.firmware.inventory import build_manifest

    predicate = build_manifest(ws.firmware).to_predicate()
    data = release_corim(name="rtu9", version="1.0.0", created="2026-01-01T00:00:00+00:00",
                         images=[(ws.firmware, predicate)], device=device, signers=[load_signer(ws.paths[key])])
    if not signed:
        document = load_document(data)
        assert document.corim is not None
        data = encode_corim(document.corim)
    path = tmp / f"{key}-{model or 'same'}-{'signed' if signed else 'unsigned'}.corim"
    path.write_bytes(data)
    return path


def test_what_release_sign_declared_is_what_intake_matches(
    workspace: Workspace, corim_release: Path, simulator: Any
) -> None:
    sim = simulator()
    code, report, stderr = _intake(workspace, corim_release, sim.port, corim_release / "rtu9.corim",
                                   policy=_policy(workspace, "refval-fail.toml"))
    assert code == 0, (stderr, [f for f in report["findings"] if f["status"] != "pass"])
    matched = _by(report, "refval.match")
    image = f"image/{workspace.firmware.name}"
    assert set(matched) == {image, f"{image}/section/.text", "region/bootloader"}, _refval(report)
    assert matched[image]["evidence"]["algorithms"] == ["sha256", "sha384", "sha512"]
    assert matched[image]["evidence"]["device_class_from"] == "the device (signed)"
    assert "Acme" in matched[image]["message"] and "sha256 and sha384 and sha512" in matched[image]["message"]
    assert [f["status"] for f in report["findings"] if f["check"] == "refval.signature"] == ["pass"]
    assert not _by(report, "refval.mismatch") and not _by(report, "refval.missing")
    assert not [f for f in report["findings"] if f["check"].startswith("refval.") and f["status"] != "pass"]


def test_a_tampered_image_is_a_mismatch_naming_both_digests(
    workspace: Workspace, corim_release: Path, simulator: Any
) -> None:
    sim = simulator()
    tampered = workspace.paths["tampered_firmware"]
    code, report, _ = _intake(workspace, corim_release, sim.port, corim_release / "rtu9.corim",
                              policy=_policy(workspace, "refval-fail.toml"), firmware=tampered)
    assert code == 1
    mismatched = _by(report, "refval.mismatch")
    image = mismatched[f"image/{tampered.name}"]
    assert image["status"] == "fail"
    measured, reference = image["evidence"]["measured"], image["evidence"]["reference"]
    assert measured != reference and measured[:16] in image["message"] and reference[:16] in image["message"]
    assert f"image/{tampered.name}/section/.text" in mismatched
    # The device still runs the honest firmware: its region matches.
    assert "region/bootloader" in _by(report, "refval.match")


def test_a_corim_signed_by_a_key_the_policy_does_not_list_matches_nothing(
    workspace: Workspace, corim_release: Path, simulator: Any, tmp_path: Path
) -> None:
    sim = simulator()
    foreign = _other_corim(workspace, tmp_path, key="operator_key")
    code, report, _ = _intake(workspace, corim_release, sim.port, foreign,
                              policy=_policy(workspace, "refval-fail.toml"))
    assert code == 1
    (signature,) = [f for f in report["findings"] if f["check"] == "refval.signature"]
    assert signature["status"] == "fail" and "not used" in signature["message"]
    assert not _by(report, "refval.match")
    assert set(_by(report, "refval.missing")) >= {f"image/{workspace.firmware.name}", "region/bootloader"}


def test_an_unsigned_corim_is_not_trusted(
    workspace: Workspace, corim_release: Path, simulator: Any, tmp_path: Path
) -> None:
    sim = simulator()
    unsigned = _other_corim(workspace, tmp_path, signed=False)
    assert load_document(unsigned.read_bytes()).kind == "corim"
    code, report, _ = _intake(workspace, corim_release, sim.port, unsigned,
                              policy=_policy(workspace, "refval-warn.toml", missing="warn"))
    (signature,) = [f for f in report["findings"] if f["check"] == "refval.signature"]
    assert signature["status"] == "fail" and "not signed" in signature["message"]
    assert not _by(report, "refval.match")
    assert code == 1


def test_a_corim_for_another_device_class_is_missing_not_a_match(
    workspace: Workspace, corim_release: Path, simulator: Any, tmp_path: Path
) -> None:
    """The vendor's own key, the very same digests, but for model RTU-7: this RTU-9 device selects nothing."""
    sim = simulator()
    other = _other_corim(workspace, tmp_path, model="RTU-7")
    code, report, _ = _intake(workspace, corim_release, sim.port, other,
                              policy=_policy(workspace, "refval-warn.toml", missing="warn"))
    assert [f["status"] for f in report["findings"] if f["check"] == "refval.signature"] == ["pass"]
    assert not _by(report, "refval.match") and not _by(report, "refval.mismatch")
    missing = _by(report, "refval.missing")[f"image/{workspace.firmware.name}"]
    assert missing["status"] == "warn" and "RTU-7" in missing["message"]
    assert code == 0  # missing is a warning under this policy


def test_two_corims_that_disagree_are_a_mismatch(
    workspace: Workspace, corim_release: Path, simulator: Any, tmp_path: Path
) -> None:
    """The honest CoRIM and one the vendor signed for another build of the same device class."""
    from verifier.firmware.inventory import build_manifest

    sim = simulator()
    other_build = tmp_path / workspace.firmware.name
    other_build.write_bytes(workspace.paths["tampered_firmware"].read_bytes())
    data = release_corim(name="rtu9", version="1.0.1", created="2026-02-01T00:00:00+00:00",
                         images=[(other_build, build_manifest(other_build).to_predicate())],
                         device=load_device_manifest(workspace.paths["device_manifest"]),
                         signers=[load_signer(workspace.paths["vendor_key"])])
    (tmp_path / "v101.corim").write_bytes(data)
    code, report, _ = _intake(workspace, corim_release, sim.port, corim_release / "rtu9.corim",
                              tmp_path / "v101.corim", policy=_policy(workspace, "refval-fail.toml"))
    assert code == 1
    assert f"image/{workspace.firmware.name}" in _by(report, "refval.mismatch")
    assert f"image/{workspace.firmware.name}" not in _by(report, "refval.match")


def test_bad_cbor_is_exit_2_naming_the_option(workspace: Workspace, corim_release: Path, tmp_path: Path) -> None:
    bad = tmp_path / "truncated.corim"
    bad.write_bytes((corim_release / "rtu9.corim").read_bytes()[:-7])
    result = run_cli(["intake", "--release", corim_release, "--policy", _policy(workspace, "refval-fail.toml"),
                      "--firmware", workspace.firmware, "--reference-values", bad, "--no-history"])
    assert_clean_error(result, 2)
    assert "--reference-values truncated.corim" in result.stderr


def test_a_signer_key_that_cannot_be_read_is_exit_2_naming_it(
    workspace: Workspace, corim_release: Path, tmp_path: Path
) -> None:
    pem = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
    (workspace.root / "keys" / "not-a-key.pem").write_text(pem)
    policy = workspace.write_policy("refval-badkey.toml", policy_text() + REFERENCE_POLICY.format(
        missing="warn", required="false").replace("keys/vendor.pub", "keys/not-a-key.pem"))
    result = run_cli(["intake", "--release", corim_release, "--policy", policy, "--firmware", workspace.firmware,
                      "--reference-values", corim_release / "rtu9.corim", "--no-history"])
    assert_clean_error(result, 2)
    assert "[reference_values] signers" in result.stderr


def test_required_reference_values_not_given_is_inconclusive(
    workspace: Workspace, corim_release: Path, simulator: Any
) -> None:
    sim = simulator()
    code, report, _ = _intake(workspace, corim_release, sim.port,
                              policy=_policy(workspace, "refval-required.toml", required="true"))
    assert code == 3, [f for f in report["findings"] if f["status"] != "pass"]
    (skip,) = [f for f in report["findings"] if f["check"] == "refval.match"]
    assert skip["status"] == "skip" and skip["required"]


def test_corim_verify_accepts_the_release_corim(workspace: Workspace, corim_release: Path) -> None:
    result = run_cli(["corim", "verify", corim_release / "rtu9.corim", "--key", workspace.paths["vendor_pub"],
                      "--format", "json"])
    assert result.returncode == 0, (result.stdout, result.stderr)
    wrong = run_cli(["corim", "verify", corim_release / "rtu9.corim", "--key", workspace.paths["operator_pub"]])
    assert wrong.returncode == 1, (wrong.stdout, wrong.stderr)


def test_the_release_corim_passes_the_draft_cddl(workspace: Workspace, corim_release: Path, tmp_path: Path) -> None:
    """The release's CoRIM, and one carrying the TPM PCR registers a device manifest declares, against draft-09."""
    from tests.attestations.corim_cases import validate_signed_parts

    validate_signed_parts((corim_release / "rtu9.corim").read_bytes())
    manifest = json.loads(workspace.paths["device_manifest"].read_text())
    manifest["boot_measurements"] = {"pcrs": {"sha256": {"0": "11" * 32, "7": "22" * 32}, "sha1": {"0": "33" * 20},
                                              "sha384": {"0": "44" * 48}},
                                     "allowed_event_digests": {"sha256": ["55" * 32, "66" * 32]}}
    (tmp_path / "device.json").write_text(json.dumps(manifest))
    out = tmp_path / "release"
    result = run_cli(["release", "sign", "--firmware", workspace.firmware, "--key", workspace.paths["vendor_key"],
                      "--device-manifest", tmp_path / "device.json", "--name", "rtu9", "--corim", "-o", out])
    assert result.returncode == 0, result.stderr
    data = (out / "rtu9.corim").read_bytes()
    validate_signed_parts(data)
    document = load_document(data)
    assert document.corim is not None
    (comid,) = document.corim.comids
    (triple,) = comid.triples.reference
    (pcrs,) = [m for m in triple.measurements if m.mkey == "tpm/pcrs"]
    registers = {r.register: sorted(d.alg for d in r.digests) for r in pcrs.mval.integrity_registers}
    assert registers == {0: [1, 7], 7: [1]}  # the sha1 bank is not written: it could never be matched
    (events,) = [m for m in triple.measurements if m.mkey == "tpm/events"]
    assert [(d.alg, d.value.hex()) for d in events.mval.digests] == [(1, "55" * 32), (1, "66" * 32)]
    shown = run_cli(["corim", "show", out / "rtu9.corim", "--format", "json"])
    assert shown.returncode == 0 and "RTU-9" in shown.stdout


def test_release_sign_corim_without_a_device_manifest_is_a_usage_error(workspace: Workspace, tmp_path: Path) -> None:
    result = run_cli(["release", "sign", "--firmware", workspace.firmware, "--key", workspace.paths["vendor_key"],
                      "--corim", "-o", tmp_path / "release"])
    assert_clean_error(result, 2)
    assert "--device-manifest" in result.stderr
    assert not (tmp_path / "release").exists()


def test_pcrs_the_release_declares_match_the_quoted_pcrs_of_a_linux_device(
    workspace: Workspace, simulator: Any, tmp_path: Path
) -> None:
    """The Linux simulator's manifest declares PCRs 0-7; its TPM quotes them over the intake's nonce."""
    from verifier.workflows.demo import declared_device_manifest

    sim = simulator(profile="linux")
    (tmp_path / "device.json").write_text(json.dumps(declared_device_manifest(sim)))
    release = tmp_path / "release"
    result = run_cli(["release", "sign", "--firmware", workspace.firmware, "--key", workspace.paths["vendor_key"],
                      "--device-manifest", tmp_path / "device.json", "--name", "rtu9", "--corim", "-o", release])
    assert result.returncode == 0, result.stderr
    policy = workspace.write_policy("refval-linux.toml", policy_text(
        ("require_nonce = true", "require_nonce = false"),
        ('serial = "signed"', 'serial = "reported"'),
        ('firmware_regions = "signed"', 'firmware_regions = "measured"'),
    ) + REFERENCE_POLICY.format(missing="fail", required="true"))
    args: list[object] = ["intake", "--release", release, "--policy", policy, "--firmware", workspace.firmware,
                          "--port", sim.port, "--profile", "linux", "--timeout", "60", "--no-history", "--format",
                          "json", "--reference-values", release / "rtu9.corim"]
    run = run_cli(args)
    report = json.loads(run.stdout)
    assert run.returncode == 0, [f for f in report["findings"] if f["status"] != "pass"]
    matched = _by(report, "refval.match")
    assert {f"pcr/{i}" for i in range(8)} <= set(matched), sorted(matched)
    assert matched["pcr/0"]["evidence"]["algorithms"] == ["sha256"]
    assert "region/bootloader" in matched
    # PCRs 8-23 were never extended: no reference names them, and nothing is missing.
    assert not _by(report, "refval.missing") and not _by(report, "refval.mismatch")


def test_a_device_running_other_firmware_is_a_region_mismatch(
    workspace: Workspace, corim_release: Path, simulator: Any
) -> None:
    """The firmware file is honest; the device's flash is not (its signed region digest says so)."""
    sim = simulator("swapped-firmware")
    code, report, _ = _intake(workspace, corim_release, sim.port, corim_release / "rtu9.corim",
                              policy=_policy(workspace, "refval-fail.toml"))
    assert code == 1
    region = _by(report, "refval.mismatch")["region/bootloader"]
    assert "measured by the device (signed)" in region["message"]
    assert f"image/{workspace.firmware.name}" in _by(report, "refval.match")


def test_the_device_class_is_the_one_the_device_proves(
    workspace: Workspace, corim_release: Path, tmp_path: Path
) -> None:
    """A device that signs model RTU-7 is judged against RTU-7's reference values, whatever the release's manifest
    (RTU-9) or the image say: the RTU-9 CoRIM covers none of what it measured."""
    from dataclasses import replace

    from hw.sim import Simulator
    from verifier.workflows.demo import _device_config, demo_firmware

    config = replace(_device_config(demo_firmware()), model="RTU-7")
    with Simulator("attest", config=config) as sim:
        code, report, _ = _intake(workspace, corim_release, sim.port, corim_release / "rtu9.corim",
                                  policy=_policy(workspace, "refval-warn.toml", missing="warn"))
    assert code == 1  # hw.model fails: the manifest declares RTU-9
    assert not _by(report, "refval.match") and not _by(report, "refval.mismatch")
    missing = _by(report, "refval.missing")
    message = missing["region/bootloader"]["message"]
    assert "device class Acme Industrial / RTU-7" in message and "they describe: Acme Industrial / RTU-9" in message
