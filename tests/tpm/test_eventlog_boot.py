"""A real event log from OVMF + shim + GRUB + Linux under QEMU with swtpm, and its tampered twins."""

from __future__ import annotations

import base64
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from hw.tpm import eventlog as ev
from hw.tpm.eventlog import EventLog, parse_event_log
from hw.tpm.replay import replay
from tests.helpers import run_cli
from tests.tpm.conftest import BootRecord
from tests.tpm.logtools import pcr_lines, serialize, with_data

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]  # the first test also boots QEMU


def load(record: BootRecord) -> EventLog:
    return parse_event_log(record.eventlog.read_bytes())


def cli(*args: object) -> dict[str, Any]:
    result = run_cli(["tpm", "eventlog", *args, "--format", "json"])
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode in (0, 1, 3), (result.returncode, result.stderr)
    report: dict[str, Any] = json.loads(result.stdout)
    report["exit"] = result.returncode
    return report


def finding(report: dict[str, Any], check: str) -> dict[str, Any]:
    matches = [f for f in report["findings"] if f["check"] == check]
    assert matches, (check, [f["check"] for f in report["findings"]])
    bad = [f for f in matches if f["status"] == "fail"]
    return bad[0] if bad else matches[0]


def authenticode(path: Path) -> str:
    import lief

    binary = lief.PE.parse(str(path))
    assert binary is not None
    return bytes(binary.authentihash(lief.PE.ALGORITHMS.SHA_256)).hex()


def firmware_manifest(tmp: Path, image: Path) -> Path:
    """The part of a firmware-manifest predicate measured boot reads: authenticode.sha256."""
    out = tmp / f"{image.name}.manifest.json"
    out.write_text(json.dumps({"format": "PE", "authenticode": {"sha256": authenticode(image), "signers": []}}))
    return out


def write_log(tmp: Path, name: str, log: EventLog, events: list[ev.Event]) -> Path:
    path = tmp / name
    path.write_bytes(serialize(log, events))
    return path


# -- the real boot ------------------------------------------------------------------------------------------------


def test_real_log_replays_to_the_pcrs_read_over_serial(boot_record: BootRecord) -> None:
    log = load(boot_record)
    assert log.format == "crypto-agile"
    assert set(log.banks) >= {"sha1", "sha256"}
    types = {e.type for e in log.events}
    assert {ev.EV_EFI_BOOT_SERVICES_APPLICATION, ev.EV_EFI_GPT_EVENT, ev.EV_SEPARATOR,
            ev.EV_EFI_VARIABLE_DRIVER_CONFIG} <= types
    report = cli(boot_record.eventlog, "--pcrs", boot_record.pcrs)
    assert report["exit"] == 0, report
    replay_finding = finding(report, "tpm.eventlog.replay")
    assert replay_finding["status"] == "pass"
    assert replay_finding["evidence"]["matched"] >= 8 * len(log.banks)


def test_decoded_events_name_devices_and_variables(boot_record: BootRecord) -> None:
    log = load(boot_record)
    apps = [e for e in log.events if e.type == ev.EV_EFI_BOOT_SERVICES_APPLICATION]
    assert any(re.search(r"HD\(1,GPT,[0-9a-f-]+,0x800,", str(e.decoded["device_path"])) and
               str(e.decoded["device_path"]).endswith("\\EFI\\BOOT\\BOOTX64.EFI") for e in apps)
    gpt = next(e for e in log.events if e.type == ev.EV_EFI_GPT_EVENT)
    assert gpt.decoded["partitions"][0]["name"] == "ESP"
    assert gpt.decoded["partitions"][0]["type"] == "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
    names = [e.decoded.get("name") for e in log.events if e.type == ev.EV_EFI_VARIABLE_DRIVER_CONFIG]
    assert names[:5] == ["SecureBoot", "PK", "KEK", "db", "dbx"]


def _tpm2_eventlog_pcrs(log_path: Path) -> dict[str, dict[int, str]]:
    text = subprocess.run(["tpm2_eventlog", str(log_path)], capture_output=True, text=True, check=True,
                          timeout=60).stdout
    section = text.split("\npcrs:\n", 1)[1]
    out: dict[str, dict[int, str]] = {}
    bank = ""
    for line in section.splitlines():
        if m := re.fullmatch(r"  (\w+):", line):
            bank = m[1]
        elif m := re.fullmatch(r"\s+(\d+)\s*:\s*0x([0-9a-fA-F]+)", line):
            out.setdefault(bank, {})[int(m[1])] = m[2].lower()
    return out


