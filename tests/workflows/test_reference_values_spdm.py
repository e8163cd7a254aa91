"""Reference values for an SPDM responder: ``release sign --corim`` declares the device manifest's
``spdm_measurements`` as ``spdm/INDEX``, ``intake --reference-values`` matches the blocks whose MEASUREMENTS
signature provcheck verified again.

The responder reports no vendor or model: the device class is the release's verified device manifest. Twins, built
as an attacker (or a careless vendor) would: a responder with other firmware whose measurements are still validly
signed, a CoRIM (signed by the vendor) that declares another value for one index, and a responder whose
MEASUREMENTS signature does not verify (its blocks count for nothing).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from attestations.keys import load_signer
from tests.helpers import run_cli
from tests.workflows.conftest import Workspace, policy_text
from tests.workflows.test_intake_spdm import SPDM_POLICY
from verifier.declared.device_manifest import load_device_manifest
from verifier.declared.device_model import DeclaredMeasurement
from verifier.workflows.release_corim import release_corim

REFERENCE_POLICY = '''
[reference_values]
signers = ["keys/vendor.pub"]
missing = "fail"
'''
#: The digest blocks of the simulated responder (1-4 and the HEM, 0x11); 0x10, 0xFD and 0xFE are raw values.
DIGEST_INDICES = (1, 2, 3, 4, 17)


@pytest.fixture
def spdm_release(workspace: Workspace, simulator: Any, tmp_path: Path) -> Path:
    """A release for the SPDM responder, signed with ``release sign --corim`` through the CLI. The responder's
    declared manifest names no vendor or model (it proves none): the vendor's release declares its class."""
    from verifier.workflows.demo import declared_device_manifest

    base = json.loads(Path(workspace.paths["device_manifest"]).read_text())
    manifest = declared_device_manifest(simulator(profile="spdm"))
    manifest.update(manufacturer=base["manufacturer"], model=base["model"])
    (tmp_path / "device.json").write_text(json.dumps(manifest))
    out = tmp_path / "release"
    result = run_cli(["release", "sign", "--firmware", workspace.firmware, "--key", workspace.paths["vendor_key"],
                      "--device-manifest", tmp_path / "device.json", "--name", "rtu9", "--version", "1.0.0",
                      "--corim", "-o", out, "--format", "json"])
    assert result.returncode == 0, result.stderr
    return out


def _intake(ws: Workspace, release: Path, port: str, *corims: Path) -> tuple[int, dict[str, Any]]:
    policy = ws.write_policy("spdm-refval.toml", policy_text(*SPDM_POLICY) + REFERENCE_POLICY)
    args: list[object] = ["intake", "--release", release, "--policy", policy, "--firmware", ws.firmware,
                          "--port", port, "--profile", "spdm", "--timeout", "30", "--no-history", "--format", "json"]
    for corim in corims:
        args += ["--reference-values", corim]
    result = run_cli(args)
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)


