"""Hostile and truncated TPM inputs: a typed error, one line and exit 2, never a crash or a large allocation."""

from __future__ import annotations

import contextlib
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hw.tpm.attest import parse_quote_attest
from hw.tpm.errors import EventLogFormatError, TpmFormatError
from hw.tpm.eventlog import MAX_EVENT_DATA, parse_event_log
from hw.tpm.public import parse_public
from hw.tpm.signature import parse_signature
from hw.tpm.uefi import decode_device_path, decode_gpt, decode_image_load, decode_variable
from tests.helpers import assert_clean_error, run_cli
from tests.tpm.logtools import spec_id_event, synthetic_log

GOOD_LOG = synthetic_log()


def test_synthetic_log_parses() -> None:
    log = parse_event_log(GOOD_LOG)
    assert len(log.events) == 12
    assert all(e.data_matches_digest() in (True, None) for e in log.events)


def test_every_truncation_is_a_typed_error_or_a_shorter_log() -> None:
    for cut in range(len(GOOD_LOG)):
        try:
            log = parse_event_log(GOOD_LOG[:cut])
        except EventLogFormatError:
            continue
        assert len(log.events) < 12


def _event(pcr: int, kind: int, digests: list[tuple[int, bytes]], data: bytes, *, size: int | None = None) -> bytes:
    body = struct.pack("<III", pcr, kind, len(digests))
    body += b"".join(struct.pack("<H", alg) + d for alg, d in digests)
    return body + struct.pack("<I", len(data) if size is None else size) + data


@pytest.mark.parametrize(
    ("name", "tail", "message"),
    [
        ("huge-event-size", _event(0, 4, [(4, bytes(20)), (0xB, bytes(32))], b"", size=0xFFFFFFF0), "more than"),
        ("event-size-past-end", _event(0, 4, [(4, bytes(20)), (0xB, bytes(32))], b"ab", size=4096), "remain"),
        ("too-many-digests", struct.pack("<III", 0, 4, 1000), "digests"),
        ("unknown-digest-algorithm", _event(0, 4, [(0x99, bytes(20))], b"\0\0\0\0"), "algorithm"),
        ("duplicate-bank", _event(0, 4, [(4, bytes(20)), (4, bytes(20))], b"\0\0\0\0"), "two sha1"),
        ("pcr-out-of-range", _event(4000, 4, [(4, bytes(20)), (0xB, bytes(32))], b"\0\0\0\0"), "PCR 4000"),
        ("bad-variable", _event(7, 0x80000001, [(4, bytes(20)), (0xB, bytes(32))],
                                bytes(16) + struct.pack("<QQ", 2**40, 0)), "does not fit"),
        ("bad-device-path", _event(4, 0x80000003, [(4, bytes(20)), (0xB, bytes(32))],
                                   struct.pack("<QQQQ", 0, 0, 0, 4) + b"\x04\x04\x02\x00"), "less than"),
    ],
)
def test_hostile_event_fields(name: str, tail: bytes, message: str, tmp_path: Path) -> None:
    data = spec_id_event(["sha1", "sha256"]) + tail
    with pytest.raises(EventLogFormatError, match=message):
        parse_event_log(data)
    path = tmp_path / f"{name}.bin"
    path.write_bytes(data)
    assert_clean_error(run_cli(["tpm", "eventlog", path]), 2)


def test_max_event_data_is_bounded() -> None:
    data = spec_id_event(["sha256"]) + _event(0, 4, [(0xB, bytes(32))], b"", size=MAX_EVENT_DATA + 1)
    with pytest.raises(EventLogFormatError, match="allowed"):
        parse_event_log(data)


def test_spec_id_with_wrong_digest_size() -> None:
    bad = bytearray(spec_id_event(["sha256"]))
    bad[-2] = 31  # the digestSize of sha256 (low byte) just before vendorInfoSize
    with pytest.raises(EventLogFormatError, match="digest size"):
        parse_event_log(bytes(bad))


def test_trailing_padding_is_not_an_event() -> None:
    assert len(parse_event_log(GOOD_LOG + b"\xff" * 64).events) == 12
    assert len(parse_event_log(GOOD_LOG + bytes(64)).events) == 12


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes_never_crash_the_log_parser(blob: bytes) -> None:
    for data in (blob, GOOD_LOG[:200] + blob):
        with contextlib.suppress(EventLogFormatError):
            parse_event_log(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=256))
def test_random_bytes_never_crash_the_structure_parsers(blob: bytes) -> None:
    for parse in (parse_quote_attest, parse_signature, parse_public, decode_variable, decode_image_load,
                  decode_gpt, decode_device_path):
        with contextlib.suppress(TpmFormatError):
            parse(blob)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=len(GOOD_LOG) - 1), st.integers(min_value=0, max_value=255))
def test_flipped_byte_is_an_error_or_a_different_log(position: int, value: int) -> None:
    data = bytearray(GOOD_LOG)
    data[position] = value
    with contextlib.suppress(EventLogFormatError):
        parse_event_log(bytes(data))


