"""``provcheck intake`` end to end through the simulator: each check passes honestly and fails when tampered."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from attestations.keys import load_signer
from tests.helpers import REPO, assert_clean_error, run_cli
from tests.workflows.chromium import render
from tests.workflows.conftest import Workspace, load_json_lines, policy_text
from verifier.workflows.history import History
from verifier.workflows.release import ReleaseRequest, sign_release

SARIF_SCHEMA = REPO / "tests" / "firmware" / "data" / "sarif-schema-2.1.0.json"


def intake(
    ws: Workspace, port: str, tmp: Path, *extra: object, policy: Path | None = None, firmware: Path | None = None
) -> tuple[Any, dict[str, Any]]:
    result = run_cli(
        [
            "intake",
            "--release",
            ws.release,
            "--policy",
            policy or ws.policy,
            "--firmware",
            firmware or ws.firmware,
            "--port",
            port,
            "--profile",
            "attest",
            "--timeout",
            "20",
            "--report-dir",
            tmp / "reports",
            "--vsa-key",
            ws.paths["operator_key"],
            "--history-db",
            tmp / "history.sqlite3",
            "--format",
            "json",
            *extra,
        ]
    )
    assert "Traceback" not in result.stderr, result.stderr
    report = json.loads(result.stdout) if result.stdout.strip() else {}
    return result, report


def _failed(report: dict[str, Any]) -> set[str]:
    return {f["check"] for f in report["findings"] if f["status"] == "fail"}


def _vsa_predicate(path: Path) -> dict[str, Any]:
    (envelope,) = load_json_lines(path)
    payload = base64.b64decode(str(envelope["payload"]))
    statement = json.loads(payload)
    assert statement["predicateType"] == "https://slsa.dev/verification_summary/v1"
    return statement


def test_honest_device_passes_with_reports_vsa_and_history(
    workspace: Workspace, simulator: Any, tmp_path: Path
) -> None:
    sim = simulator()
    result, report = intake(workspace, sim.port, tmp_path)
    assert result.returncode == 0, (report.get("findings"), result.stderr)
    assert report["verdict"] == "pass"
    checks = {f["check"] for f in report["findings"]}
    for expected in (
        "attest.signature",
        "policy.required-attestation",
        "attest.subject",
        "firmware.functions",
        "hw.serial-number",
        "hw.region",
        "hw.nonce",
        "hw.strength",
        "supply.suppliers",
        "attest.age",
    ):
        assert expected in checks, expected
    reports = tmp_path / "reports"
    for name in ("report.txt", "report.json", "report.sarif", "report.html", "evidence.json", "vsa.intoto.jsonl"):
        assert (reports / name).is_file(), name
    assert list(reports.glob("attest-*.jsonl")), "the transcript is kept with the report"
    assert "verdict: PASS" in (reports / "report.txt").read_text()

    # The VSA records verifier, policy digest, inputs, device identity and result, and verifies alone.
    statement = _vsa_predicate(reports / "vsa.intoto.jsonl")
    predicate = statement["predicate"]
    assert predicate["verifier"]["id"] == "https://provcheck.dev/intake/v1"
    assert predicate["policy"]["digest"]["sha256"] == hashlib.sha256(workspace.policy.read_bytes()).hexdigest()
    assert len(predicate["inputAttestations"]) == 3
    assert predicate["resourceUri"].endswith(":ACME-000123")
    assert predicate["verificationResult"] == "PASSED"
    names = {s["name"] for s in statement["subject"]}
    assert names == {"rtu9-firmware.elf", "device:ACME-000123"}
    evidence_digest = hashlib.sha256((reports / "evidence.json").read_bytes()).hexdigest()
    assert {"sha256": evidence_digest} in [s["digest"] for s in statement["subject"]]
    verified = run_cli(
        ["attest", "verify", "--bundle", reports / "vsa.intoto.jsonl", "--key", workspace.paths["operator_pub"]]
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    wrong_key = run_cli(
        ["attest", "verify", "--bundle", reports / "vsa.intoto.jsonl", "--key", workspace.paths["vendor_pub"]]
    )
    assert wrong_key.returncode == 1

    # One history row, with the report and the VSA, on an intact chain.
    (record,) = History(tmp_path / "history.sqlite3").records()
    assert record.serial == "ACME-000123" and record.verdict == "pass"
    assert record.vsa is not None and json.loads(record.vsa)["payloadType"] == "application/vnd.in-toto+json"
    chain = run_cli(["history", "--history-db", tmp_path / "history.sqlite3", "--verify"])
    assert chain.returncode == 0


def test_sarif_validates_against_the_schema(workspace: Workspace, simulator: Any, tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    if not SARIF_SCHEMA.is_file():
        pytest.skip("the SARIF 2.1.0 schema is not in tests/firmware/data")
    schema = json.loads(SARIF_SCHEMA.read_text())
    sim = simulator("swapped-component")
    result, _ = intake(workspace, sim.port, tmp_path)
    assert result.returncode == 1
    sarif = json.loads((tmp_path / "reports" / "report.sarif").read_text())
    jsonschema.validate(sarif, schema)
    assert sarif["runs"][0]["results"], "a failing intake must list results"
    broken = dict(sarif, version="9.9")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_html_report_renders_in_chromium(workspace: Workspace, simulator: Any, tmp_path: Path) -> None:
    sim = simulator("swapped-firmware")
    result, _ = intake(workspace, sim.port, tmp_path)
    assert result.returncode == 1
    shown = render(tmp_path / "reports" / "report.html")
    assert shown.console == [], shown.console
    assert 'id="verdict">FAIL<' in shown.dom
    assert "Evidence chain" in shown.dom and "device-manifest/v1" in shown.dom
    assert "region bootloader" in shown.dom


@pytest.mark.parametrize(
    ("tamper", "check"),
    [
        ("changed-serial", "hw.serial-number"),
        ("swapped-firmware", "hw.region"),
        ("swapped-component", "hw.components"),
        ("bad-signature", "hw.attest-signature"),
        ("wrong-device-key", "hw.identity-key"),
        ("replayed-nonce", "hw.nonce"),
    ],
)
def test_tampered_device_fails_with_the_reason(
    workspace: Workspace, simulator: Any, tmp_path: Path, tamper: str, check: str
) -> None:
    sim = simulator(tamper)
    result, report = intake(workspace, sim.port, tmp_path)
    assert result.returncode == 1, (tamper, report.get("findings"))
    assert check in _failed(report), _failed(report)
    statement = _vsa_predicate(tmp_path / "reports" / "vsa.intoto.jsonl")
    assert statement["predicate"]["verificationResult"] == "FAILED"
    # A VSA that records a failure still verifies as a signature, and says it failed.
    verified = run_cli(
        [
            "attest",
            "verify",
            "--bundle",
            tmp_path / "reports" / "vsa.intoto.jsonl",
            "--key",
            workspace.paths["operator_pub"],
            "--format",
            "json",
        ]
    )
    assert verified.returncode == 1
    assert "attest.vsa" in {f["check"] for f in json.loads(verified.stdout)["findings"] if f["status"] == "fail"}


def test_tampered_firmware_fails_with_what_changed(workspace: Workspace, simulator: Any, tmp_path: Path) -> None:
    sim = simulator()
    result, report = intake(workspace, sim.port, tmp_path, firmware=workspace.paths["tampered_firmware"])
    assert result.returncode == 1
    assert {"attest.subject", "firmware.changed-function", "firmware.hidden-function"} <= _failed(report)


@pytest.mark.parametrize("fault", ["disconnect", "garble-bytes"])
def test_transport_fault_is_inconclusive_never_fail(
    workspace: Workspace, simulator: Any, tmp_path: Path, fault: str
) -> None:
    sim = simulator(fault, tamper_rate=0.5, disconnect_after=200)
    result, report = intake(workspace, sim.port, tmp_path)
    assert result.returncode == 3, (fault, report.get("findings"), result.stderr)
    assert report["verdict"] == "inconclusive"
    assert not any(f["check"].startswith("hw.") and f["status"] == "fail" for f in report["findings"])


def test_unplugged_port_is_inconclusive(workspace: Workspace, tmp_path: Path) -> None:
    result, report = intake(workspace, str(tmp_path / "ttyUSB-unplugged"), tmp_path)
    assert result.returncode == 3
    assert [f["check"] for f in report["findings"] if f["status"] == "error"] == ["hw.read"]


def test_missing_port_when_device_required_is_inconclusive(workspace: Workspace, tmp_path: Path) -> None:
    result = run_cli(
        [
            "intake",
            "--release",
            workspace.release,
            "--policy",
            workspace.policy,
            "--firmware",
            workspace.firmware,
            "--no-history",
            "--format",
            "json",
        ]
    )
    assert result.returncode == 3
    skipped = [f for f in json.loads(result.stdout)["findings"] if f["status"] == "skip"]
    assert any(f["check"] == "hw.read" and f["required"] for f in skipped)


def test_tpm_quote_required_but_absent_is_inconclusive(workspace: Workspace, simulator: Any, tmp_path: Path) -> None:
    policy = workspace.write_policy(
        "tpm.toml", policy_text(("[suppliers]", "[tpm]\nrequire_quote = true\n\n[suppliers]"))
    )
    sim = simulator()
    result, report = intake(workspace, sim.port, tmp_path, policy=policy)
    assert result.returncode == 3, report.get("findings")


def test_ak_binding_without_a_quote_is_inconclusive_not_a_pass(
    workspace: Workspace, simulator: Any, tmp_path: Path
) -> None:
    """A policy that pins the AK must not pass a device that never quoted: nothing was bound."""
    pinned = 'ak_binding = "pinned"\npinned_ak_keyids = ["' + "ab" * 32 + '"]\n'
    policy = workspace.write_policy("pinned.toml", policy_text(("[suppliers]", f"[tpm]\n{pinned}\n[suppliers]")))
    result, report = intake(workspace, simulator().port, tmp_path, policy=policy)
    assert result.returncode == 3, report.get("findings")
    assert any(f["check"] == "tpm.evidence" and f["status"] == "skip" and f["required"] for f in report["findings"])


def test_blocked_supplier_fails(workspace: Workspace, simulator: Any, tmp_path: Path) -> None:
    policy = workspace.write_policy(
        "blocked.toml", policy_text(('blocked = ["Shady Components Ltd"]', 'blocked = ["Macronix"]'))
    )
    result, report = intake(workspace, simulator().port, tmp_path, policy=policy)
    assert result.returncode == 1
    assert _failed(report) == {"supply.blocked-supplier"}


def test_second_policy_combines_all_of(workspace: Workspace, simulator: Any, tmp_path: Path) -> None:
    """A stricter second policy (threshold 2 of 2 keys) makes the same release fail: every policy must hold."""
    second_key = workspace.root / "keys" / "second.pub"
    second_key.write_bytes(workspace.paths["operator_pub"].read_bytes())
    policy = workspace.write_policy(
        "two-keys.toml",
        'version = 1\n[signers]\nkeys = ["keys/vendor.pub", "keys/second.pub"]\nthreshold = 2\n'
        '[attestations]\nrequired = ["https://provcheck.dev/firmware-manifest/v1"]\n',
    )
    result, report = intake(workspace, simulator().port, tmp_path, "--policy", policy)
    assert result.returncode == 1
    assert {"attest.signature", "policy.required-attestation"} <= _failed(report)


def test_stale_release_fails_max_age(workspace: Workspace, simulator: Any, tmp_path: Path) -> None:
    old = tmp_path / "old-release"
    sign_release(
        ReleaseRequest(
            firmware=[workspace.firmware],
            device_manifest=workspace.paths["device_manifest"],
            created=datetime.now(UTC) - timedelta(days=45),
        ),
        [load_signer(workspace.paths["vendor_key"])],
        old,
    )
    result = run_cli(
        [
            "intake",
            "--release",
            old,
            "--policy",
            workspace.policy,
            "--firmware",
            workspace.firmware,
            "--port",
            simulator().port,
            "--profile",
            "attest",
            "--no-history",
            "--format",
            "json",
        ]
    )
    assert result.returncode == 1
    assert "attest.age" in _failed(json.loads(result.stdout))


def test_release_signed_by_another_key_fails(workspace: Workspace, simulator: Any, tmp_path: Path) -> None:
    rogue = tmp_path / "rogue-release"
    sign_release(
        ReleaseRequest(firmware=[workspace.firmware], device_manifest=workspace.paths["device_manifest"]),
        [load_signer(workspace.paths["operator_key"])],
        rogue,
    )
    result = run_cli(
        [
            "intake",
            "--release",
            rogue,
            "--policy",
            workspace.policy,
            "--firmware",
            workspace.firmware,
            "--port",
            simulator().port,
            "--profile",
            "attest",
            "--no-history",
            "--format",
            "json",
        ]
    )
    assert result.returncode == 1
    failed = _failed(json.loads(result.stdout))
    assert {"attest.signature", "policy.required-attestation"} <= failed


def test_bad_inputs_are_exit_2(workspace: Workspace, tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "release.intoto.jsonl").write_text("{not json\n")
    assert_clean_error(run_cli(["intake", "--release", junk, "--policy", workspace.policy, "--no-history"]), 2)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_clean_error(run_cli(["intake", "--release", empty, "--policy", workspace.policy, "--no-history"]), 2)
    assert_clean_error(run_cli(["intake", "--release", workspace.release, "--policy", tmp_path / "none.toml"]), 2)
    both = run_cli(
        [
            "intake",
            "--release",
            workspace.release,
            "--policy",
            workspace.policy,
            "--port",
            "loop://",
            "--evidence",
            workspace.policy,
            "--no-history",
        ]
    )
    assert_clean_error(both, 2)
    not_a_key = run_cli(
        [
            "intake",
            "--release",
            workspace.release,
            "--policy",
            workspace.policy,
            "--port",
            "loop://",
            "--vsa-key",
            workspace.policy,
            "--no-history",
        ]
    )
    assert_clean_error(not_a_key, 2)


BCR_SAN = "https://github.com/bazel-contrib/publish-to-bcr/.github/workflows/publish.yaml@refs/tags/v0.0.1"
BCR_BUILDER = "https://github.com/bazel-contrib/publish-to-bcr/.github/workflows/publish.yaml"
GITHUB = "https://token.actions.githubusercontent.com"


@pytest.mark.parametrize(("identity", "code"), [(BCR_SAN, 0), (BCR_SAN.replace("v0.0.1", "v6.6.6"), 1)])
def test_release_with_sigstore_provenance(
    workspace: Workspace, tmp_path: Path, vectors: Path, identity: str, code: int
) -> None:
    """A vendor-signed release that ships its builder's Sigstore bundle; the policy trusts both, offline."""
    bcr = vectors / "slsa-verifier/cli/slsa-verifier/testdata/bcr"
    artifact = tmp_path / "MODULE.bazel"
    artifact.write_bytes((bcr / "MODULE.bazel").read_bytes())
    bundle = tmp_path / "provenance.sigstore.json"
    bundle.write_bytes((bcr / "MODULE.bazel.intoto.jsonl").read_bytes())
    release = tmp_path / "release"
    signed = run_cli(
        [
            "release",
            "sign",
            "--firmware",
            artifact,
            "--provenance",
            bundle,
            "--key",
            workspace.paths["vendor_key"],
            "-o",
            release,
        ]
    )
    assert signed.returncode == 0, signed.stderr
    policy = tmp_path / "policy.toml"
    policy.write_text(
        f'version = 1\n[signers]\nkeys = ["{workspace.paths["vendor_pub"]}"]\n'
        f'[[signers.sigstore]]\nidentity = "{identity}"\nissuer = "{GITHUB}"\n'
        '[attestations]\nrequired = ["https://provcheck.dev/firmware-manifest/v1", "https://slsa.dev/provenance/v1"]\n'
        f'builder_id = "{BCR_BUILDER}"\n[firmware]\nrequired = true\n'
    )
    result = run_cli(
        ["intake", "--release", release, "--policy", policy, "--firmware", artifact, "--no-history", "--format", "json"]
    )
    report = json.loads(result.stdout)
    assert result.returncode == code, [f for f in report["findings"] if f["status"] != "pass"]
    checks = {f["check"]: f["status"] for f in report["findings"]}
    if code == 0:
        assert checks["attest.sigstore"] == "pass" and checks["attest.builder-id"] == "pass"
    else:
        assert "fail" in {
            checks.get("attest.sigstore.identity"),
            checks.get("attest.sigstore"),
            checks.get("policy.required-attestation"),
        }