def test_tpm2_eventlog_agrees_on_every_bank(boot_record: BootRecord) -> None:
    if subprocess.run(["which", "tpm2_eventlog"], capture_output=True).returncode != 0:
        pytest.skip("tpm2_eventlog not installed")
    theirs = _tpm2_eventlog_pcrs(boot_record.eventlog)
    ours = replay(load(boot_record)).hex()
    assert theirs, "tpm2_eventlog printed no PCRs"
    assert {b: {int(i): v for i, v in vals.items()} for b, vals in ours.items()} == theirs
    # Twin: a modified digest changes both replays the same way.
    log = load(boot_record)
    events = list(log.events)
    i = next(k for k, e in enumerate(events) if e.type == ev.EV_EFI_BOOT_SERVICES_APPLICATION)
    events[i] = ev.Event(events[i].number, events[i].pcr, events[i].type,
                         {b: bytes(len(d)) for b, d in events[i].digests.items()}, events[i].data, events[i].decoded)
    tampered = write_log(boot_record.directory, "zeroed-app-digest.bin", log, events)
    theirs_t = _tpm2_eventlog_pcrs(tampered)
    ours_t = replay(parse_event_log(tampered.read_bytes())).hex()
    assert theirs_t["sha256"][4] == ours_t["sha256"]["4"] != ours["sha256"]["4"]


def test_startup_locality_sets_pcr0_initial_value(tmp_path: Path) -> None:
    """PFP 10.4.5.3: StartupLocality 3 starts PCR0 at 00..03 and the EV_NO_ACTION is not extended.

    tpm2-tools 5.4's tpm2_eventlog agrees on every other PCR but extends the EV_NO_ACTION's
    zero digest into PCR0 instead; this test pins the spec behaviour with a hand computation.
    """
    import hashlib

    from tests.tpm.logtools import synthetic_log

    path = tmp_path / "locality-3.bin"
    path.write_bytes(synthetic_log())
    log = parse_event_log(path.read_bytes())
    assert log.startup_locality == 3
    ours = replay(log).hex()
    value = bytes(31) + b"\x03"
    for e in log.events[2:]:
        if e.pcr == 0:
            value = hashlib.sha256(value + e.digests["sha256"]).digest()
    assert ours["sha256"]["0"] == value.hex()
    theirs = _tpm2_eventlog_pcrs(path)
    for bank, values in ours.items():
        for index, digest in values.items():
            if index != "0":
                assert theirs[bank][int(index)] == digest


# -- tamper cases -------------------------------------------------------------------------------------------------


def test_modified_event_data_is_named(boot_record: BootRecord, tmp_path: Path) -> None:
    log = load(boot_record)
    events = list(log.events)
    i = next(k for k, e in enumerate(events) if e.data.startswith(b"grub_cmd: linux"))
    events[i] = with_data(events[i], events[i].data.replace(b"quiet", b"quiEt"), rehash=False)
    path = write_log(tmp_path, "grub-cmd-edited.bin", log, events)
    report = cli(path, "--pcrs", boot_record.pcrs)
    assert report["exit"] == 1
    f = finding(report, "tpm.eventlog.event-data")
    assert f["status"] == "fail"
    assert f"event #{events[i].number}" in f["message"]
    # The digests were left alone, so the replay itself still matches: only the data check catches the edit.
    assert finding(report, "tpm.eventlog.replay")["status"] == "pass"


def test_modified_event_digest_fails_replay(boot_record: BootRecord, tmp_path: Path) -> None:
    log = load(boot_record)
    events = list(log.events)
    i = next(k for k, e in enumerate(events) if "grubx64" in str(e.decoded.get("device_path", "")))
    fake = {b: bytes([0x42]) * len(d) for b, d in events[i].digests.items()}
    events[i] = ev.Event(events[i].number, events[i].pcr, events[i].type, fake, events[i].data, events[i].decoded)
    path = write_log(tmp_path, "grub-digest-swapped.bin", log, events)
    report = cli(path, "--pcrs", boot_record.pcrs)
    assert report["exit"] == 1
    f = finding(report, "tpm.eventlog.replay")
    assert f["status"] == "fail" and "PCR 4" in f["message"]
    assert {m["pcr"] for m in f["evidence"]["mismatches"]} == {4}


