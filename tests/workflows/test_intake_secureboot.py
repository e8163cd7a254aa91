"""``provcheck intake`` judges the Secure Boot variables a Linux device reports, when ``[secureboot] judge_device``.

The simulated Linux device is read once over its console; its evidence is then rewritten the way a PKfail device, a
device shipped with Secure Boot off, or a device someone else re-keyed would report it, and taken in again from the
file. The pcr7 tie (reported vs measured) is exercised on the evidence directly, with an event log built to record the
device's variables.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from attestations.keys import load_signer
from hw.evidence import DeviceEvidence
from tests.firmware.secureboot import builders as b
from tests.firmware.secureboot.test_pcr7 import event_log
from tests.helpers import run_cli
from tests.workflows.conftest import Workspace, policy_text
from verifier.firmware.secureboot.databases import read_efivarfs
from verifier.firmware.secureboot.efivarfs import efivarfs_name
from verifier.model import Status
from verifier.policy.loading import parse_policy
from verifier.workflows.intake_secureboot import REPORTED, judge_device_secureboot
from verifier.workflows.release import ReleaseRequest, sign_release

AUTHENTICATED = 0x27
VOLATILE = 0x06
#: The one hash the simulated device's dbx revokes: its vendor's own revocation list (it trusts no Microsoft CA).
SIM_DBX_HASH = hashlib.sha256(b"revoked boot loader").hexdigest()


@dataclass(frozen=True)
class LinuxIntake:
    root: Path
    vendor: Path  # where policies live: their key paths are relative to the vendor workspace
    release: Path
    firmware: Path
    evidence: Path
    honest: dict[str, Any]
    honest_code: int

    def policy(self, secureboot: str, name: str = "policy.toml") -> Path:
        text = policy_text(
            ("require_nonce = true", "require_nonce = false"),
            ('serial = "signed"', 'serial = "reported"'),
            ('firmware_regions = "signed"', 'firmware_regions = "measured"'),
        )
        path = self.vendor / f"sbintake-{name}"
        path.write_text(text + "\n[secureboot]\n" + secureboot)
        return path


def vendor_dbx(root: Path) -> Path:
    """The vendor's dbx reference, in Microsoft's dbx_info layout: the hash its platform revokes."""
    path = root / "sbintake-vendor-dbx.json"
    path.write_text(json.dumps({"images": {"x64": [{"authenticodeHash": SIM_DBX_HASH, "filename": "bootx64.efi",
                                                    "description": "vendor boot loader 1.0", "dateOfAddition":
                                                    "2025-01-01"}]}}))
    return path


JUDGE = 'judge_device = true\ndbx_reference = "sbintake-vendor-dbx.json"\n'


@pytest.fixture(scope="module")
def linux(workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LinuxIntake]:
    """The simulated Linux device taken in once over its console, with [secureboot] judge_device."""
    from hw.sim import Simulator
    from verifier.workflows.demo import _device_config, declared_device_manifest, demo_firmware

    root = tmp_path_factory.mktemp("sbintake")
    vendor_dbx(workspace.root)
    with Simulator("linux", config=_device_config(demo_firmware())) as sim:
        (root / "device.json").write_text(json.dumps(declared_device_manifest(sim)))
        release = root / "release"
        sign_release(ReleaseRequest(firmware=[workspace.firmware], device_manifest=root / "device.json"),
                     [load_signer(workspace.paths["vendor_key"])], release)
        made = LinuxIntake(root, workspace.root, release, workspace.firmware, root / "reports" / "evidence.json",
                           {}, -1)
        result = run_cli(["intake", "--release", release, "--policy", made.policy(JUDGE), "--firmware",
                          workspace.firmware, "--port", sim.port, "--profile", "linux", "--timeout", "60",
                          "--report-dir", root / "reports", "--no-history", "--format", "json"])
    assert result.stdout, result.stderr
    yield replace(made, honest=json.loads(result.stdout), honest_code=result.returncode)


def from_file(linux: LinuxIntake, evidence: Path, policy: Path) -> tuple[int, dict[str, Any]]:
    result = run_cli(["intake", "--release", linux.release, "--policy", policy, "--firmware", linux.firmware,
                      "--evidence", evidence, "--no-history", "--format", "json"])
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)


def secureboot(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["check"].startswith("secureboot.")]


def statuses(report: dict[str, Any], check: str) -> list[str]:
    return [f["status"] for f in report["findings"] if f["check"] == check]


def failing(report: dict[str, Any]) -> set[str]:
    return {f["check"] for f in report["findings"] if f["status"] == "fail"}


def rewritten(linux: LinuxIntake, name: str, variable: str, attributes: int, data: bytes) -> Path:
    """The honest evidence with one efivarfs variable replaced, as a device reporting it would print it."""
    document = json.loads(linux.evidence.read_bytes())
    key = next(k for k in document["efivars"] if k.startswith(f"{variable}-"))
    document["efivars"][key] = base64.b64encode(attributes.to_bytes(4, "little") + data).decode()
    path = linux.root / f"{name}.json"
    path.write_text(json.dumps(document))
    return path


def device_pk_sha256(linux: LinuxIntake) -> str:
    efivars = DeviceEvidence.load(linux.evidence).efivars
    state = read_efivarfs([(n, base64.b64decode(v)) for n, v in efivars.items()])
    (entry,) = state.databases["PK"].entries
    assert entry.certificate is not None
    return entry.certificate.sha256


def test_the_honest_linux_device_passes_with_its_secure_boot_variables_judged(linux: LinuxIntake) -> None:
    report = linux.honest
    assert linux.honest_code == 0, [f for f in report["findings"] if f["status"] not in ("pass",)]
    judged = secureboot(report)
    for check in ("secureboot.test-key", "secureboot.not-enforcing", "secureboot.dbx-outdated",
                  "secureboot.revoked-in-db", "secureboot.weak-key", "secureboot.expired"):
        assert statuses(report, check) == ["pass"], check
    # The device's word, and said to be: nothing measured ties these variables to PCR 7 on this device.
    assert all(REPORTED in f["message"] for f in judged if f["status"] != "skip" or f["required"])
    tie = [f for f in judged if f["check"] == "secureboot.pcr7-mismatch"]
    assert [(f["status"], f["required"]) for f in tie] == [("skip", False)]
    assert "records no Secure Boot variable" in tie[0]["message"]


def test_without_the_opt_in_intake_leaves_the_device_keys_alone(linux: LinuxIntake) -> None:
    code, report = from_file(linux, linux.evidence, linux.policy("require_2023_ca = true\n", "no-opt-in.toml"))
    assert code == 0 and secureboot(report) == []


def test_microsofts_dbx_reference_fails_a_vendor_dbx(linux: LinuxIntake) -> None:
    """Why intake's judgement is opt-in: against the shipped Microsoft list this vendor platform's dbx is outdated."""
    code, report = from_file(linux, linux.evidence, linux.policy("judge_device = true\n", "microsoft-dbx.toml"))
    assert code == 1 and failing(report) == {"secureboot.dbx-outdated"}


def test_a_device_reporting_an_ami_test_pk_fails(linux: LinuxIntake) -> None:
    pk = b.cert_list(b.certificate("DO NOT TRUST - AMI Test PK", index=4))
    code, report = from_file(linux, rewritten(linux, "pkfail", "PK", AUTHENTICATED, pk), linux.policy(JUDGE))
    assert code == 1 and failing(report) == {"secureboot.test-key"}
    (finding,) = [f for f in report["findings"] if f["check"] == "secureboot.test-key"]
    assert "DO NOT TRUST - AMI Test PK" in finding["message"] and REPORTED in finding["message"]
    assert finding["evidence"]["strength"] == "reported"


@pytest.mark.parametrize(("variable", "value", "reason"), [("SecureBoot", b"\x00", "SecureBoot is 0"),
                                                           ("SetupMode", b"\x01", "SetupMode is 1")])
def test_a_device_not_enforcing_secure_boot_fails(linux: LinuxIntake, variable: str, value: bytes,
                                                  reason: str) -> None:
    evidence = rewritten(linux, f"off-{variable}", variable, VOLATILE, value)
    code, report = from_file(linux, evidence, linux.policy(JUDGE))
    assert code == 1 and failing(report) == {"secureboot.not-enforcing"}
    (finding,) = [f for f in report["findings"] if f["check"] == "secureboot.not-enforcing"]
    assert reason in finding["message"]


def test_a_device_rekeyed_by_someone_else_fails_the_expected_pk(linux: LinuxIntake) -> None:
    pinned = linux.policy(JUDGE + f'expected_pk = "{device_pk_sha256(linux)}"\n', "pinned.toml")
    code, report = from_file(linux, linux.evidence, pinned)
    assert code == 0 and statuses(report, "secureboot.unexpected-owner") == ["pass"]
    # An owner who took the platform enrols a PK of its own, with the vendor's name on it.
    pk = b.cert_list(b.certificate("Acme Industrial Platform Key", index=7))
    code, report = from_file(linux, rewritten(linux, "rekeyed", "PK", AUTHENTICATED, pk), pinned)
    assert code == 1 and failing(report) == {"secureboot.unexpected-owner"}


def test_a_profile_that_reads_no_variables_is_inconclusive(linux: LinuxIntake) -> None:
    document = json.loads(linux.evidence.read_bytes())
    del document["efivars"]
    path = linux.root / "no-efivars.json"
    path.write_text(json.dumps(document))
    code, report = from_file(linux, path, linux.policy(JUDGE))
    assert code == 3, failing(report)
    assert [(f["status"], f["required"]) for f in secureboot(report)] == [("skip", True)]


def _with_log(device: DeviceEvidence, log: bytes, *, quoted: dict[str, str] | None = None) -> DeviceEvidence:
    assert device.tpm is not None
    tpm = replace(device.tpm, event_log_b64=base64.b64encode(log).decode())
    if quoted is not None:  # as derive_strengths leaves it when the quote verified
        tpm = replace(tpm, pcrs={bank: {**values, "7": quoted[bank]} for bank, values in tpm.pcrs.items()
                                 if bank in quoted}, strength="signed")
    return replace(device, tpm=tpm)


def _measured(device: DeviceEvidence) -> list[tuple[str, str, bytes]]:
    out = []
    for name in ("SecureBoot", "PK", "KEK", "db", "dbx"):
        key = next(k for k in device.efivars if k.startswith(f"{name}-"))
        named = efivarfs_name(key)
        assert named is not None
        out.append((name, named[1], base64.b64decode(device.efivars[key])[4:]))
    return out


def _replay(extends: list[dict[str, bytes]], bank: str) -> str:
    value = bytes(32 if bank == "sha256" else 20)
    for digests in extends:
        value = hashlib.new(bank, value + digests[bank]).digest()
    return value.hex()


def test_an_event_log_recording_the_variables_ties_them_to_pcr_7(linux: LinuxIntake) -> None:
    device = DeviceEvidence.load(linux.evidence)
    policy = parse_policy((path := linux.policy(JUDGE)).read_text(), path)
    at = datetime(2026, 12, 1, tzinfo=UTC)
    log, extends = event_log(_measured(device))
    quoted = {bank: _replay(extends, bank) for bank in ("sha1", "sha256")}
    findings = judge_device_secureboot(_with_log(device, log, quoted=quoted), policy, at)
    ties = [f for f in findings if f.check == "secureboot.pcr7-mismatch"]
    assert [f.status for f in ties] == [Status.PASS, Status.PASS]
    assert "replays to the quoted PCR 7" in ties[0].message

    # The device shows another PK than the one measured at boot.
    other = _measured(device)
    other[1] = ("PK", other[1][1], b.cert_list(b.certificate("Acme Industrial Platform Key", index=7)))
    log, extends = event_log(other)
    quoted = {bank: _replay(extends, bank) for bank in ("sha1", "sha256")}
    ties = [f for f in judge_device_secureboot(_with_log(device, log, quoted=quoted), policy, at)
            if f.check == "secureboot.pcr7-mismatch"]
    assert [f.status for f in ties] == [Status.PASS, Status.FAIL] and "PK" in ties[1].message

    # The log is the measured one, but the quoted PCR 7 is not what it replays to: the log was swapped.
    log, extends = event_log(_measured(device))
    ties = [f for f in judge_device_secureboot(_with_log(device, log, quoted={"sha256": "00" * 32}), policy, at)
            if f.check == "secureboot.pcr7-mismatch"]
    assert [f.status for f in ties] == [Status.FAIL, Status.PASS]
