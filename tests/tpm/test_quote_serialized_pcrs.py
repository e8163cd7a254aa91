"""``tpm verify-quote --pcrs`` reads tpm2_quote's default serialized PCR file (what tpm2_checkquote reads).

Real swtpm and tpm2-tools: the quote is made with ``tpm2_quote -o pcrs.out`` and no ``-F``; provcheck and
tpm2_checkquote must agree on it, across banks and more than 8 PCRs (two digest lists). Malformed variants
of the file are bad input (exit 2, one line); a serialized file whose values differ from the quoted ones fails.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import assert_clean_error, run_cli
from tests.tpm.conftest import Keys, Swtpm

pytestmark = pytest.mark.slow

NONCE = "5eed0f1ce0ff1ce0123456789abcdef0"
# sha256 across two TPML_DIGEST lists (10 PCRs) and a second bank.
PCR_LIST = "sha256:0,1,2,3,4,5,6,7,16,23+sha384:0,16"
SER_SELECTION_LIST = 132


def quote_serialized(swtpm: Swtpm, keys: Keys, out: Path, pcr_list: str = PCR_LIST) -> tuple[Path, Path, Path]:
    ctx = keys.aks["ecc-sha256"][0]
    swtpm.run("tpm2_pcrextend", "16:sha256=" + "cd" * 32)
    swtpm.run("tpm2_quote", "-c", ctx, "-l", pcr_list, "-q", NONCE, "-m", out / "q.msg", "-s", out / "q.sig",
              "-o", out / "pcrs.out", "-g", "sha256")
    swtpm.flush()
    return out / "q.msg", out / "q.sig", out / "pcrs.out"


def verify(msg: Path, sig: Path, pcrs: Path, ak: Path) -> tuple[int, dict[str, str], str]:
    result = run_cli(["tpm", "verify-quote", "-m", msg, "-s", sig, "--pcrs", pcrs, "--ak", ak, "--nonce", NONCE,
                      "--format", "json"])
    if result.returncode == 2:
        return 2, {}, result.stderr
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    return result.returncode, {f["check"]: f["status"] for f in report["findings"]}, result.stderr


def checkquote(swtpm: Swtpm, msg: Path, sig: Path, pcrs: Path, ak: Path) -> bool:
    """tpm2-tools' own verifier on the same files (it reads the serialized PCR file by default)."""
    return swtpm.run("tpm2_checkquote", "-u", ak, "-m", msg, "-s", sig, "-f", pcrs, "-g", "sha256", "-q", NONCE,
                     check=False).returncode == 0


