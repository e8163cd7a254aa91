"""The payload of an OCP S.A.F.E. short-form report (SFR), as a typed frozen model.

Hand-written: the SFR is a small JSON document with no schema published as a library (the upstream
``OcpReportLib`` writes it, it does not read it), and the published reports vary in ways a reader must
pin down itself: ``scope`` or ``scope_number``, an integer or a string; firmware digests in lower-case
hex, ``0x``-prefixed (the upstream sample) or empty (ROM audits, identified only by a repository tag);
a CVSS score as a string; ``cve`` as null or "".

Decisions (each one an error naming the field when broken):

- the JSON is read with ``attestations.strict_json`` (no key twice, no NaN, UTF-8 only);
- an unknown key is refused: a field this reader does not know could change what the review means;
- a digest is hex of exactly the algorithm's length, case-insensitive, optionally ``0x``-prefixed, and
  is kept in lower case without the prefix; whitespace or any other character is refused; an empty digest
  is kept as "" and covers no file;
- ``completion_date`` is ``YYYY-MM-DD``; "" and the placeholder "None" that the upstream sample generator
  writes mean "not given" (``None``);
- a CVSS score is a number or a numeric string in [0, 10]; "" or null means "not given" (``None``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from attestations import strict_json
from attestations.errors import InputError

#: the hex length of each firmware digest the SFR carries
DIGEST_LENGTHS: Mapping[str, int] = {"sha384": 96, "sha512": 128}
_HEX = re.compile(r"^[0-9a-fA-F]*$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class ReviewFormatError(InputError):
    """The report is not a short-form report this reader understands; the message names the field (exit 2)."""


def _object(value: object, where: str, allowed: tuple[str, ...], required: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise ReviewFormatError(f"{where or 'the report'} is not a JSON object")
    for key in value:
        if key not in allowed:
            raise ReviewFormatError(f"{_at(where, key)} is not a short-form report field")
    for key in required:
        if key not in value:
            raise ReviewFormatError(f"{_at(where, key)} is missing")
    return value


def _at(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _text(table: Mapping[str, Any], key: str, where: str, *, nullable: bool = False) -> str:
    value = table.get(key, "")
    if value is None and nullable:
        return ""
    if not isinstance(value, str):
        raise ReviewFormatError(f"{_at(where, key)} is not a string")
    return value


def digest_hex(value: object, algorithm: str, field_name: str) -> str:
    """A firmware digest as lower-case hex without prefix; "" when the report gives none."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise ReviewFormatError(f"{field_name} is not a string")
    text = value[2:] if value[:2] in ("0x", "0X") else value
    want = DIGEST_LENGTHS[algorithm]
    if not _HEX.match(text):
        raise ReviewFormatError(f"{field_name} is not hex (only 0-9, a-f, optionally after '0x')")
    if len(text) != want:
        raise ReviewFormatError(f"{field_name} has {len(text)} hex digits; a {algorithm} digest has {want}")
    return text.lower()


def _completion_date(value: object, field_name: str) -> date | None:
    if value is None or value in ("", "None"):
        return None
    if not isinstance(value, str) or not _DATE.match(value):
        raise ReviewFormatError(f"{field_name} is not a date written YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ReviewFormatError(f"{field_name} is not a calendar date ({value})") from None


def _cvss(value: object, field_name: str) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ReviewFormatError(f"{field_name} is not a CVSS score")
    if isinstance(value, str):
        if not re.fullmatch(r"\d{1,2}(\.\d{1,3})?", value.strip()) or value != value.strip():
            raise ReviewFormatError(f"{field_name} is not a CVSS score such as \"7.1\"")
        score = float(value)
    elif isinstance(value, int | float):
        score = float(value)
    else:
        raise ReviewFormatError(f"{field_name} is not a CVSS score")
    if not 0.0 <= score <= 10.0:
        raise ReviewFormatError(f"{field_name} is {score}; CVSS scores lie between 0.0 and 10.0")
    return score


@dataclass(frozen=True)
class ManifestEntry:
    """One file of a reviewed source or SDK package, with its hash (hex, lower case)."""

    file_name: str
    file_hash: str


@dataclass(frozen=True)
class Device:
    """What was reviewed. A digest is lower-case hex or "" (not given: it covers no file)."""

    vendor: str
    product: str
    category: str = ""
    repo_tag: str = ""
    fw_version: str = ""
    fw_hash_sha2_384: str = ""
    fw_hash_sha2_512: str = ""
    manifest: tuple[ManifestEntry, ...] = ()

    @property
    def digests(self) -> dict[str, str]:
        """The firmware digests the report gives, by algorithm (sha384, sha512); empty ones left out."""
        out = {"sha384": self.fw_hash_sha2_384, "sha512": self.fw_hash_sha2_512}
        return {name: value for name, value in out.items() if value}

    @classmethod
    def from_dict(cls, value: object, where: str = "device") -> Device:
        t = _object(
            value,
            where,
            ("vendor", "product", "category", "repo_tag", "fw_version", "fw_hash_sha2_384", "fw_hash_sha2_512",
             "manifest"),
            ("vendor", "product"),
        )
        manifest: list[ManifestEntry] = []
        raw_manifest = t.get("manifest", [])
        if not isinstance(raw_manifest, list):
            raise ReviewFormatError(f"{where}.manifest is not a list")
        for i, item in enumerate(raw_manifest):
            at = f"{where}.manifest[{i}]"
            entry = _object(item, at, ("file_name", "file_hash"), ("file_name", "file_hash"))
            file_hash = _text(entry, "file_hash", at)
            if not file_hash or not _HEX.match(file_hash) or len(file_hash) not in (96, 128):
                raise ReviewFormatError(f"{at}.file_hash is not a sha384 or sha512 digest in hex")
            manifest.append(ManifestEntry(_text(entry, "file_name", at), file_hash.lower()))
        return cls(
            vendor=_text(t, "vendor", where),
            product=_text(t, "product", where),
            category=_text(t, "category", where),
            repo_tag=_text(t, "repo_tag", where),
            fw_version=_text(t, "fw_version", where),
            fw_hash_sha2_384=digest_hex(t.get("fw_hash_sha2_384"), "sha384", f"{where}.fw_hash_sha2_384"),
            fw_hash_sha2_512=digest_hex(t.get("fw_hash_sha2_512"), "sha512", f"{where}.fw_hash_sha2_512"),
            manifest=tuple(manifest),
        )

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "vendor": self.vendor,
            "product": self.product,
            "category": self.category,
            "repo_tag": self.repo_tag,
            "fw_version": self.fw_version,
            "fw_hash_sha2_384": self.fw_hash_sha2_384,
            "fw_hash_sha2_512": self.fw_hash_sha2_512,
        }
        if self.manifest:
            out["manifest"] = [{"file_name": e.file_name, "file_hash": e.file_hash} for e in self.manifest]
        return out