@pytest.mark.parametrize(("setting", "code"), [("region_digests = true", 3), ("region_digests = false", 0)])
def test_region_digests_rule(workspace: Workspace, simulator: Any, tmp_path: Path, setting: str, code: int) -> None:
    """The manifest declares a region this device cannot measure: inconclusive, unless the policy waives it."""
    manifest = json.loads(workspace.paths["device_manifest"].read_text())
    manifest["firmware_regions"].append({"name": "recovery", "address": 0x09000000, "size": 4096, "sha256": "ab" * 32})
    (tmp_path / "device.json").write_text(json.dumps(manifest))
    release = tmp_path / "release"
    sign_release(
        ReleaseRequest(firmware=[workspace.firmware], device_manifest=tmp_path / "device.json"),
        [load_signer(workspace.paths["vendor_key"])],
        release,
    )
    policy = workspace.write_policy(f"regions-{code}.toml", policy_text(("region_digests = true", setting)))
    result = run_cli(
        [
            "intake",
            "--release",
            release,
            "--policy",
            policy,
            "--firmware",
            workspace.firmware,
            "--port",
            simulator().port,
            "--profile",
            "attest",
            "--no-history",
            "--format",
            "json",
        ]
    )
    report = json.loads(result.stdout)
    assert result.returncode == code, [f for f in report["findings"] if f["status"] != "pass"]
    regions = {f["subject"]: f for f in report["findings"] if f["check"] == "hw.region"}
    assert regions["region bootloader"]["status"] == "pass"
    assert regions["region recovery"]["status"] == "skip"
    assert regions["region recovery"]["required"] is (code == 3)


