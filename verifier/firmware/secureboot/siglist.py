"""EFI_SIGNATURE_LIST (UEFI 2.10, 32.4.1): the format of PK, KEK, db, dbx, dbt and dbr.

Hand-written: no maintained Python package parses EFI_SIGNATURE_LISTs (virt-firmware edits them, unbounded).

A variable's data is a sequence of lists; each list has a type GUID, its own size, a header size and one signature
size, then entries of (owner GUID, signature data). Every size is checked against what remains before a slice is
taken, X.509 entries are parsed into certificate facts, hash entries kept as digests, other types named as such.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from verifier.firmware.secureboot.certificates import CertificateFacts, certificate_facts, der_length
from verifier.firmware.secureboot.errors import SecureBootFormatError
from verifier.firmware.secureboot.guids import SIGNATURE_TYPE_GUIDS, SIGNATURE_TYPES, guid_bytes, guid_text

LIST_HEADER = 28
#: Bounds for one variable's data: real dbx lists hold ~450 hashes in ~15 KiB; stores are at most a few MiB.
MAX_LISTS = 4096
MAX_ENTRIES = 65536
MAX_LIST_HEADER = 4096


@dataclass(frozen=True)
class SignatureEntry:
    type: str  # "X509", "SHA256", ... or "unknown:<guid>"
    owner: str
    offset: int  # of the EFI_SIGNATURE_DATA, in the input given to parse_signature_lists
    data: bytes  # SignatureData (after the owner GUID)
    certificate: CertificateFacts | None = None
    trailing: int = 0  # bytes after the certificate's DER inside the entry

    @property
    def digest_hex(self) -> str:
        """For hash entries (and X509_SHA*): the digest as hex; empty for certificates."""
        if self.certificate is not None:
            return ""
        size = SIGNATURE_TYPES.get(_guid_of(self.type), ("", None))[1]
        body = self.data[: size - 16] if self.type.startswith("X509_") and size else self.data
        return body.hex()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "owner": self.owner}
        if self.certificate is not None:
            out.update(self.certificate.to_json())
            if self.trailing:
                out["trailing_bytes"] = self.trailing
        else:
            out["value"] = self.digest_hex
        return out


def _guid_of(name: str) -> str:
    return SIGNATURE_TYPE_GUIDS.get(name, "")


@dataclass(frozen=True)
class SignatureList:
    type: str
    type_guid: str
    offset: int
    size: int
    header_size: int
    signature_size: int
    entries: tuple[SignatureEntry, ...]


def parse_signature_lists(data: bytes, what: str, base: int = 0) -> tuple[SignatureList, ...]:
    """Every EFI_SIGNATURE_LIST in ``data`` (a variable's whole data); offsets are reported as ``base`` + position."""
    lists: list[SignatureList] = []
    entries_seen = 0
    pos = 0
    while pos < len(data):
        at = base + pos
        if len(lists) >= MAX_LISTS:
            raise SecureBootFormatError(what, at, f"more than {MAX_LISTS} signature lists")
        if len(data) - pos < LIST_HEADER:
            raise SecureBootFormatError(what, at, f"{len(data) - pos} bytes left, too few for an EFI_SIGNATURE_LIST "
                                        f"header ({LIST_HEADER})")
        type_guid = guid_text(data[pos : pos + 16])
        list_size = int.from_bytes(data[pos + 16 : pos + 20], "little")
        header_size = int.from_bytes(data[pos + 20 : pos + 24], "little")
        sig_size = int.from_bytes(data[pos + 24 : pos + 28], "little")
        if list_size < LIST_HEADER or list_size > len(data) - pos:
            raise SecureBootFormatError(what, at + 16, f"SignatureListSize {list_size} does not fit the "
                                        f"{len(data) - pos} bytes left")
        if header_size > MAX_LIST_HEADER or LIST_HEADER + header_size > list_size:
            raise SecureBootFormatError(what, at + 20, f"SignatureHeaderSize {header_size} does not fit the list")
        body = list_size - LIST_HEADER - header_size
        if sig_size < 16 or (body and sig_size > body):
            raise SecureBootFormatError(what, at + 24, f"SignatureSize {sig_size} is below 16 (the owner GUID) "
                                        f"or larger than the list's {body} bytes of entries")
        if body % sig_size:
            raise SecureBootFormatError(what, at + 24, f"the list's {body} bytes of entries are not a multiple of "
                                        f"SignatureSize {sig_size}")
        count = body // sig_size
        entries_seen += count
        if entries_seen > MAX_ENTRIES:
            raise SecureBootFormatError(what, at, f"more than {MAX_ENTRIES} signatures")
        name, fixed = SIGNATURE_TYPES.get(type_guid, (f"unknown:{type_guid}", None))
        if fixed is not None and sig_size != 16 + fixed:
            raise SecureBootFormatError(what, at + 24, f"SignatureSize {sig_size} is wrong for {name} "
                                        f"(expected {16 + fixed})")
        start = pos + LIST_HEADER + header_size
        entries = tuple(_entry(data, start + i * sig_size, sig_size, name, what, base) for i in range(count))
        lists.append(SignatureList(name, type_guid, at, list_size, header_size, sig_size, entries))
        pos += list_size
    return tuple(lists)


def _entry(data: bytes, pos: int, size: int, name: str, what: str, base: int) -> SignatureEntry:
    owner = guid_text(data[pos : pos + 16])
    body = data[pos + 16 : pos + size]
    if name != "X509":
        return SignatureEntry(name, owner, base + pos, body)
    length = der_length(body, what, base + pos + 16)
    cert = certificate_facts(body[:length], what, base + pos + 16)
    return SignatureEntry(name, owner, base + pos, body[:length], cert, len(body) - length)


def entries(lists: tuple[SignatureList, ...]) -> tuple[SignatureEntry, ...]:
    return tuple(e for lst in lists for e in lst.entries)


def signature_list_bytes(type_name: str, owner: str, items: list[bytes]) -> bytes:
    """One EFI_SIGNATURE_LIST of ``items`` (all the same size): what cert-to-efi-sig-list and hash-to-efi-sig-list
    write. For tests, the fuzz seeds and the benchmark."""
    size = 16 + (len(items[0]) if items else 0)
    if any(len(item) + 16 != size for item in items):
        raise ValueError("every entry of one list has the same size")
    body = b"".join(guid_bytes(owner) + item for item in items)
    header = guid_bytes(SIGNATURE_TYPE_GUIDS[type_name]) + (LIST_HEADER + len(body)).to_bytes(4, "little")
    return header + (0).to_bytes(4, "little") + size.to_bytes(4, "little") + body
