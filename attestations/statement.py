"""in-toto Statements (v1, and v0.1 on input): subjects with digests, a predicate type and a predicate."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attestations.errors import InputError, UnsupportedError
from attestations.predicates import STATEMENT_V01, STATEMENT_V1

#: Digest algorithms provcheck can compute over a local file, strongest first.
FILE_DIGESTS = ("sha512", "sha384", "sha256")
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_HEX_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128, "sha1": 40}


@dataclass(frozen=True)
class Subject:
    name: str
    digests: Mapping[str, str]

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "digest": dict(sorted(self.digests.items()))}

    def short(self) -> str:
        alg = next((a for a in ("sha256", "sha512", "sha384") if a in self.digests), None)
        if alg is None and self.digests:
            alg = sorted(self.digests)[0]
        digest = f"{alg}:{self.digests[alg][:12]}…" if alg else "no digest"
        return f"{self.name} ({digest})"


@dataclass(frozen=True)
class Statement:
    statement_type: str
    subjects: tuple[Subject, ...]
    predicate_type: str
    predicate: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_legacy(self) -> bool:
        return self.statement_type == STATEMENT_V01


def canonical_json(obj: Any) -> bytes:
    """Sorted keys, no insignificant whitespace, UTF-8: the same value always gives the same bytes."""
    # A lone surrogate (valid JSON, from hostile evidence) has no UTF-8 form: written as the JSON escape
    # "\ud800", which reads back as the same string, instead of crashing the signer.
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8", "backslashreplace")


def digest_file(path: Path, algorithms: Iterable[str] = ("sha256", "sha512")) -> dict[str, str]:
    """Digests of the file at ``path``, read once."""
    hashers = {name: hashlib.new(name) for name in algorithms}
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                for hasher in hashers.values():
                    hasher.update(chunk)
    except FileNotFoundError:
        raise InputError(f"artifact {path} does not exist") from None
    except IsADirectoryError:
        raise InputError(f"artifact {path} is a directory, not a file") from None
    except OSError as exc:
        raise InputError(f"cannot read artifact {path}: {exc.strerror}") from None
    return {name: hasher.hexdigest() for name, hasher in hashers.items()}


def subject_for_file(path: Path, name: str | None = None) -> Subject:
    return Subject(name=name or path.name, digests=digest_file(path))


def build_statement(subjects: Sequence[Subject], predicate_type: str, predicate: Mapping[str, Any]) -> bytes:
    """An in-toto Statement v1 as canonical JSON bytes."""
    if not subjects:
        raise InputError("a statement needs at least one subject")
    return canonical_json(
        {
            "_type": STATEMENT_V1,
            "subject": [s.to_json() for s in subjects],
            "predicateType": predicate_type,
            "predicate": dict(predicate),
        }
    )


def _parse_subject(raw: Any, index: int) -> Subject:
    if not isinstance(raw, dict):
        raise InputError(f"statement subject #{index} is not an object")
    name = raw.get("name", "")
    digest = raw.get("digest")
    if not isinstance(name, str):
        raise InputError(f"statement subject #{index} has a name that is not a string")
    if not isinstance(digest, dict) or not digest:
        raise InputError(f"statement subject {name or index!r} has no digest")
    digests: dict[str, str] = {}
    for alg, value in digest.items():
        if not isinstance(alg, str) or not isinstance(value, str):
            raise InputError(f"statement subject {name!r} has a digest that is not a string")
        key = alg.lower().replace("-", "")
        if key in _HEX_LENGTHS:
            if not _HEX.match(value) or len(value) != _HEX_LENGTHS[key]:
                raise InputError(f"statement subject {name!r} has a malformed {alg} digest")
            value = value.lower()
            alg = key
        digests[alg] = value
    return Subject(name=name, digests=digests)


def parse_statement(payload: bytes) -> Statement:
    """The statement in a DSSE payload; ``InputError`` if it is not one."""
    try:
        obj = json.loads(payload)
    except (ValueError, RecursionError):
        raise InputError("the signed payload is not valid JSON") from None
    if not isinstance(obj, dict):
        raise InputError("the signed payload is not a JSON object")
    statement_type = obj.get("_type")
    if statement_type not in (STATEMENT_V1, STATEMENT_V01):
        raise UnsupportedError(
            f"the signed payload has _type {statement_type!r}; expected an in-toto Statement v1 or v0.1"
        )
    raw_subjects = obj.get("subject")
    if not isinstance(raw_subjects, list) or not raw_subjects:
        raise InputError("the statement has no subject")
    subjects = tuple(_parse_subject(raw, i) for i, raw in enumerate(raw_subjects))
    predicate_type = obj.get("predicateType")
    if not isinstance(predicate_type, str) or not predicate_type:
        raise InputError("the statement has no predicateType")
    predicate = obj.get("predicate", {})
    if predicate is None and statement_type == STATEMENT_V01:
        predicate = {}
    if not isinstance(predicate, dict):
        raise InputError("the statement's predicate is not a JSON object")
    return Statement(statement_type, subjects, predicate_type, predicate)


def common_digests(declared: Mapping[str, str], actual: Mapping[str, str]) -> list[str]:
    return [alg for alg in FILE_DIGESTS if alg in declared and alg in actual]


def subject_matches(subject: Subject, actual: Mapping[str, str]) -> bool | None:
    """True if every digest both sides have agrees; None if they share no algorithm."""
    shared = common_digests(subject.digests, actual)
    if not shared:
        return None
    return all(subject.digests[alg] == actual[alg] for alg in shared)