def test_component_serials_require_and_ignore(workspace: Workspace, simulator: Any, tmp_path: Path) -> None:
    required = workspace.write_policy(
        "serials-required.toml", policy_text(('component_serials = "match"', 'component_serials = "require"'))
    )
    result, report = intake(workspace, simulator().port, tmp_path / "a", policy=required)
    assert result.returncode == 1
    assert _failed(report) == {"policy.component-serial"}

    # A manifest that declares another NIC serial fails under "match" and passes under "ignore".
    manifest = json.loads(workspace.paths["device_manifest"].read_text())
    nic = next(c for c in manifest["components"] if c["class"] == "nic")
    nic["serial"] = "I210-000000"
    (tmp_path / "device.json").write_text(json.dumps(manifest))
    release = tmp_path / "release"
    sign_release(
        ReleaseRequest(firmware=[workspace.firmware], device_manifest=tmp_path / "device.json"),
        [load_signer(workspace.paths["vendor_key"])],
        release,
    )
    ignore = workspace.write_policy(
        "serials-ignored.toml", policy_text(('component_serials = "match"', 'component_serials = "ignore"'))
    )
    for policy, code in ((workspace.policy, 1), (ignore, 0)):
        outcome = run_cli(
            [
                "intake",
                "--release",
                release,
                "--policy",
                policy,
                "--firmware",
                workspace.firmware,
                "--port",
                simulator().port,
                "--profile",
                "attest",
                "--no-history",
                "--format",
                "json",
            ]
        )
        assert outcome.returncode == code, json.loads(outcome.stdout)["findings"]