@dataclass(frozen=True)
class Issue:
    """An issue the vendor did not fix before shipping the reviewed image."""

    title: str
    cvss_score: float | None
    cvss_vector: str = ""
    cwe: str = ""
    cve: str | None = None
    description: str = ""

    @classmethod
    def from_dict(cls, value: object, where: str) -> Issue:
        t = _object(value, where, ("title", "cvss_score", "cvss_vector", "cwe", "cve", "description"), ("title",))
        cve = _text(t, "cve", where, nullable=True)
        return cls(
            title=_text(t, "title", where),
            cvss_score=_cvss(t.get("cvss_score"), f"{where}.cvss_score"),
            cvss_vector=_text(t, "cvss_vector", where, nullable=True),
            cwe=_text(t, "cwe", where, nullable=True),
            cve=cve or None,
            description=_text(t, "description", where, nullable=True),
        )

    def to_json(self) -> dict[str, object]:
        return {
            "title": self.title,
            "cvss_score": self.cvss_score,
            "cvss_vector": self.cvss_vector,
            "cwe": self.cwe,
            "cve": self.cve,
            "description": self.description,
        }


@dataclass(frozen=True)
class Audit:
    """Who reviewed, when, how, and what stayed open."""

    srp: str
    completion_date: date | None
    methodology: str = ""
    report_version: str = ""
    scope_number: str | None = None
    cvss_version: str = ""
    issues: tuple[Issue, ...] = ()
    solid_version: str = ""  # the CoRIM form only: the OCP SOLID requirements version checked against

    @classmethod
    def from_dict(cls, value: object, where: str = "audit") -> Audit:
        t = _object(
            value,
            where,
            ("srp", "methodology", "completion_date", "report_version", "scope", "scope_number", "cvss_version",
             "issues"),
            ("srp", "completion_date", "issues"),
        )
        if "scope" in t and "scope_number" in t:
            raise ReviewFormatError(f"{where}.scope and {where}.scope_number are both given; give one")
        scope_key = "scope" if "scope" in t else "scope_number"
        scope = t.get(scope_key)
        if scope is not None and (isinstance(scope, bool) or not isinstance(scope, int | str)):
            raise ReviewFormatError(f"{where}.{scope_key} is neither a number nor a string")
        issues = t["issues"]
        if not isinstance(issues, list):
            raise ReviewFormatError(f"{where}.issues is not a list")
        return cls(
            srp=_text(t, "srp", where),
            completion_date=_completion_date(t["completion_date"], f"{where}.completion_date"),
            methodology=_text(t, "methodology", where),
            report_version=_text(t, "report_version", where),
            scope_number=None if scope is None or scope == "" else str(scope),
            cvss_version=_text(t, "cvss_version", where),
            issues=tuple(Issue.from_dict(item, f"{where}.issues[{i}]") for i, item in enumerate(issues)),
        )

    def to_json(self) -> dict[str, object]:
        return {
            "srp": self.srp,
            "completion_date": self.completion_date.isoformat() if self.completion_date else None,
            "methodology": self.methodology,
            "report_version": self.report_version,
            "scope_number": self.scope_number,
            "cvss_version": self.cvss_version,
            "issues": [issue.to_json() for issue in self.issues],
            **({"solid_version": self.solid_version} if self.solid_version else {}),
        }


@dataclass(frozen=True)
class ShortFormReport:
    """An SFR payload: the framework version, the device and firmware reviewed, the audit and its open issues."""

    review_framework_version: str
    device: Device
    audit: Audit

    @classmethod
    def from_dict(cls, value: object) -> ShortFormReport:
        t = _object(value, "", ("review_framework_version", "device", "audit"),
                    ("review_framework_version", "device", "audit"))
        version = t["review_framework_version"]
        if not isinstance(version, str):
            raise ReviewFormatError("review_framework_version is not a string")
        return cls(version, Device.from_dict(t["device"]), Audit.from_dict(t["audit"]))

    @classmethod
    def from_json(cls, data: bytes | str, what: str = "short-form report") -> ShortFormReport:
        """Read with the strict JSON reader; a field that is wrong is named in a ``ReviewFormatError``."""
        value = strict_json.loads(data, what)
        try:
            return cls.from_dict(value)
        except ReviewFormatError as exc:
            raise ReviewFormatError(f"{what}: {exc}") from None

    def to_json(self) -> dict[str, object]:
        return {
            "review_framework_version": self.review_framework_version,
            "device": self.device.to_json(),
            "audit": self.audit.to_json(),
        }