def _spdm(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The reference-value finding of each ``spdm/N`` component."""
    return {f["subject"]: f for f in report["findings"]
            if f["check"].startswith("refval.") and f["subject"].startswith("spdm/")}


def test_the_release_corim_matches_every_signed_digest_block(
    workspace: Workspace, spdm_release: Path, simulator: Any
) -> None:
    code, report = _intake(workspace, spdm_release, simulator(profile="spdm").port, spdm_release / "rtu9.corim")
    assert code == 0, [f for f in report["findings"] if f["status"] != "pass"]
    found = _spdm(report)
    assert sorted(found) == sorted(f"spdm/{i}" for i in DIGEST_INDICES)
    for subject, finding in found.items():
        assert (finding["check"], finding["status"]) == ("refval.match", "pass"), subject
    assert "release's device manifest" in json.dumps(found["spdm/1"])
    raw = [f for f in report["findings"] if f["check"] == "refval.match" and f["status"] == "skip"
           and f["subject"] == "spdm"]
    assert raw and "[16, 253, 254]" in raw[0]["message"]


def test_other_firmware_validly_signed_is_a_mismatch(
    workspace: Workspace, spdm_release: Path, simulator: Any
) -> None:
    sim = simulator("swapped-firmware", profile="spdm")
    code, report = _intake(workspace, spdm_release, sim.port, spdm_release / "rtu9.corim")
    assert code == 1
    status = {f["check"]: f["status"] for f in report["findings"] if f["subject"] == "spdm"}
    assert status["spdm.signature"] == "pass"  # the responder signed it: only the reference values tell
    found = _spdm(report)
    assert (found["spdm/2"]["check"], found["spdm/2"]["status"]) == ("refval.mismatch", "fail")
    assert found["spdm/1"]["check"] == "refval.match"


def test_a_corim_declaring_another_value_for_one_index_is_a_mismatch(
    workspace: Workspace, spdm_release: Path, simulator: Any, tmp_path: Path
) -> None:
    device = load_device_manifest(spdm_release.parent / "device.json")
    changed = tuple(replace(m, value=("00" * 47) + "01") if m.index == 3 else m for m in device.spdm_measurements)
    assert any(m.index == 3 for m in changed) and isinstance(changed[0], DeclaredMeasurement)
    data = release_corim(name="rtu9", version="1.0.1", created="2026-02-01T00:00:00+00:00", images=[],
                         device=replace(device, spdm_measurements=changed),
                         signers=[load_signer(workspace.paths["vendor_key"])])
    (tmp_path / "other.corim").write_bytes(data)
    code, report = _intake(workspace, spdm_release, simulator(profile="spdm").port, tmp_path / "other.corim")
    assert code == 1
    found = _spdm(report)
    assert (found["spdm/3"]["check"], found["spdm/3"]["status"]) == ("refval.mismatch", "fail")
    assert "other.corim" in found["spdm/3"]["message"]
    assert found["spdm/4"]["check"] == "refval.match"
    # Given with the release's own CoRIM, the two disagree: still a mismatch.
    code, report = _intake(workspace, spdm_release, simulator(profile="spdm").port, spdm_release / "rtu9.corim",
                           tmp_path / "other.corim")
    assert code == 1
    assert _spdm(report)["spdm/3"]["check"] == "refval.mismatch"


def test_blocks_whose_signature_does_not_verify_contribute_nothing(
    workspace: Workspace, spdm_release: Path, simulator: Any
) -> None:
    sim = simulator("bad-signature", profile="spdm")
    code, report = _intake(workspace, spdm_release, sim.port, spdm_release / "rtu9.corim")
    assert code == 1
    assert not _spdm(report)
    notes = [f for f in report["findings"] if f["check"] == "refval.match" and f["subject"] == "spdm"]
    assert notes and "did not verify" in notes[0]["message"]


def test_an_evidence_file_with_an_edited_block_contributes_nothing(
    workspace: Workspace, spdm_release: Path, simulator: Any, tmp_path: Path
) -> None:
    """Offline, the blocks are matched only after the recorded exchange verifies again: a block edited in the file
    (to the declared value or any other) never reaches the judge, whatever the file says of its strength."""
    import base64

    policy = workspace.write_policy("spdm-refval-offline.toml", policy_text(
        *SPDM_POLICY, ("require_nonce = true", "require_nonce = false")) + REFERENCE_POLICY)
    corim = spdm_release / "rtu9.corim"
    common: list[object] = ["intake", "--release", spdm_release, "--policy", policy, "--firmware", workspace.firmware,
                            "--reference-values", corim, "--timeout", "30", "--no-history", "--format", "json"]
    live = run_cli([*common, "--port", simulator(profile="spdm").port, "--profile", "spdm",
                    "--report-dir", tmp_path / "reports"])
    assert live.returncode == 0, live.stdout
    evidence = tmp_path / "reports" / "evidence.json"
    offline = run_cli([*common, "--evidence", evidence])
    assert offline.returncode == 0, offline.stdout
    assert {f["check"] for f in _spdm(json.loads(offline.stdout)).values()} == {"refval.match"}
    data = json.loads(evidence.read_text())
    messages = data["spdm"]["messages_b64"]
    last = bytearray(base64.b64decode(messages[-1]))
    last[20] ^= 0x01
    messages[-1] = base64.b64encode(bytes(last)).decode()
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(data))
    result = run_cli([*common, "--evidence", edited])
    assert "Traceback" not in result.stderr, result.stderr
    report = json.loads(result.stdout)
    assert result.returncode == 1
    assert not _spdm(report)
    assert any(f["check"] == "spdm.signature" and f["status"] == "fail" for f in report["findings"])
