"""in-toto Statements (v1, and v0.1 on input): subjects with digests, a predicate type and a predicate."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attestations import strict_json
from attestations.errors import InputError, UnsupportedError
from attestations.predicates import STATEMENT_V01, STATEMENT_V1

#: Digest algorithms provcheck can compute over a local file, strongest first.
FILE_DIGESTS = ("sha512", "sha384", "sha256")
_HEX = re.compile(r"[0-9a-fA-F]+")
#: Hex lengths of the in-toto DigestSet algorithms whose values are hex of a fixed length (git ids: SHA-1 or SHA-256).
_HEX_LENGTHS: dict[str, tuple[int, ...]] = {
    "sha1": (40,),
    "sha224": (56,),
    "sha256": (64,),
    "sha384": (96,),
    "sha512": (128,),
    "sha512_224": (56,),
    "sha512_256": (64,),
    "sha3_224": (56,),
    "sha3_256": (64,),
    "sha3_384": (96,),
    "sha3_512": (128,),
    "md5": (32,),
    "sm3": (64,),
    "ripemd160": (40,),
    "gitcommit": (40, 64),
    "gittree": (40, 64),
    "gitblob": (40, 64),
    "gittag": (40, 64),
}
#: Spellings of one algorithm that tools write (``SHA-256``, ``sha_256``, ``sha3-256``, ``sha512/256``).
_SHA_ALIAS = re.compile(r"sha[-_]?(1|224|256|384|512)|sha3[-_]?(224|256|384|512)|sha[-_]?512[-_/](224|256)")
_DIGEST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_./+-]*")


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
    """An in-toto Statement v1 as canonical JSON bytes.

    ``InputError`` if the predicate holds something the strict reader refuses (NaN, an integer beyond 2^53,
    keys equal but for case): provcheck never signs what it, or another verifier, would read otherwise.
    """
    if not subjects:
        raise InputError("a statement needs at least one subject")
    try:
        encoded = canonical_json(
            {
                "_type": STATEMENT_V1,
                "subject": [s.to_json() for s in subjects],
                "predicateType": predicate_type,
                "predicate": dict(predicate),
            }
        )
    except ValueError as exc:
        raise InputError(f"refusing to sign: the predicate is not JSON ({exc})") from None
    try:
        parse_statement(encoded)
    except InputError as exc:
        raise InputError(f"refusing to sign what a verifier would refuse: {exc}") from None
    return encoded


def digest_algorithm(name: str) -> str:
    """The one spelling of a digest algorithm: lower case, ``SHA-256``/``sha_256`` as ``sha256``.

    ``InputError`` for a name no tool would write (empty, whitespace, non-ASCII): a reader that trims or folds
    it would see an algorithm this one does not.
    """
    if not _DIGEST_NAME.fullmatch(name):
        raise InputError(f"the digest algorithm name {name!r} is malformed")
    lowered = name.lower()
    alias = _SHA_ALIAS.fullmatch(lowered)
    if alias is None:
        return lowered
    if alias.group(1):
        return f"sha{alias.group(1)}"
    if alias.group(2):
        return f"sha3_{alias.group(2)}"
    return f"sha512_{alias.group(3)}"


def normalise_digests(raw: Any, where: str) -> dict[str, str]:
    """A DigestSet with one spelling per algorithm and lower-case hex; ``InputError`` if it can mean two things.

    A hex algorithm's value must be hex of its length. Two spellings of one algorithm (``sha256`` and
    ``SHA-256``) with different values are refused: which one a reader takes would depend on the reader.
    """
    if not isinstance(raw, dict):
        raise InputError(f"{where} has a digest that is not an object")
    digests: dict[str, str] = {}
    for name, value in raw.items():
        if not isinstance(value, str):
            raise InputError(f"{where} has a {name} digest that is not a string")
        try:
            algorithm = digest_algorithm(name)
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None
        lengths = _HEX_LENGTHS.get(algorithm)
        if lengths is not None:
            if not _HEX.fullmatch(value) or len(value) not in lengths:
                wanted = " or ".join(str(n) for n in lengths)
                raise InputError(f"{where} has a malformed {name} digest (expected {wanted} hex digits)")
            value = value.lower()
        if digests.setdefault(algorithm, value) != value:
            raise InputError(f"{where} names the {algorithm} digest twice, with different values")
    return digests


def _parse_subject(raw: Any, index: int) -> Subject:
    if not isinstance(raw, dict):
        raise InputError(f"statement subject #{index} is not an object")
    name = raw.get("name", "")
    digest = raw.get("digest")
    if not isinstance(name, str):
        raise InputError(f"statement subject #{index} has a name that is not a string")
    if not isinstance(digest, dict) or not digest:
        raise InputError(f"statement subject {name or index!r} has no digest")
    return Subject(name=name, digests=normalise_digests(digest, f"statement subject {name or index!r}"))


def _check_subject_names(subjects: Sequence[Subject]) -> None:
    """One name, one artifact: a name listed twice with digests that disagree says two things about it."""
    by_name: dict[str, Subject] = {}
    for subject in subjects:
        if not subject.name:
            continue
        other = by_name.setdefault(subject.name, subject)
        if other is not subject and any(
            other.digests[alg] != subject.digests[alg] for alg in other.digests.keys() & subject.digests.keys()
        ):
            raise InputError(f"the statement lists subject {subject.name!r} twice, with different digests")


def parse_statement(payload: bytes, source: str = "") -> Statement:
    """The statement in a DSSE payload; ``InputError`` if it is not one, or could be read as another.

    The payload is read with the strict reader (``attestations.strict_json``): a duplicate key anywhere, in
    the statement or deep in its predicate, is bad input, since parsers would differ on what was signed.
    """
    obj = strict_json.loads_object(payload, f"{source}: the signed payload" if source else "the signed payload")
    statement_type = obj.get("_type")
    if statement_type not in (STATEMENT_V1, STATEMENT_V01):
        raise UnsupportedError(
            f"the signed payload has _type {statement_type!r}; expected an in-toto Statement v1 or v0.1"
        )
    raw_subjects = obj.get("subject")
    if not isinstance(raw_subjects, list) or not raw_subjects:
        raise InputError("the statement has no subject")
    subjects = tuple(_parse_subject(raw, i) for i, raw in enumerate(raw_subjects))
    _check_subject_names(subjects)
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