@pytest.fixture
def serialized(swtpm: Swtpm, tpm_keys: Keys, tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    msg, sig, pcrs = quote_serialized(swtpm, tpm_keys, tmp_path)
    return msg, sig, pcrs, tpm_keys.aks["ecc-sha256"][2]


def test_serialized_pcr_file_verifies_like_tpm2_checkquote(
    swtpm: Swtpm, serialized: tuple[Path, Path, Path, Path]
) -> None:
    msg, sig, pcrs, ak = serialized
    assert len(pcrs.read_bytes()) == SER_SELECTION_LIST + 4 + 2 * 532  # 12 PCRs: two digest lists of 8
    assert checkquote(swtpm, msg, sig, pcrs, ak)
    code, checks, stderr = verify(msg, sig, pcrs, ak)
    assert code == 0, (checks, stderr)
    assert checks["tpm.quote.pcr-digest"] == "pass" and checks["tpm.quote.signature"] == "pass"


def test_serialized_and_values_give_the_same_pcrs(swtpm: Swtpm, tpm_keys: Keys, tmp_path: Path) -> None:
    from hw.tpm.attest import parse_quote_attest
    from hw.tpm.quote import parse_pcr_values

    msg, _, pcrs = quote_serialized(swtpm, tpm_keys, tmp_path)
    values = tmp_path / "values.out"
    swtpm.run("tpm2_pcrread", PCR_LIST, "-o", values)
    selections = parse_quote_attest(msg.read_bytes()).selections
    assert parse_pcr_values(pcrs.read_bytes(), selections) == parse_pcr_values(values.read_bytes(), selections)


def test_flipped_pcr_value_in_serialized_file_both_reject(
    swtpm: Swtpm, serialized: tuple[Path, Path, Path, Path]
) -> None:
    msg, sig, pcrs, ak = serialized
    data = bytearray(pcrs.read_bytes())
    data[SER_SELECTION_LIST + 4 + 4 + 2] ^= 1  # first byte of the first digest
    pcrs.write_bytes(bytes(data))
    assert not checkquote(swtpm, msg, sig, pcrs, ak)
    code, checks, _ = verify(msg, sig, pcrs, ak)
    assert code == 1 and checks["tpm.quote.pcr-digest"] == "fail"


def to_big_endian(data: bytes) -> bytes:
    """The same file as later tpm2-tools write it: every integer field big-endian."""
    b = bytearray(data)

    def swap(at: int, size: int) -> None:
        b[at : at + size] = bytes(reversed(b[at : at + size]))

    banks = int.from_bytes(data[0:4], "little")
    swap(0, 4)
    for bank in range(banks):
        swap(4 + bank * 8, 2)
    lists = int.from_bytes(data[SER_SELECTION_LIST : SER_SELECTION_LIST + 4], "little")
    swap(SER_SELECTION_LIST, 4)
    for n in range(lists):
        at = SER_SELECTION_LIST + 4 + n * 532
        count = int.from_bytes(data[at : at + 4], "little")
        swap(at, 4)
        for k in range(count):
            swap(at + 4 + k * 66, 2)
    return bytes(b)


def test_big_endian_serialized_file_verifies_too(serialized: tuple[Path, Path, Path, Path]) -> None:
    msg, sig, pcrs, ak = serialized
    pcrs.write_bytes(to_big_endian(pcrs.read_bytes()))
    code, checks, stderr = verify(msg, sig, pcrs, ak)
    assert code == 0, (checks, stderr)


def _mangled(data: bytes, how: str) -> bytes:
    assert data[0:4] == b"\x02\0\0\0"  # tpm2-tools 5.4 writes host (little-endian) order
    b = bytearray(data)
    lists = SER_SELECTION_LIST
    first_list = lists + 4
    if how == "truncated":
        return bytes(b[:-1])
    if how == "extra-byte":
        return bytes(b + b"\0")
    if how == "header-only":
        return bytes(b[: first_list])
    if how == "bank-count-zero":
        b[0:4] = (0).to_bytes(4, "little")
    elif how == "bank-count-huge":
        b[0:4] = (17).to_bytes(4, "little")
    elif how == "other-selection":
        b[4 + 3] ^= 0x01  # drop PCR 0 from the sha256 bank
    elif how == "other-bank":
        b[4:6] = (0x0004).to_bytes(2, "little")  # sha1 instead of sha256
    elif how == "sizeof-select-too-big":
        b[4 + 2] = 9
    elif how == "list-count-lies":
        b[lists:first_list] = (3).to_bytes(4, "little")
    elif how == "digest-count-too-big":
        b[first_list:first_list + 4] = (9).to_bytes(4, "little")
    elif how == "digest-count-short":
        b[first_list:first_list + 4] = (7).to_bytes(4, "little")
    elif how == "digest-size-wrong":
        b[first_list + 4:first_list + 6] = (20).to_bytes(2, "little")
    elif how == "digest-size-too-big":
        b[first_list + 4:first_list + 6] = (65).to_bytes(2, "little")
    return bytes(b)


@pytest.mark.parametrize("how", ["truncated", "extra-byte", "header-only", "bank-count-zero", "bank-count-huge",
                                 "other-selection", "other-bank", "sizeof-select-too-big", "list-count-lies",
                                 "digest-count-too-big", "digest-count-short", "digest-size-wrong",
                                 "digest-size-too-big"])
def test_malformed_serialized_pcr_file_is_exit_2_one_line(
    serialized: tuple[Path, Path, Path, Path], how: str
) -> None:
    msg, sig, pcrs, ak = serialized
    pcrs.write_bytes(_mangled(pcrs.read_bytes(), how))
    result = run_cli(["tpm", "verify-quote", "-m", msg, "-s", sig, "--pcrs", pcrs, "--ak", ak, "--nonce", NONCE])
    assert_clean_error(result, 2)
    assert "PCR" in result.stderr