def test_quote_structures_reject_wrong_magic_and_type() -> None:
    with pytest.raises(TpmFormatError, match="magic"):
        parse_quote_attest(b"\x00" * 40)
    with pytest.raises(TpmFormatError, match="not a quote"):
        parse_quote_attest(b"\xff\x54\x43\x47\x80\x17" + bytes(40))
    with pytest.raises(TpmFormatError, match="ECDSA, RSASSA or RSAPSS"):
        parse_signature(b"\x00\x01\x00\x0b")


@pytest.mark.parametrize("content", [b"", b"x", b"\x00" * 10, b"not a log at all, just some text\n" * 4])
def test_cli_rejects_non_logs(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "not-a-log.bin"
    path.write_bytes(content)
    assert_clean_error(run_cli(["tpm", "eventlog", path]), 2)


def test_cli_missing_and_oversized_inputs(tmp_path: Path) -> None:
    assert_clean_error(run_cli(["tpm", "eventlog", tmp_path / "missing.bin"]), 2)
    big = tmp_path / "oversized-log.bin"
    with big.open("wb") as handle:
        handle.truncate(17 * 1024 * 1024)
    assert_clean_error(run_cli(["tpm", "eventlog", big]), 2)
    log = tmp_path / "good.bin"
    log.write_bytes(GOOD_LOG)
    bad_pcrs = tmp_path / "pcrs-not-hex.txt"
    bad_pcrs.write_text("{\"sha256\": {\"0\": \"zz\"}}")
    assert_clean_error(run_cli(["tpm", "eventlog", log, "--pcrs", bad_pcrs]), 2)
    bad_manifest = tmp_path / "manifest-not-json.json"
    bad_manifest.write_text("{")
    assert_clean_error(run_cli(["tpm", "eventlog", log, "--device-manifest", bad_manifest]), 2)
    wrong_type = tmp_path / "manifest-secure-boot-string.json"
    wrong_type.write_text('{"boot_measurements": {"secure_boot": "yes"}}')
    assert_clean_error(run_cli(["tpm", "eventlog", log, "--device-manifest", wrong_type]), 2)


def test_baseline_bad_evidence(tmp_path: Path) -> None:
    bad = tmp_path / "evidence-truncated.json"
    bad.write_text('{"schema": ')
    assert_clean_error(run_cli(["measure", "baseline", "--evidence", bad, "-o", tmp_path / "out.json"]), 2)
    no_tpm = tmp_path / "evidence-without-tpm.json"
    from hw.evidence import DeviceEvidence

    no_tpm.write_bytes(DeviceEvidence(profile="linux", port="x", identity={}).to_bytes())
    assert_clean_error(run_cli(["measure", "baseline", "--evidence", no_tpm, "-o", tmp_path / "out.json"]), 3)
    assert not (tmp_path / "out.json").exists()


def test_replay_of_synthetic_log_passes_and_flipped_pcr_fails(tmp_path: Path) -> None:
    from tests.tpm.logtools import pcr_lines

    log_path = tmp_path / "synthetic.bin"
    log_path.write_bytes(GOOD_LOG)
    pcrs = tmp_path / "pcrs.txt"
    pcrs.write_text(pcr_lines(parse_event_log(GOOD_LOG)))
    assert run_cli(["tpm", "eventlog", log_path, "--pcrs", pcrs]).returncode == 0
    text = pcrs.read_text().replace("sha256 4 ", "sha256 4 ff", 1)
    flipped = tmp_path / "pcr4-flipped.txt"
    flipped.write_text("\n".join(line[:-2] if line.startswith("sha256 4 ff") else line for line in text.splitlines()))
    result = run_cli(["tpm", "eventlog", log_path, "--pcrs", flipped])
    assert result.returncode == 1, result.stdout
    assert "PCR 4" in result.stdout


def test_legacy_sha1_log() -> None:
    """Pre-crypto-agile firmware writes every event in the SHA-1 format, without a Spec ID header."""
    import hashlib

    from hw.tpm.replay import replay

    def event(pcr: int, kind: int, data: bytes) -> bytes:
        return struct.pack("<II", pcr, kind) + hashlib.sha1(data).digest() + struct.pack("<I", len(data)) + data

    sep = b"\x00\x00\x00\x00"
    log = parse_event_log(event(0, 0x8, b"\x00\x00") + event(0, 0x4, sep) + event(4, 0x4, sep))
    assert log.format == "sha1" and log.banks == ("sha1",)
    assert [e.number for e in log.events] == [0, 1, 2]
    pcr0 = bytes(20)
    for digest in (hashlib.sha1(b"\x00\x00").digest(), hashlib.sha1(sep).digest()):
        pcr0 = hashlib.sha1(pcr0 + digest).digest()
    assert replay(log).pcrs["sha1"][0] == pcr0
    with pytest.raises(EventLogFormatError):
        parse_event_log(event(0, 0x8, b"\x00\x00") + event(0, 0x4, sep) + event(4, 0x4, sep)[:-3])