def test_required_device_field_missing_fails(workspace: Workspace, simulator: Any, tmp_path: Path) -> None:
    policy = workspace.write_policy(
        "fields.toml",
        policy_text(
            (
                'required_fields = ["manufacturer", "model", "serial"]',
                'required_fields = ["manufacturer", "model", "serial", "tpm"]',
            )
        ),
    )
    result, report = intake(workspace, simulator().port, tmp_path, policy=policy)
    assert result.returncode == 1
    assert _failed(report) == {"policy.device-field"}


def test_firmware_policy_allows_raises_and_lowers() -> None:
    from verifier.checks.firmware_policy import apply_firmware_policy
    from verifier.model import Status, failed, warned
    from verifier.policy.loading import parse_policy

    policy = parse_policy(
        'version = 1\n[firmware]\nrequired = true\nfail = ["firmware.import"]\nwarn = ["firmware.rwx"]\n'
        '[[firmware.allow]]\ncheck = "firmware.hidden-function"\nname = "sub_4010*"\nreason = "vendor hotfix"\n',
        Path("policy.toml"),
    )
    hidden = failed("firmware.hidden-function", "1 hidden", "fw", functions=[{"name": "sub_401050"}])
    two = failed(
        "firmware.hidden-function", "2 hidden", "fw", functions=[{"name": "sub_401050"}, {"name": "sub_509000"}]
    )
    imports = warned("firmware.import", "new import", "fw", imports=["open"])
    rwx = failed("firmware.rwx", "rwx", "fw")
    other = failed("firmware.export", "export", "fw", exports=["x"])
    out = apply_firmware_policy([hidden, two, imports, rwx, other], policy)
    assert [f.status for f in out] == [Status.PASS, Status.FAIL, Status.FAIL, Status.WARN, Status.FAIL]
    assert "vendor hotfix" in out[0].message and out[0].evidence["was"] == "fail"


