"""What an attestation file holds: DSSE envelopes, Sigstore bundles, or many of them as JSON lines.

Files are sniffed, not trusted by name: ``.intoto.jsonl`` files in the wild hold
plain envelopes (slsa-github-generator, provcheck) or whole Sigstore bundles
(GitHub's attest-build-provenance).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attestations import strict_json
from attestations.dsse import Envelope, parse_envelope
from attestations.errors import InputError, UnsupportedError
from attestations.files import DEFAULT_LIMIT, read_limited
from attestations.sigstore.bundle import looks_like_sigstore_bundle

#: Enough for 10^5 statements in one file; the JSON parser's own depth limit bounds nesting.
MAX_DOCUMENTS = 100_000


@dataclass(frozen=True)
class SigstoreBundleDocument:
    """A Sigstore bundle as read from a file, to be verified by ``attestations.sigstore``."""

    raw: bytes = field(repr=False)
    source: str
    media_type: str


@dataclass(frozen=True)
class MetablockDocument:
    """A classic in-toto Metablock (layout or link), verified through the in-toto library."""

    obj: Any = field(repr=False)
    source: str


Document = Envelope | SigstoreBundleDocument | MetablockDocument


#: Top-level keys only a Sigstore bundle has; an object carrying marks of two kinds of document means two things.
_BUNDLE_KEYS = ("mediaType", "verificationMaterial", "dsseEnvelope", "messageSignature")


def _kinds(obj: dict[str, Any]) -> list[str]:
    """The kinds of document ``obj`` carries the marks of (``signatures`` is shared by envelopes and metablocks)."""
    kinds = []
    if any(key in obj for key in _BUNDLE_KEYS):
        kinds.append("a Sigstore bundle")
    if "payload" in obj or "payloadType" in obj:
        kinds.append("a DSSE envelope")
    if "signed" in obj:
        kinds.append("an in-toto metablock")
    return kinds


def classify(obj: Any, raw: bytes, source: str) -> Document:
    if isinstance(obj, dict):
        kinds = _kinds(obj)
        if len(kinds) > 1:
            # Each verifier would pick the part it knows: a document must be one thing.
            raise InputError(f"{source}: the document is at once {' and '.join(kinds)}; provcheck reads only one")
    if looks_like_sigstore_bundle(obj):
        return SigstoreBundleDocument(raw=raw, source=source, media_type=str(obj["mediaType"]))
    if isinstance(obj, dict) and "payload" in obj:
        return parse_envelope(obj, source)
    if isinstance(obj, dict) and "signed" in obj and "signatures" in obj:
        return MetablockDocument(obj=obj, source=source)
    if isinstance(obj, dict) and "_type" in obj and "subject" in obj:
        raise InputError(f"{source}: an unsigned in-toto statement; provcheck accepts only signed statements")
    raise UnsupportedError(f"{source}: neither a DSSE envelope, a Sigstore bundle, nor an in-toto metablock")


def _lines(data: bytes) -> list[tuple[int, bytes]]:
    """JSON lines, split on LF only (a CR before it is tolerated): what every JSON-lines reader agrees on."""
    out = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        line = line.removesuffix(b"\r")
        if line.strip(b" \t\r"):
            out.append((number, line))
    return out


def parse_documents(data: bytes, source: str) -> list[Document]:
    """Every document in ``data``: one JSON value, or one per line (JSON lines).

    Every document is read with the strict reader (``attestations.strict_json``): a duplicate key, a lone
    surrogate or a number parsers disagree on is bad input wherever it is, envelope or bundle alike.
    """
    if not data.strip(b" \t\r\n"):
        raise InputError(f"{source} is empty")
    try:
        obj = strict_json.loads(data, source)
    except strict_json.JsonSyntaxError:
        lines = _lines(data)
        if len(lines) < 2:
            raise  # a single value that does not parse: say why, rather than call line 1 broken
        return _parse_lines(lines, source)
    return [classify(obj, data, source)]


def _parse_lines(lines: list[tuple[int, bytes]], source: str) -> list[Document]:
    if len(lines) > MAX_DOCUMENTS:
        raise InputError(f"{source} holds more than {MAX_DOCUMENTS} documents")
    documents: list[Document] = []
    for number, line in lines:
        where = f"{source}:{number}"
        documents.append(classify(strict_json.loads(line, where), line, where))
    return documents


def read_documents(path: Path, *, limit: int = DEFAULT_LIMIT) -> list[Document]:
    return parse_documents(read_limited(path, limit=limit, what="attestation"), str(path))