def test_removed_event_fails_replay(boot_record: BootRecord, tmp_path: Path) -> None:
    log = load(boot_record)
    events = [e for e in log.events if "grubx64" not in str(e.decoded.get("device_path", ""))]
    assert len(events) == len(log.events) - 1
    path = write_log(tmp_path, "grub-event-removed.bin", log, events)
    report = cli(path, "--pcrs", boot_record.pcrs)
    f = finding(report, "tpm.eventlog.replay")
    assert report["exit"] == 1 and f["status"] == "fail"
    assert "PCR 4" in f["message"]


def test_event_the_tpm_never_saw_is_named_exactly(boot_record: BootRecord, tmp_path: Path) -> None:
    log = load(boot_record)
    last = log.events[-1]
    extra = with_data(last, b"grub_cmd: insmod evil", rehash=True)
    extra = ev.Event(last.number + 1, 8, ev.EV_IPL, extra.digests, extra.data, {"text": "grub_cmd: insmod evil"})
    path = write_log(tmp_path, "planted-grub-cmd.bin", log, [*log.events, extra])
    report = cli(path, "--pcrs", boot_record.pcrs)
    f = finding(report, "tpm.eventlog.replay")
    assert f["status"] == "fail"
    assert f"event #{extra.number}" in f["message"] and "never saw" in f["message"]


def test_pcr0_mismatch(boot_record: BootRecord, tmp_path: Path) -> None:
    lines = boot_record.pcrs.read_text().splitlines()
    flipped = []
    for line in lines:
        bank, index, value = line.split()
        if bank == "sha256" and index == "0":
            value = ("0" if value[0] != "0" else "1") + value[1:]
        flipped.append(f"{bank} {index} {value}")
    pcrs = tmp_path / "pcr0-flipped.txt"
    pcrs.write_text("\n".join(flipped) + "\n")
    report = cli(boot_record.eventlog, "--pcrs", pcrs)
    f = finding(report, "tpm.eventlog.replay")
    assert report["exit"] == 1 and f["status"] == "fail"
    assert "PCR 0 (sha256)" in f["message"]
    # A declared PCR 0 that differs from the device's is its own finding.
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"boot_measurements": {"pcrs": {"sha256": {"0": "11" * 32}}}}))
    report = cli(boot_record.eventlog, "--pcrs", boot_record.pcrs, "--device-manifest", manifest)
    assert finding(report, "tpm.boot.pcrs")["status"] == "fail"


def test_declared_boot_applications(boot_record: BootRecord, tmp_path: Path) -> None:
    release = boot_record.release
    manifests = [firmware_manifest(tmp_path, release / n) for n in ("shimx64.efi", "grubx64.efi", "vmlinuz")]
    args: list[object] = [x for m in manifests for x in ("--firmware-manifest", m)]
    report = cli(boot_record.eventlog, "--pcrs", boot_record.pcrs, *args)
    assert report["exit"] == 0, report
    assert finding(report, "tpm.boot.application")["status"] == "pass"
    # Twin: the release does not declare this GRUB.
    report = cli(boot_record.eventlog, "--pcrs", boot_record.pcrs, "--firmware-manifest", manifests[0],
                 "--firmware-manifest", manifests[2])
    assert report["exit"] == 1
    f = finding(report, "tpm.boot.application")
    assert f["status"] == "fail"
    assert f["subject"].endswith("\\EFI\\BOOT\\grubx64.efi")
    assert f["evidence"]["authenticode_sha256"] == authenticode(release / "grubx64.efi")


def _secure_boot_off(log: EventLog) -> list[ev.Event]:
    """An honest log of the same boot with Secure Boot disabled: the variable says 0 and its digests agree."""
    events = list(log.events)
    i = next(k for k, e in enumerate(events) if e.decoded.get("name") == "SecureBoot")
    data = events[i].data[:-1] + b"\x00"
    changed = with_data(events[i], data, rehash=True)
    events[i] = ev.Event(changed.number, changed.pcr, changed.type, changed.digests, data,
                         {**events[i].decoded, "data": b"\x00"})
    return events


