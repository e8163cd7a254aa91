"""Hostile and malformed Secure Boot inputs: each is the package's bad-input error naming an offset, never another
exception (the fuzz harness's property, pinned for the inputs it found)."""

from __future__ import annotations

import pytest

from tests.firmware.secureboot import builders as b
from verifier.errors import BadInputError
from verifier.firmware.secureboot.auth import parse_authenticated_update
from verifier.firmware.secureboot.databases import read_secureboot
from verifier.firmware.secureboot.errors import SecureBootFormatError
from verifier.firmware.secureboot.siglist import parse_signature_lists
from verifier.firmware.secureboot.varstore import find_stores


def test_the_error_is_bad_input_with_an_offset() -> None:
    error = SecureBootFormatError("x.fd", 0x64, "broken")
    assert isinstance(error, BadInputError) and int(error.exit_code) == 2
    assert str(error) == "x.fd: broken (at offset 0x64)"


def test_a_certificate_with_version_10_is_bad_input() -> None:
    """Found by fuzzing: cryptography's InvalidVersion is not a ValueError and escaped."""
    cert = bytearray(b.certificate("Vendor KEK", index=2))
    at = cert.find(bytes.fromhex("a003020102"))
    cert[at + 4] = 10
    with pytest.raises(SecureBootFormatError, match=r"not an X\.509 certificate"):
        parse_signature_lists(b.cert_list(bytes(cert)), "list")


def test_a_bit_string_in_the_subject_is_bad_input() -> None:
    """Found by fuzzing: cryptography raises TypeError for a BIT STRING attribute other than x500UniqueIdentifier."""
    cert = bytearray(b.certificate("Vendor KEK", index=2))
    cn = cert.find(bytes.fromhex("0603550403"))  # the commonName OID; its value's tag follows
    assert cert[cn + 5] == 0x0C  # UTF8String
    cert[cn + 5] = 0x03  # BIT STRING
    with pytest.raises(SecureBootFormatError, match=r"not an X\.509 certificate"):
        parse_signature_lists(b.cert_list(bytes(cert)), "list")


@pytest.mark.parametrize(("offset", "value", "names"), [
    (16, 10, "SignatureListSize"), (16, 1 << 31, "SignatureListSize"), (20, 1 << 20, "SignatureHeaderSize"),
    (24, 0, "SignatureSize"), (24, 17, "SignatureSize")])
def test_signature_list_sizes_are_bounded(offset: int, value: int, names: str) -> None:
    esl = bytearray(b.hash_list(bytes(32), bytes(32)))
    esl[offset : offset + 4] = value.to_bytes(4, "little")
    with pytest.raises(SecureBootFormatError, match=names) as caught:
        parse_signature_lists(bytes(esl), "list")
    assert caught.value.offset == offset


def test_a_hash_list_with_the_wrong_entry_size_is_bad_input() -> None:
    esl = bytearray(b.hash_list(bytes(32)))
    esl[24:28] = (16 + 20).to_bytes(4, "little")
    esl[16:20] = (28 + 36).to_bytes(4, "little")
    with pytest.raises(SecureBootFormatError, match="wrong for SHA256"):
        parse_signature_lists(bytes(esl[: 28 + 36]), "list")


def test_a_store_size_beyond_its_volume_is_bad_input() -> None:
    store = bytearray(b.store())
    store[0x48 + 16 : 0x48 + 20] = (0x7FFFFFFF).to_bytes(4, "little")
    with pytest.raises(SecureBootFormatError, match="variable store size") as caught:
        find_stores(bytes(store), "store")
    assert caught.value.offset == 0x48 + 16


def test_a_variable_name_without_its_nul_is_bad_input() -> None:
    store = bytearray(b.store(pk=b.cert_list(b.certificate("Vendor Platform Key", index=1))))
    name_at = 0x48 + 28 + 60
    assert store[name_at : name_at + 4] == "PK".encode("utf-16-le")
    store[name_at + 4 : name_at + 6] = b"X\x00"
    with pytest.raises(SecureBootFormatError, match="NUL-terminated"):
        find_stores(bytes(store), "store")


def test_an_update_whose_length_runs_past_the_file_is_bad_input() -> None:
    update = bytearray(b.signed_update("KEK", b.cert_list(b.certificate("Vendor KEK", index=2))))
    update[16:20] = (len(update)).to_bytes(4, "little")
    with pytest.raises(SecureBootFormatError, match="dwLength") as caught:
        parse_authenticated_update(bytes(update), "u.auth")
    assert caught.value.offset == 16


def test_an_update_with_garbage_pkcs7_is_bad_input() -> None:
    update = bytearray(b.signed_update("KEK", b.cert_list(b.certificate("Vendor KEK", index=2))))
    update[40:48] = b"\x30\x84\xff\xff\xff\xff\x00\x00"
    with pytest.raises(SecureBootFormatError):
        parse_authenticated_update(bytes(update), "u.auth")


@pytest.mark.parametrize("data", [b"", b"\x00" * 64, b"_FVH" * 100, b"\x30\x03\x02\x01\x01",
                                  b"-----BEGIN CERTIFICATE-----\n"])
def test_odd_inputs_are_bad_input(data: bytes) -> None:
    with pytest.raises(SecureBootFormatError):
        read_secureboot("odd.bin", data)
