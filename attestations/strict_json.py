"""JSON that every parser reads the same way: the reader for signed and signed-over documents.

A signature covers bytes; what a verifier trusts is the value it parses out of
them. Where parsers disagree about that value, one signed document can say two
things: Python's ``json`` keeps the last of two equal keys, other libraries keep
the first or refuse; Go's ``encoding/json`` matches struct fields without regard
to case, Unicode folding included (``PredicateType`` fills ``predicateType``, as
does ``subject`` spelled with U+017F LATIN SMALL LETTER LONG S); JavaScript reads integers beyond 2^53 as the nearest
double; Python alone accepts ``NaN`` and ``Infinity``; a lone surrogate escape
is kept by some, replaced by others. This reader refuses every such document, so
what provcheck verifies is the only reading there is.

Refused as ambiguous (``AmbiguousJsonError``): a key twice in one object (after
escapes are decoded, so ``"_typ\\u0065"`` is ``"_type"``), two keys equal under
Unicode case folding, a NUL in a key (C-string parsers cut it short), a lone
surrogate, ``NaN``/``Infinity``, an integer outside ±(2^53 - 1), a number too large
for a double. Refused as not JSON (``JsonSyntaxError``): anything Python's strict
parser rejects, trailing bytes after the value included. Input must be UTF-8
without a byte-order mark; ``json.loads`` would otherwise guess UTF-16 or UTF-32.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, NoReturn

from attestations.errors import InputError

#: Integers beyond this are not read exactly by parsers that hold numbers as IEEE doubles.
MAX_SAFE_INTEGER = 2**53 - 1
_MAX_INTEGER_TEXT = len(str(-MAX_SAFE_INTEGER))
#: A ``\u`` escape that can decode to a surrogate or to NUL: only then is a full walk of the value needed.
_SUSPECT_ESCAPE = re.compile(r"\\u(?:[dD][89a-fA-F]|0000)")


class AmbiguousJsonError(InputError):
    """Well-formed JSON that parsers would read differently."""


class JsonSyntaxError(InputError):
    """Not JSON at all (or JSON followed by something else)."""


class _Ambiguity(Exception):
    """Raised inside the parser's hooks; not a ``ValueError``, so ``json`` cannot mistake it for a syntax error."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    count = len(pairs)
    # One set of case-folded keys catches both: a key written twice folds to itself.
    if count > 1 and (len(obj) != count or len(set(map(str.casefold, obj))) != count):
        _explain_collision(pairs)
    return obj


def _explain_collision(pairs: list[tuple[str, Any]]) -> NoReturn:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise _Ambiguity(f"the key {key!r} appears twice in one object")
        seen.add(key)
    folded: dict[str, str] = {}
    for key, _ in pairs:
        other = folded.setdefault(key.casefold(), key)
        if other != key:
            raise _Ambiguity(
                f"the keys {other!r} and {key!r} differ only in case, and case-insensitive decoders "
                "(Go's encoding/json) read them as one"
            )
    raise AssertionError("a key collision was counted but not found")


def _integer(text: str) -> int:
    value = int(text) if len(text) <= _MAX_INTEGER_TEXT else None
    if value is None or abs(value) > MAX_SAFE_INTEGER:
        raise _Ambiguity(f"the integer {text[:24]}{'…' if len(text) > 24 else ''} is beyond ±2^53-1")
    return value


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Ambiguity(f"the number {text[:24]}{'…' if len(text) > 24 else ''} is too large for a double")
    return value


def _constant(text: str) -> Any:
    raise _Ambiguity(f"{text} is not JSON (only some parsers accept it)")


_DECODER = json.JSONDecoder(
    object_pairs_hook=_object, parse_int=_integer, parse_float=_float, parse_constant=_constant, strict=True
)


def _check_strings(value: Any) -> None:
    """No lone surrogate anywhere and no NUL in a key; iterative, so depth costs no stack."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            _check_text(item, "a string")
        elif isinstance(item, dict):
            for key, inner in item.items():
                _check_text(key, "a key")
                if "\x00" in key:
                    raise _Ambiguity(f"the key {key!r} holds a NUL, where C-string parsers would end it")
                pending.append(inner)
        elif isinstance(item, list):
            pending.extend(item)


def _check_text(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _Ambiguity(f"{what} holds a lone surrogate escape, which parsers decode differently") from None


def decode_text(data: bytes | str, what: str) -> str:
    """``data`` as text: UTF-8 only, without a byte-order mark."""
    if isinstance(data, bytes):
        if data.startswith(b"\xef\xbb\xbf"):
            raise AmbiguousJsonError(f"{what} is not valid JSON: it starts with a UTF-8 byte-order mark")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            offset = exc.start
            raise AmbiguousJsonError(f"{what} is not valid JSON: not UTF-8 (invalid byte at offset {offset})") from None
    if data.startswith("\ufeff"):
        raise AmbiguousJsonError(f"{what} is not valid JSON: it starts with a byte-order mark")
    return data


def loads(data: bytes | str, what: str) -> Any:
    """The one value ``data`` holds; ``JsonSyntaxError`` or ``AmbiguousJsonError`` (both ``InputError``) if none."""
    text = decode_text(data, what)
    try:
        value = _DECODER.decode(text)
    except _Ambiguity as exc:
        raise AmbiguousJsonError(f"{what} is ambiguous JSON: {exc}") from None
    except json.JSONDecodeError as exc:
        raise JsonSyntaxError(f"{what} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise JsonSyntaxError(f"{what} is nested too deeply") from None
    except ValueError as exc:
        # int() refusing a number too long to convert, among others.
        raise JsonSyntaxError(f"{what} is not valid JSON ({str(exc)[:120]})") from None
    if _SUSPECT_ESCAPE.search(text):
        try:
            _check_strings(value)
        except _Ambiguity as exc:
            raise AmbiguousJsonError(f"{what} is ambiguous JSON: {exc}") from None
    return value


def loads_object(data: bytes | str, what: str) -> dict[str, Any]:
    """Like ``loads``, and the value must be a JSON object."""
    value = loads(data, what)
    if not isinstance(value, dict):
        raise InputError(f"{what} is not a JSON object")
    return value