def test_threshold_above_distinct_keys_is_a_policy_error(workspace: Workspace, tmp_path: Path) -> None:
    """Two files holding the same key are one signer: a 2-of-2 policy over them can never be met, so it is refused."""
    copy = workspace.root / "keys" / "vendor-copy.pub"
    copy.write_bytes(workspace.paths["vendor_pub"].read_bytes())
    policy = workspace.write_policy(
        "same-key.toml",
        'version = 1\n[signers]\nkeys = ["keys/vendor.pub", "keys/vendor-copy.pub"]\nthreshold = 2\n'
        '[attestations]\nrequired = ["https://provcheck.dev/firmware-manifest/v1"]\n',
    )
    result = run_cli(["intake", "--release", workspace.release, "--policy", policy, "--no-history"])
    assert_clean_error(result, 2)
    assert "1 distinct key" in result.stderr


@pytest.mark.parametrize("profile", ["uboot", "linux"])
@pytest.mark.parametrize(("tamper", "code"), [((), 0), (("changed-serial",), 1)])
def test_console_profiles_through_the_simulator(
    workspace: Workspace, simulator: Any, tmp_path: Path, profile: str, tamper: tuple[str, ...], code: int
) -> None:
    """U-Boot and Linux consoles prove less than the attest protocol: the policy asks for what they can give."""
    from verifier.workflows.demo import declared_device_manifest

    sim = simulator(*tamper, profile=profile)
    (tmp_path / "device.json").write_text(json.dumps(declared_device_manifest(sim)))
    release = tmp_path / "release"
    sign_release(
        ReleaseRequest(firmware=[workspace.firmware], device_manifest=tmp_path / "device.json"),
        [load_signer(workspace.paths["vendor_key"])],
        release,
    )
    policy = workspace.write_policy(
        f"{profile}.toml",
        policy_text(
            ("require_nonce = true", "require_nonce = false"),
            ('serial = "signed"', 'serial = "reported"'),
            ('firmware_regions = "signed"', 'firmware_regions = "measured"'),
        ),
    )
    result = run_cli(
        [
            "intake",
            "--release",
            release,
            "--policy",
            policy,
            "--firmware",
            workspace.firmware,
            "--port",
            sim.port,
            "--profile",
            profile,
            "--timeout",
            "60",
            "--no-history",
            "--format",
            "json",
        ]
    )
    report = json.loads(result.stdout)
    assert result.returncode == code, [f for f in report["findings"] if f["status"] not in ("pass",)]
    if code:
        assert "hw.serial-number" in _failed(report)


