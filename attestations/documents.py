"""What an attestation file holds: DSSE envelopes, Sigstore bundles, or many of them as JSON lines.

Files are sniffed, not trusted by name: ``.intoto.jsonl`` files in the wild hold
plain envelopes (slsa-github-generator, provcheck) or whole Sigstore bundles
(GitHub's attest-build-provenance).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attestations.dsse import Envelope, parse_envelope
from attestations.errors import InputError, UnsupportedError
from attestations.files import DEFAULT_LIMIT, read_limited
from attestations.sigstore_bundle import looks_like_sigstore_bundle

#: Enough for 10^5 statements in one file; the JSON parser's own depth limit bounds nesting.
MAX_DOCUMENTS = 100_000


@dataclass(frozen=True)
class SigstoreBundleDocument:
    """A Sigstore bundle as read from a file, to be verified by ``attestations.sigstore_bundle``."""

    raw: bytes = field(repr=False)
    source: str
    media_type: str


@dataclass(frozen=True)
class MetablockDocument:
    """A classic in-toto Metablock (layout or link), verified through the in-toto library."""

    obj: Any = field(repr=False)
    source: str


Document = Envelope | SigstoreBundleDocument | MetablockDocument


def classify(obj: Any, raw: bytes, source: str) -> Document:
    if looks_like_sigstore_bundle(obj):
        return SigstoreBundleDocument(raw=raw, source=source, media_type=str(obj["mediaType"]))
    if isinstance(obj, dict) and "payload" in obj:
        return parse_envelope(obj, source)
    if isinstance(obj, dict) and "signed" in obj and "signatures" in obj:
        return MetablockDocument(obj=obj, source=source)
    if isinstance(obj, dict) and "_type" in obj and "subject" in obj:
        raise InputError(f"{source}: an unsigned in-toto statement; provcheck accepts only signed statements")
    raise UnsupportedError(f"{source}: neither a DSSE envelope, a Sigstore bundle, nor an in-toto metablock")


def parse_documents(data: bytes, source: str) -> list[Document]:
    """Every document in ``data``: one JSON value, or one per line (JSON lines)."""
    text = data.lstrip()
    if not text:
        raise InputError(f"{source} is empty")
    try:
        obj = json.loads(data)
    except UnicodeDecodeError:
        raise InputError(f"{source} is not UTF-8 JSON") from None
    except RecursionError:
        raise InputError(f"{source} is nested too deeply to be an attestation") from None
    except ValueError:
        obj = None
    else:
        return [classify(obj, data, source)]
    documents: list[Document] = []
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{source}:{number}"
        try:
            obj = json.loads(line)
        except (ValueError, RecursionError):
            raise InputError(f"{where} is not valid JSON") from None
        documents.append(classify(obj, line, where))
        if len(documents) > MAX_DOCUMENTS:
            raise InputError(f"{source} holds more than {MAX_DOCUMENTS} documents")
    if not documents:
        raise InputError(f"{source} holds no attestation")
    return documents


def read_documents(path: Path, *, limit: int = DEFAULT_LIMIT) -> list[Document]:
    return parse_documents(read_limited(path, limit=limit, what="attestation"), str(path))
