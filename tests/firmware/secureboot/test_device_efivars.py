"""The Linux console profile reads the Secure Boot variables from efivarfs on the device (the simulated one here);
``firmware secureboot EVIDENCE.json`` judges them. The failing twin is the same evidence as a PKfail device would
report it: its PK replaced by a DO NOT TRUST certificate."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from hw.evidence import DeviceEvidence
from hw.linux import SECURE_BOOT_EFIVARS
from tests.firmware.secureboot import builders as b
from tests.helpers import assert_clean_error, run_cli
from tests.hw.simulated import read_and_judge


def evidence(tmp_path: Path) -> tuple[DeviceEvidence, Path]:
    outcome = read_and_judge("linux")
    assert outcome.evidence is not None, outcome.error
    path = tmp_path / "evidence.json"
    path.write_bytes(outcome.evidence.to_bytes())
    return outcome.evidence, path


def findings(path: Path) -> tuple[int, list[dict[str, object]]]:
    result = run_cli(["firmware", "secureboot", path, "--format", "json"])
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)["findings"]


def test_the_linux_profile_reads_the_secure_boot_variables(tmp_path: Path) -> None:
    device, path = evidence(tmp_path)
    assert set(device.efivars) == {n for n in SECURE_BOOT_EFIVARS if not n.startswith(("AuditMode", "DeployedMode"))}
    assert DeviceEvidence.load(path).efivars == device.efivars  # written and read back
    code, judged = findings(path)
    failing = {f["check"] for f in judged if f["status"] == "fail"}
    assert "secureboot.test-key" not in failing and "secureboot.not-enforcing" not in failing
    assert code == 1 and failing == {"secureboot.dbx-outdated"}  # one made-up hash against Microsoft's list


def test_a_device_reporting_a_test_pk_fails(tmp_path: Path) -> None:
    _, path = evidence(tmp_path)
    document = json.loads(path.read_bytes())
    name = next(n for n in document["efivars"] if n.startswith("PK-"))
    pk = b.cert_list(b.certificate("DO NOT TRUST - AMI Test PK", index=4))
    document["efivars"][name] = base64.b64encode((0x27).to_bytes(4, "little") + pk).decode()
    path.write_text(json.dumps(document))
    _, judged = findings(path)
    assert [f["status"] for f in judged if f["check"] == "secureboot.test-key"] == ["fail"]


def test_an_efivars_entry_with_a_bad_name_is_bad_input(tmp_path: Path) -> None:
    _, path = evidence(tmp_path)
    document = json.loads(path.read_bytes())
    document["efivars"]["../../etc/passwd"] = "AAAA"
    path.write_text(json.dumps(document))
    assert_clean_error(run_cli(["firmware", "secureboot", path]), 2)