@pytest.mark.parametrize(("nonce_rule", "code"), [("require_nonce = true", 1), ("require_nonce = false", 0)])
def test_evidence_read_earlier_has_no_fresh_nonce(
    workspace: Workspace, simulator: Any, tmp_path: Path, nonce_rule: str, code: int
) -> None:
    first, _ = intake(workspace, simulator().port, tmp_path / "first")
    assert first.returncode == 0
    policy = workspace.write_policy(f"nonce-{code}.toml", policy_text(("require_nonce = true", nonce_rule)))
    result = run_cli(
        [
            "intake",
            "--release",
            workspace.release,
            "--policy",
            policy,
            "--firmware",
            workspace.firmware,
            "--evidence",
            tmp_path / "first" / "reports" / "evidence.json",
            "--no-history",
            "--format",
            "json",
        ]
    )
    report = json.loads(result.stdout)
    assert result.returncode == code, [f for f in report["findings"] if f["status"] != "pass"]
    if code:
        assert _failed(report) == {"hw.nonce"}


def test_sbom_suppliers_are_judged(workspace: Workspace, simulator: Any, tmp_path: Path) -> None:
    sbom = tmp_path / "sbom.json"
    sbom.write_text(
        json.dumps(
            {
                "bomFormat": "CycloneDX",
                "specVersion": "1.6",
                "version": 1,
                "components": [
                    {
                        "type": "library",
                        "name": "libsensor",
                        "supplier": {"name": "Sensorix", "address": {"country": "NL"}},
                    }
                ],
            }
        )
    )
    release = tmp_path / "release"
    signed = run_cli(
        [
            "release",
            "sign",
            "--firmware",
            workspace.firmware,
            "--device-manifest",
            workspace.paths["device_manifest"],
            "--sbom",
            sbom,
            "--key",
            workspace.paths["vendor_key"],
            "-o",
            release,
        ]
    )
    assert signed.returncode == 0, signed.stderr
    for blocked, code in (("Shady Components Ltd", 0), ("Sensorix", 1)):
        policy = workspace.write_policy(
            "sbom.toml", policy_text(('blocked = ["Shady Components Ltd"]', f'blocked = ["{blocked}"]'))
        )
        result = run_cli(
            [
                "intake",
                "--release",
                release,
                "--policy",
                policy,
                "--firmware",
                workspace.firmware,
                "--port",
                simulator().port,
                "--profile",
                "attest",
                "--no-history",
                "--format",
                "json",
            ]
        )
        report = json.loads(result.stdout)
        assert result.returncode == code, [f for f in report["findings"] if f["status"] != "pass"]
        if code:
            blocked_finding = next(f for f in report["findings"] if f["check"] == "supply.blocked-supplier")
            assert blocked_finding["evidence"]["named_in"] == "SBOM component libsensor"