def test_secure_boot_off(boot_record: BootRecord, tmp_path: Path) -> None:
    log = load(boot_record)
    good = cli(boot_record.eventlog, "--pcrs", boot_record.pcrs, "--require-secure-boot")
    assert finding(good, "tpm.boot.secure-boot")["status"] == "pass"
    path = write_log(tmp_path, "secure-boot-off.bin", log, _secure_boot_off(log))
    pcrs = tmp_path / "secure-boot-off-pcrs.txt"
    pcrs.write_text(pcr_lines(parse_event_log(path.read_bytes())))
    report = cli(path, "--pcrs", pcrs, "--require-secure-boot")
    assert finding(report, "tpm.eventlog.replay")["status"] == "pass"  # consistent log, honest TPM
    f = finding(report, "tpm.boot.secure-boot")
    assert report["exit"] == 1 and f["status"] == "fail" and "off" in f["message"]


def test_secure_boot_keys_separators_and_cmdline(boot_record: BootRecord, tmp_path: Path) -> None:
    evidence = _evidence(boot_record, tmp_path)
    reference = tmp_path / "reference.json"
    result = run_cli(["measure", "baseline", "--evidence", evidence, "-o", reference])
    assert result.returncode == 0, result.stderr
    fragment = json.loads(reference.read_text())["boot_measurements"]
    assert fragment["secure_boot"] is True
    assert set(fragment["secure_boot_variables"]) == {"PK", "KEK", "db", "dbx"}
    assert fragment["kernel_cmdline"] == "console=ttyS0 quiet"
    report = cli(boot_record.eventlog, "--pcrs", boot_record.pcrs, "--device-manifest", reference)
    assert report["exit"] == 0, report
    for check in ("tpm.boot.secure-boot", "tpm.boot.secure-boot-variable", "tpm.boot.separator",
                  "tpm.boot.kernel-cmdline", "tpm.boot.firmware-blob", "tpm.boot.application", "tpm.boot.pcrs"):
        assert finding(report, check)["status"] == "pass", check
    # Twins: another db, another command line, a missing separator.
    changed = json.loads(reference.read_text())
    changed["boot_measurements"]["secure_boot_variables"]["db"] = "00" * 32
    changed["boot_measurements"]["kernel_cmdline"] = "console=ttyS0 init=/bin/sh"
    other = tmp_path / "other.json"
    other.write_text(json.dumps(changed))
    report = cli(boot_record.eventlog, "--pcrs", boot_record.pcrs, "--device-manifest", other)
    assert finding(report, "tpm.boot.secure-boot-variable")["status"] == "fail"
    assert finding(report, "tpm.boot.kernel-cmdline")["status"] == "fail"
    log = load(boot_record)
    cut = [e for e in log.events if not (e.type == ev.EV_SEPARATOR and e.pcr == 7)]
    path = write_log(tmp_path, "pcr7-separator-removed.bin", log, cut)
    report = cli(path, "--device-manifest", reference)
    f = finding(report, "tpm.boot.separator")
    assert f["status"] == "fail" and "7" in f["message"]


def _evidence(record: BootRecord, tmp: Path, *, log_bytes: bytes | None = None, quote: Any = None,
              ak_pem: str | None = None, nonce: str | None = None) -> Path:
    from hw.evidence import DeviceEvidence, TpmEvidence

    pcrs: dict[str, dict[str, str]] = {}
    for line in record.pcrs.read_text().splitlines():
        bank, index, value = line.split()
        pcrs.setdefault(bank, {})[index] = value.lower()
    raw = record.eventlog.read_bytes() if log_bytes is None else log_bytes
    tpm = TpmEvidence(pcrs=pcrs, event_log_b64=base64.b64encode(raw).decode(), quote=quote, ak_public_pem=ak_pem,
                      source="tests/tpm boot_record")
    evidence = DeviceEvidence(profile="linux", port="qemu-serial", identity={}, tpm=tpm, nonce=nonce)
    path = tmp / "evidence.json"
    path.write_bytes(evidence.to_bytes())
    return path


def test_baseline_refuses_an_inconsistent_boot(boot_record: BootRecord, tmp_path: Path) -> None:
    log = load(boot_record)
    events = [e for e in log.events if "grubx64" not in str(e.decoded.get("device_path", ""))]
    evidence = _evidence(boot_record, tmp_path, log_bytes=serialize(log, events))
    out = tmp_path / "reference.json"
    result = run_cli(["measure", "baseline", "--evidence", evidence, "-o", out])
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert not out.exists()
