"""The TPM path: an event log's Secure Boot variable events replay to PCR 7 as a real TPM (swtpm) computed it from
the same measurements; a changed variable fails, whether the log keeps the old digest or is re-hashed to match, and a
device whose reported variables differ from the measured ones fails too."""

from __future__ import annotations

import os
import struct
import subprocess
from pathlib import Path

import pytest

from hw.tpm.algorithms import hash_by_name
from tests.firmware.secureboot import builders as b
from tests.helpers import Run, run_cli
from tests.tpm.conftest import need, serve_swtpm
from tests.tpm.logtools import spec_id_event
from verifier.firmware.secureboot.guids import EFI_GLOBAL_VARIABLE, EFI_IMAGE_SECURITY_DATABASE, guid_bytes

EV_EFI_VARIABLE_DRIVER_CONFIG = 0x80000001
EV_SEPARATOR = 0x4
BANKS = ("sha1", "sha256")


def variables() -> list[tuple[str, str, bytes]]:
    return [("SecureBoot", EFI_GLOBAL_VARIABLE, b"\x01"),
            ("PK", EFI_GLOBAL_VARIABLE, b.cert_list(b.certificate("Vendor Platform Key", index=1))),
            ("KEK", EFI_GLOBAL_VARIABLE, b.cert_list(b.certificate("Vendor KEK", index=2))),
            ("db", EFI_IMAGE_SECURITY_DATABASE, b.cert_list(b.certificate("Vendor Boot Signer", index=3))),
            ("dbx", EFI_IMAGE_SECURITY_DATABASE, b.hash_list(bytes(32)))]


def variable_data(name: str, guid: str, data: bytes) -> bytes:
    """UEFI_VARIABLE_DATA, as firmware logs it."""
    return guid_bytes(guid) + struct.pack("<QQ", len(name), len(data)) + name.encode("utf-16-le") + data


def event_log(measured: list[tuple[str, str, bytes]], logged: list[tuple[str, str, bytes]] | None = None,
              ) -> tuple[bytes, list[dict[str, bytes]]]:
    """A crypto-agile log of PCR 7's variable events and its separator; the digests are of ``measured``, the data
    shown is ``logged`` (the same unless a test changes it). Also each event's digests, to extend a TPM with."""
    out = bytearray(spec_id_event(BANKS))
    extends: list[dict[str, bytes]] = []
    shown = logged or measured
    items = [(EV_EFI_VARIABLE_DRIVER_CONFIG, variable_data(*m), variable_data(*s)) for m, s in zip(measured, shown,
                                                                                                   strict=True)]
    items.append((EV_SEPARATOR, b"\x00" * 4, b"\x00" * 4))
    for kind, digested, data in items:
        digests = {bank: hash_by_name(bank).digest(digested) for bank in BANKS}
        extends.append(digests)
        out += struct.pack("<III", 7, kind, len(BANKS))
        for bank in BANKS:
            out += struct.pack("<H", hash_by_name(bank).alg_id) + digests[bank]
        out += struct.pack("<I", len(data)) + data
    return bytes(out), extends


@pytest.fixture(scope="module")
def quoted_pcr7(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """PCR 7 of a real TPM (swtpm) extended with the digests of the honest boot, read back with tpm2_pcrread."""
    need("swtpm", "tpm2_pcrextend", "tpm2_pcrread")
    directory = tmp_path_factory.mktemp("swtpm-pcr7")
    _, extends = event_log(variables())
    with serve_swtpm(directory / "state") as port:
        env = {**os.environ, "TPM2TOOLS_TCTI": f"swtpm:host=127.0.0.1,port={port}"}
        for digests in extends:
            spec = ",".join(f"{bank}={digests[bank].hex()}" for bank in BANKS)
            subprocess.run(["tpm2_pcrextend", f"7:{spec}"], check=True, env=env, capture_output=True, timeout=60)
        read = subprocess.run(["tpm2_pcrread", "sha1:7+sha256:7"], check=True, env=env, capture_output=True,
                              text=True, timeout=60)
    path = directory / "pcrs.txt"
    path.write_text(read.stdout)
    return path


def judge(tmp_path: Path, log: bytes, *extra: object) -> Run:
    path = tmp_path / "binary_bios_measurements"
    path.write_bytes(log)
    return run_cli(["firmware", "secureboot", path, "--at", "2026-12-01", "--format", "json", *extra])


def pcr7_statuses(result: Run) -> list[str]:
    import json

    return [f["status"] for f in json.loads(result.stdout)["findings"] if f["check"] == "secureboot.pcr7-mismatch"]


def test_the_log_replays_to_the_pcr_7_swtpm_computed(tmp_path: Path, quoted_pcr7: Path) -> None:
    log, _ = event_log(variables())
    assert pcr7_statuses(judge(tmp_path, log, "--pcrs", quoted_pcr7)) == ["pass"]


def test_a_changed_variable_with_its_old_digest_fails(tmp_path: Path, quoted_pcr7: Path) -> None:
    """The log shows another PK than was measured and keeps the measured digest: PCR 7 still replays, but the data
    does not hash to its digest."""
    shown = variables()
    shown[1] = ("PK", EFI_GLOBAL_VARIABLE, b.cert_list(b.certificate("DO NOT TRUST - AMI Test PK", index=4)))
    log, _ = event_log(variables(), shown)
    result = judge(tmp_path, log, "--pcrs", quoted_pcr7)
    assert result.returncode == 1 and pcr7_statuses(result) == ["fail"]


def test_a_changed_variable_rehashed_no_longer_replays_to_the_quote(tmp_path: Path, quoted_pcr7: Path) -> None:
    """A log rewritten consistently (new data, new digests) replays to another PCR 7 than the TPM's."""
    changed = variables()
    changed[3] = ("db", EFI_IMAGE_SECURITY_DATABASE, b.cert_list(b.certificate("Someone's Boot Signer", index=9)))
    log, _ = event_log(changed)
    assert pcr7_statuses(judge(tmp_path, log)) == ["pass"]  # consistent on its own
    result = judge(tmp_path, log, "--pcrs", quoted_pcr7)
    assert result.returncode == 1 and pcr7_statuses(result) == ["fail", "fail"]  # both banks


def test_reported_variables_must_be_the_measured_ones(tmp_path: Path) -> None:
    log, _ = event_log(variables())
    measured = {name: (guid, 0x27, data) for name, guid, data in variables()}
    same = b.efivarfs_dir(tmp_path / "same", measured)
    result = judge(tmp_path, log, *same)
    assert pcr7_statuses(result) == ["pass", "pass"]
    measured["db"] = (EFI_IMAGE_SECURITY_DATABASE, 0x27, b.cert_list(b.certificate("Someone's Boot Signer", index=9)))
    other = b.efivarfs_dir(tmp_path / "other", measured)
    result = judge(tmp_path, log, *other)
    assert pcr7_statuses(result) == ["pass", "fail"]