def test_strict_policy_fails_on_what_a_console_only_reports(
    workspace: Workspace, simulator: Any, tmp_path: Path
) -> None:
    """The U-Boot profile passes the lenient policy (tested above) but its self-reported facts fail strict mode."""
    from verifier.workflows.demo import declared_device_manifest

    sim = simulator(profile="uboot")
    (tmp_path / "device.json").write_text(json.dumps(declared_device_manifest(sim)))
    release = tmp_path / "release"
    sign_release(
        ReleaseRequest(firmware=[workspace.firmware], device_manifest=tmp_path / "device.json"),
        [load_signer(workspace.paths["vendor_key"])],
        release,
    )
    policy = workspace.write_policy(
        "strict.toml",
        policy_text(
            ("strict = false", "strict = true"),
            ("require_nonce = true", "require_nonce = false"),
            ('serial = "signed"', 'serial = "reported"'),
            ('firmware_regions = "signed"', 'firmware_regions = "measured"'),
        ),
    )
    result = run_cli(
        [
            "intake",
            "--release",
            release,
            "--policy",
            policy,
            "--firmware",
            workspace.firmware,
            "--port",
            sim.port,
            "--profile",
            "uboot",
            "--no-history",
            "--format",
            "json",
        ]
    )
    report = json.loads(result.stdout)
    assert result.returncode == 1 and report["strict"] is True
    assert "fail" not in {f["status"] for f in report["findings"]}
    assert "warn" in {f["status"] for f in report["findings"]}
