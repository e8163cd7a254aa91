"""The firmware manifest ``firmware scan --manifest`` judges an image against, from whichever file holds it.

Accepted: the plain predicate, an in-toto Statement carrying it, one DSSE envelope, or a release's
``.intoto.jsonl`` (one envelope per line, as ``release sign`` writes it). From several statements the
one whose subject digest is the scanned file's is used; failing that, the one whose subject has the
scanned file's name, so a swapped image is still compared with what was declared under its name (and
the digest mismatch is reported).

Nothing here trusts a signature it has not checked: an envelope's signatures are verified only
against keys the operator gives (``--key``), and the result says which.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from attestations import strict_json
from attestations.documents import parse_documents
from attestations.dsse import Envelope, parse_envelope, verify_signatures
from attestations.errors import AttestationError
from attestations.files import read_limited
from attestations.keys import load_public_keys
from attestations.statement import Statement, Subject, digest_file, parse_statement, subject_matches
from verifier.declared.fields import HEX64, FieldReader, JsonObject, JsonValue
from verifier.errors import BadInputError
from verifier.firmware.inventory import FIRMWARE_MANIFEST, SCHEMA_VERSION
from verifier.model import Finding, failed, passed, skipped

MAX_MANIFEST_FILE = 64 * 1024 * 1024
#: Inventory lists the judges iterate: each, when present, is a list of objects.
ITEM_LISTS = ("functions", "sections", "imports", "exports", "constructors", "modules", "embedded", "strings")
#: Parts the judges read as objects: each, when present (not null), is one.
OBJECT_PARTS = ("layout", "overlay", "raw_image", "loaded", "authenticode")


@dataclass(frozen=True)
class DeclaredFile:
    """What the manifest says of the whole file: its size and SHA-256, each when declared."""

    sha256: str | None = None
    size: int | None = None


@dataclass(frozen=True)
class DeclaredManifest:
    """A firmware-manifest predicate, read once: the fields the judges and intake use, typed and checked.

    ``document`` is the predicate as written: its open-ended inventory (functions, sections, modules,
    embedded images, loaded bytes) is compared item by item by ``verifier.checks.firmware``, which
    reports a malformed item there as bad input.
    """

    format: str
    schema_version: int
    document: JsonObject
    architecture: str | None = None
    file: DeclaredFile = DeclaredFile()

    @classmethod
    def from_predicate(cls, document: object, where: str) -> DeclaredManifest:
        """The manifest in ``document``; ``BadInputError`` naming ``where`` and the field otherwise."""
        if not isinstance(document, Mapping) or "format" not in document:
            raise BadInputError(f"{where} is not a firmware manifest (no 'format' field)")
        if document.get("schema_version") != SCHEMA_VERSION:
            raise BadInputError(f"{where}: unsupported firmware manifest schema_version "
                                f"{document.get('schema_version')!r}")
        f = FieldReader(where)
        image_format = f.text(document, "format")
        if not image_format:
            raise f.error("'format' must be a non-empty string")
        for name in ITEM_LISTS:
            items = document.get(name)
            if items is not None and (not isinstance(items, list | tuple)
                                      or not all(isinstance(item, Mapping) for item in items)):
                raise f.error(f"'{name}' must be a list of objects")
        for name in OBJECT_PARTS:
            part = document.get(name)
            if part is not None and not isinstance(part, Mapping):
                raise f.error(f"'{name}' must be an object")
        return cls(image_format, SCHEMA_VERSION, document, f.text(document, "architecture"),
                   _declared_file(document.get("file"), f))


def _declared_file(value: object, f: FieldReader) -> DeclaredFile:
    if value is None:
        return DeclaredFile()
    if not isinstance(value, Mapping):
        raise f.error("'file' must be an object")
    digest = f.text(value, "sha256", "file.sha256")
    if digest is not None and not HEX64.fullmatch(digest):
        raise f.error("'file.sha256' must be 64 hex digits")
    return DeclaredFile(digest, f.integer(value, "size", "file.size"))


def json_items(obj: JsonObject, key: str) -> list[JsonObject]:
    """``obj[key]`` as the list of objects an inventory holds, ``[]`` when absent.

    Anything else (null, a string, an object, a list holding a non-object) raises ``TypeError``, as reading it
    as a list of objects did before the manifest was typed: the firmware scan reports it as bad input.
    """
    value = obj.get(key, [])
    if not isinstance(value, list | tuple) or not all(isinstance(item, Mapping) for item in value):
        raise TypeError(f"'{key}' is not a list of objects")
    return [item for item in value if isinstance(item, Mapping)]


def json_part(obj: JsonObject, key: str, *, falsy_is_empty: bool = False) -> JsonObject:
    """``obj[key]`` as an object, ``{}`` when absent (or, with ``falsy_is_empty``, null or empty); ``TypeError``
    otherwise."""
    value = obj.get(key, {})
    if falsy_is_empty and not value:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"'{key}' is not an object")
    return value


def json_texts(obj: JsonObject, key: str) -> list[str]:
    """``obj[key]`` as a list of strings (flags, region names), ``[]`` when absent; ``TypeError`` otherwise."""
    value = obj.get(key, [])
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise TypeError(f"'{key}' is not a list of strings")
    return [item for item in value if isinstance(item, str)]


def json_int(value: object) -> int:
    """``int(value)`` of a JSON number or numeric string, as the judges read sizes; ``TypeError`` for anything else
    (as ``int()`` of it raised before the manifest was typed)."""
    if not isinstance(value, str | int | float):
        raise TypeError(f"int() argument must be a string or a number, not {type(value).__name__!r}")
    return int(value)


def json_float(value: object) -> float:
    """``float(value)`` of a JSON number or numeric string (an entropy); ``TypeError`` for anything else."""
    if not isinstance(value, str | int | float):
        raise TypeError(f"float() argument must be a string or a real number, not {type(value).__name__!r}")
    return float(value)


def json_text(value: object) -> str:
    """A string field (a name, a certificate digest); ``TypeError`` for anything else."""
    if not isinstance(value, str):
        raise TypeError(f"expected a string, not {type(value).__name__!r}")
    return value


def json_hex(value: object) -> int:
    """``int(value, 16)`` of a hex address as the manifest writes it; ``TypeError`` for a non-string, as before."""
    if not isinstance(value, str):
        raise TypeError("int() can't convert non-string with explicit base")
    return int(value, 16)


def json_list(value: object, what: str) -> list[JsonValue]:
    """A JSON array (a list, or a tuple built in-process); ``TypeError`` naming ``what`` otherwise."""
    if not isinstance(value, list | tuple):
        raise TypeError(f"'{what}' is not a list")
    return list(value)


@dataclass(frozen=True)
class DeclaredFirmware:
    """A firmware manifest and where it came from."""

    manifest: DeclaredManifest
    source: str
    envelope: Envelope | None = None  # when the statement was signed (not yet verified)
    subjects: tuple[Subject, ...] = ()  # of the statement, if any
    matched_by: str = "only"  # digest | name | only (a plain predicate or the file's single statement)

    @property
    def predicate(self) -> JsonObject:
        return self.manifest.document


def _statement_manifest(statement: Statement, where: str) -> DeclaredManifest:
    if statement.predicate_type != FIRMWARE_MANIFEST:
        raise BadInputError(f"{where}: statement predicateType is {statement.predicate_type!r}, "
                            f"expected {FIRMWARE_MANIFEST}")
    return DeclaredManifest.from_predicate(statement.predicate, where)


def read_declared_firmware(path: Path, image: Path | None = None) -> DeclaredFirmware:
    """The firmware manifest in ``path`` that declares ``image``; ``BadInputError`` (exit 2) when there is none."""
    where = str(path)
    try:
        data = read_limited(path, limit=MAX_MANIFEST_FILE, what="manifest")
        try:
            # The strict reader: a key written twice, a lone surrogate or a number beyond 2**53 would be read
            # differently by another parser, so a manifest holding one is refused rather than guessed at.
            document = strict_json.loads(data, f"manifest {path}")
        except strict_json.JsonSyntaxError as exc:
            if b"\n" not in data.strip():
                raise BadInputError(str(exc)) from None
            document = None  # several lines: a release's .intoto.jsonl, read statement by statement below
        if isinstance(document, dict) and "payload" in document and "payloadType" in document:
            envelope = parse_envelope(document, where)
            statement = parse_statement(envelope.payload)
            return _pick([(statement, envelope)], image, where)
        if isinstance(document, dict) and "predicateType" in document:
            # An unsigned Statement is only a wrapper around the predicate the operator chose: its
            # subject is not held against the image (nothing vouches for it), its type is.
            if document.get("predicateType") != FIRMWARE_MANIFEST:
                raise BadInputError(f"{where}: statement predicateType is {document.get('predicateType')!r}, "
                                    f"expected {FIRMWARE_MANIFEST}")
            return DeclaredFirmware(DeclaredManifest.from_predicate(document.get("predicate"), where), where)
        if document is not None:
            return DeclaredFirmware(DeclaredManifest.from_predicate(document, where), where)
        candidates: list[tuple[Statement, Envelope]] = []
        for item in parse_documents(data, where):
            if not isinstance(item, Envelope):
                continue  # a Sigstore bundle or a metablock carries no firmware manifest for us
            statement = parse_statement(item.payload)
            if statement.predicate_type == FIRMWARE_MANIFEST:
                candidates.append((statement, item))
    except AttestationError as exc:
        raise BadInputError(f"manifest {path}: {exc}") from exc
    if not candidates:
        raise BadInputError(f"{path} holds no {FIRMWARE_MANIFEST} statement")
    return _pick(candidates, image, where)


def _pick(candidates: Sequence[tuple[Statement, Envelope]], image: Path | None, where: str) -> DeclaredFirmware:
    def made(statement: Statement, envelope: Envelope, how: str) -> DeclaredFirmware:
        return DeclaredFirmware(_statement_manifest(statement, where), where, envelope, statement.subjects, how)

    if image is None:
        if len(candidates) > 1:
            raise BadInputError(f"{where} holds {len(candidates)} firmware manifests; say which image is scanned")
        return made(*candidates[0], "only")
    digests = digest_file(image)
    by_digest = [c for c in candidates if any(subject_matches(s, digests) for s in c[0].subjects)]
    if by_digest:
        # Several statements for the same bytes must agree, or the choice would decide the verdict.
        predicates = {json.dumps(c[0].predicate, sort_keys=True) for c in by_digest}
        if len(predicates) > 1:
            raise BadInputError(f"{where} holds {len(by_digest)} different firmware manifests for {image.name}'s "
                                "digest; which one is declared is ambiguous")
        return made(*by_digest[0], "digest")
    by_name = [c for c in candidates if any(Path(s.name).name == image.name for s in c[0].subjects)]
    if len(by_name) == 1:
        return made(*by_name[0], "name")
    if len(by_name) > 1:
        raise BadInputError(f"{where} holds {len(by_name)} firmware manifests named {image.name} and none for its "
                            f"digest (sha256 {digests['sha256'][:16]}…)")
    if len(candidates) == 1 and candidates[0][0].subjects:
        statement = candidates[0][0]
        names = ", ".join(s.name for s in statement.subjects)
        raise BadInputError(f"the firmware manifest in {where} declares {names}, not {image.name} "
                            f"(sha256 {digests['sha256'][:16]}…)")
    raise BadInputError(f"no firmware manifest in {where} declares {image.name} by digest "
                        f"(sha256 {digests['sha256'][:16]}…) or by name")


def provenance_findings(declared: DeclaredFirmware, image: Path, key_paths: Sequence[Path]) -> list[Finding]:
    """Whether the manifest is the vendor's (``--key``) and declares these very bytes.

    Without keys nothing is claimed: the finding says the manifest is unverified.
    """
    subject = image.name
    out: list[Finding] = []
    if declared.matched_by == "digest":
        names = ", ".join(s.name for s in declared.subjects)
        out.append(passed("firmware.subject", f"{image.name} is the image the manifest statement declares "
                          f"as {names} (by digest)", subject, declared=[s.to_json() for s in declared.subjects]))
    elif declared.matched_by == "name":
        out.append(failed("firmware.subject", f"{image.name} is not the image the manifest declares under that name "
                          "(its digest differs); it is scanned against the declared manifest to show what changed",
                          subject, declared=[s.to_json() for s in declared.subjects]))
    if not key_paths:
        out.append(skipped("firmware.manifest-signature",
                           f"the manifest from {Path(declared.source).name} is unverified: its signature was not "
                           "checked (give --key VENDOR.pub, or use 'provcheck intake')", subject, required=False))
        return out
    if declared.envelope is None:
        out.append(failed("firmware.manifest-signature", f"--key was given but the manifest from "
                          f"{Path(declared.source).name} carries no signature", subject))
        return out
    try:
        keys = [key for path in key_paths for key in load_public_keys(path)]
    except AttestationError as exc:
        raise BadInputError(str(exc)) from exc
    check = verify_signatures(declared.envelope, keys)
    if check.distinct_valid:
        out.append(passed("firmware.manifest-signature", f"the manifest statement is signed by "
                          f"{', '.join(k[:16] for k in check.valid_keyids)}", subject,
                          keyids=list(check.valid_keyids)))
    else:
        out.append(failed("firmware.manifest-signature", "the manifest statement is not signed by any given --key "
                          f"({check.signature_count} signature(s), none valid for those keys)", subject))
    return out
