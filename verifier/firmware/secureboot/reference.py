"""Reference data the Secure Boot judges compare with: known test keys, Microsoft's CAs and dbx reference.

Both lists ship in the package (``test_keys.json``, ``dbx_reference.json``; each file says where its data comes
from), so a fresh clone judges without the public vectors; ``--test-keys`` extends the first and
``--dbx-reference`` replaces the second.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources

from verifier.firmware.secureboot.databases import read_secureboot
from verifier.firmware.secureboot.errors import SecureBootFormatError

MAX_REFERENCE = 16 * 1024 * 1024
#: Subject/issuer markers that always mean a test key (fwupd's uefi-pk plugin and check_pkfail.sh use these).
ALWAYS_TEST_MARKERS = ("DO NOT TRUST", "DO NOT SHIP")


@dataclass(frozen=True)
class TestKey:
    match: str  # "sha256" | "sha1" | "subject-contains"
    value: str
    subject: str = ""
    key_class: str = ""  # pkfail-ami-test-pk, public-private-key, test-named-pk-in-field, marker, user
    sources: str = ""
    note: str = ""


@dataclass(frozen=True)
class TestKeyList:
    entries: tuple[TestKey, ...]
    origins: tuple[str, ...]

    def extended(self, other: TestKeyList) -> TestKeyList:
        return TestKeyList(self.entries + other.entries, self.origins + other.origins)


@dataclass(frozen=True)
class MicrosoftCa:
    """A Microsoft Secure Boot CA, by SHA-256 of its certificate (files of microsoft/secureboot_objects
    PreSignedObjects @ 06fe58a3, copied in the public vectors)."""

    sha256: str
    name: str
    database: str  # KEK or db
    successors: tuple[str, ...] = ()  # the 2023 CAs (SHA-256) that replace a 2011 one


KEK_2K_CA_2023 = "3cd3f0309edae228767a976dd40d9f4affc4fbd5218f2e8cc3c9dd97e8ac6f9d"
WINDOWS_UEFI_CA_2023 = "076f1fea90ac29155ebf77c17682f75f1fdd1be196da302dc8461e350a9ae330"
MICROSOFT_UEFI_CA_2023 = "f6124e34125bee3fe6d79a574eaa7b91c0e7bd9d929c1a321178efd611dad901"
OPTION_ROM_UEFI_CA_2023 = "e5be3e64c6e66a281457ecdece0d6d0787577aad2a3a0144262c10c14ba8d8f1"
MICROSOFT_CAS: Mapping[str, MicrosoftCa] = {ca.sha256: ca for ca in (
    MicrosoftCa("a1117f516a32cefcba3f2d1ace10a87972fd6bbe8fe0d0b996e09e65d802a503",
                "Microsoft Corporation KEK CA 2011", "KEK", (KEK_2K_CA_2023,)),
    MicrosoftCa("e8e95f0733a55e8bad7be0a1413ee23c51fcea64b3c8fa6a786935fddcc71961",
                "Microsoft Windows Production PCA 2011", "db", (WINDOWS_UEFI_CA_2023,)),
    MicrosoftCa("48e99b991f57fc52f76149599bff0a58c47154229b9f8d603ac40d3500248507",
                "Microsoft Corporation UEFI CA 2011", "db", (MICROSOFT_UEFI_CA_2023, OPTION_ROM_UEFI_CA_2023)),
    MicrosoftCa(KEK_2K_CA_2023, "Microsoft Corporation KEK 2K CA 2023", "KEK"),
    MicrosoftCa(WINDOWS_UEFI_CA_2023, "Windows UEFI CA 2023", "db"),
    MicrosoftCa(MICROSOFT_UEFI_CA_2023, "Microsoft UEFI CA 2023", "db"),
    MicrosoftCa(OPTION_ROM_UEFI_CA_2023, "Microsoft Option ROM UEFI CA 2023", "db"),
)}


@dataclass(frozen=True)
class DbxImage:
    sha256: str  # lower-case hex
    arch: str
    filename: str = ""
    description: str = ""
    date: str = ""  # dateOfAddition, YYYY-MM-DD


@dataclass(frozen=True)
class RevokedCertificate:
    sha1: str  # Microsoft's "thumbprint"
    subject: str = ""
    description: str = ""
    date: str = ""


@dataclass(frozen=True)
class DbxReference:
    origin: str
    images: Mapping[str, tuple[DbxImage, ...]]  # architecture -> hashes; "any" when the reference names none
    certificates: tuple[RevokedCertificate, ...] = ()
    svns: tuple[DbxImage, ...] = field(default_factory=tuple)

    def for_arch(self, arch: str) -> tuple[DbxImage, ...]:
        return self.images.get(arch) or self.images.get("any") or ()


def _shipped(name: str) -> bytes:
    return (resources.files("verifier.firmware.secureboot") / name).read_bytes()


def shipped_test_keys() -> TestKeyList:
    return load_test_keys("test_keys.json (shipped)", _shipped("test_keys.json"))


def shipped_dbx_reference() -> DbxReference:
    return load_dbx_reference("dbx_reference.json (shipped)", _shipped("dbx_reference.json"))


_HEX = re.compile(r"[0-9a-f]+")


def _test_key(row: Mapping[str, object], what: str, where: int) -> TestKey:
    match = str(row.get("match", "")).strip().lower()
    value = str(row.get("value", "")).strip()
    if match in ("sha256", "sha1"):
        value = value.lower().replace(":", "")
        size = 64 if match == "sha256" else 40
        if len(value) != size or not _HEX.fullmatch(value):
            raise SecureBootFormatError(what, where, f"{match} value {value[:80]!r} is not {size} hex digits")
    elif match == "subject-contains":
        if not value:
            raise SecureBootFormatError(what, where, "subject-contains needs a value")
    else:
        raise SecureBootFormatError(what, where, f"match {match[:40]!r} is not sha256, sha1 or subject-contains")
    return TestKey(match, value, str(row.get("subject", "")), str(row.get("class", "") or "user"),
                   str(row.get("sources", "")), str(row.get("note", "")))


def load_test_keys(what: str, data: bytes) -> TestKeyList:
    """A test-key list: this package's JSON, the vectors' CSV (match,value,...,class,sources,note), or one
    fingerprint (SHA-256 or SHA-1 hex) per line, ``#`` starting a comment."""
    if len(data) > MAX_REFERENCE:
        raise SecureBootFormatError(what, 0, f"{len(data)} bytes, more than {MAX_REFERENCE}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SecureBootFormatError(what, exc.start, "test-key list is not UTF-8") from exc
    entries: list[TestKey] = []
    if text.lstrip().startswith("{"):
        try:
            document = json.loads(text)
            rows = document["entries"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise SecureBootFormatError(what, 0, f"test-key JSON needs an 'entries' list ({exc})") from exc
        if not isinstance(rows, list):
            raise SecureBootFormatError(what, 0, "'entries' is not a list")
        for index, row in enumerate(rows):
            if not isinstance(row, dict):
                raise SecureBootFormatError(what, index, f"entry {index} is not an object")
            entries.append(_test_key(row, f"{what} entry {index}", index))
    elif text.lstrip().lower().startswith("match,"):
        for number, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
            entries.append(_test_key(row, f"{what} line {number}", number))
    else:
        for number, line in enumerate(text.splitlines(), start=1):
            value, _, comment = line.partition("#")
            value = value.strip().lower().replace(":", "")
            if not value:
                continue
            kind = {64: "sha256", 40: "sha1"}.get(len(value), "sha256")
            entries.append(_test_key({"match": kind, "value": value, "note": comment.strip(), "class": "user",
                                      "sources": what}, f"{what} line {number}", number))
    return TestKeyList(tuple(entries), (what,))


def _text(value: object, limit: int = 512) -> str:
    return str(value)[:limit] if isinstance(value, str | int | float) else ""


def load_dbx_reference(what: str, data: bytes) -> DbxReference:
    """Microsoft's dbx_info JSON (``images`` per architecture, ``certificates``, ``svns``), or a signed dbx update /
    EFI_SIGNATURE_LIST, whose SHA-256 entries count for every architecture (no dates)."""
    if len(data) > MAX_REFERENCE:
        raise SecureBootFormatError(what, 0, f"{len(data)} bytes, more than {MAX_REFERENCE}")
    if data.lstrip()[:1] != b"{":
        return _binary_reference(what, data)
    try:
        document = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SecureBootFormatError(what, getattr(exc, "pos", 0), f"dbx reference is not JSON ({exc})") from exc
    if not isinstance(document, dict) or not isinstance(document.get("images"), dict):
        raise SecureBootFormatError(what, 0, "dbx reference JSON needs an 'images' object (architecture -> list)")
    images: dict[str, tuple[DbxImage, ...]] = {}
    for arch, items in document["images"].items():
        if not isinstance(items, list):
            raise SecureBootFormatError(what, 0, f"images.{_text(arch, 40)} is not a list")
        found = []
        for index, item in enumerate(items):
            digest = str(item.get("authenticodeHash", "")).lower() if isinstance(item, dict) else ""
            if len(digest) != 64 or not _HEX.fullmatch(digest):
                raise SecureBootFormatError(what, index, f"images.{_text(arch, 40)}[{index}].authenticodeHash is not "
                                            "a SHA-256 hex digest")
            assert isinstance(item, dict)
            found.append(DbxImage(digest, str(arch), _text(item.get("filename", "")),
                                  _text(item.get("description", "")), _text(item.get("dateOfAddition", ""), 32)))
        images[str(arch)] = tuple(found)
    certificates = tuple(
        RevokedCertificate(_text(c.get("thumbprint", "")).lower(), _text(c.get("subjectName", "")),
                           _text(c.get("description", "")), _text(c.get("dateOfAddition", ""), 32))
        for c in document.get("certificates") or [] if isinstance(c, dict))
    svns = tuple(DbxImage(_text(s.get("value", ""), 64).lower(), "svn", _text(s.get("filename", "")),
                          _text(s.get("description", "")), _text(s.get("dateOfLastChange", ""), 32))
                 for s in document.get("svns") or [] if isinstance(s, dict))
    return DbxReference(what, images, certificates, svns)


def _binary_reference(what: str, data: bytes) -> DbxReference:
    state = read_secureboot(what, data)
    entries = [e for db in state.databases.values() for e in db.entries]
    hashes = tuple(DbxImage(e.digest_hex, "any") for e in entries if e.type == "SHA256")
    certificates = tuple(RevokedCertificate(e.certificate.sha1, e.certificate.subject)
                         for e in entries if e.certificate is not None)
    if not hashes and not certificates:
        raise SecureBootFormatError(what, 0, "dbx reference holds no SHA-256 or certificate entry")
    return DbxReference(what, {"any": hashes}, certificates)
