"""Strict, bounded CBOR for CoRIM: cbor2 cannot enforce a profile, so a bounded scan of the encoded items runs first.

cbor2 expands every tag it knows (bignums, shared values, string references, embedded CBOR...) and sizes a list
from its declared length before any hook of ours sees it. ``decode`` therefore walks the encoded structure once,
without recursion and without building anything, and refuses:

- a tag CoRIM does not use (``ALLOWED_TAGS``): an unknown tag is bad input, not something to skip;
- nesting deeper than ``MAX_DEPTH``, more than ``MAX_ITEMS`` items, input larger than ``MAX_SIZE``;
- more than ``MAX_INDEFINITE`` indefinite-length items (deterministic encoders never write them);
- a declared length the remaining bytes cannot hold (nothing is allocated from it);
- map keys other than integers and text, simple values other than false/true/null, malformed heads,
  and bytes after the item;
and two equal keys in one map (cbor2 would silently keep the last). Then cbor2 decodes.
The same style as ``hw/device_cbor.py`` (which this
package may not import: ``attestations`` and ``hw`` are independent).
"""

from __future__ import annotations

from typing import Any

from attestations.corim.errors import CorimFormatError

MAX_SIZE = 4 * 1024 * 1024
MAX_DEPTH = 48
MAX_ITEMS = 200_000
MAX_INDEFINITE = 16

#: The tags CoRIM, CoMID, CoEV and their COSE envelope use.
ALLOWED_TAGS: dict[int, str] = {
    1: "epoch time",
    18: "COSE_Sign1",
    32: "URI",
    37: "UUID",
    111: "OID",
    501: "tagged-corim-map",
    505: "CoSWID",
    506: "CoMID",
    508: "CoTL",
    550: "UEID",
    552: "svn",
    553: "min-svn",
    554: "pkix-base64-key",
    555: "pkix-base64-cert",
    556: "pkix-base64-cert-path",
    557: "key-thumbprint",
    558: "cose-key",
    559: "cert-thumbprint",
    560: "tagged-bytes",
    561: "cert-path-thumbprint",
    562: "pkix-asn1der-cert",
    563: "masked-raw-value",
    564: "int-range",
    571: "concise-evidence",
}
_INDEFINITE = -1


class _Open:
    __slots__ = ("chunk_major", "index", "is_map", "keys", "remaining")

    def __init__(self, remaining: int, *, is_map: bool = False, chunk_major: int | None = None) -> None:
        self.remaining = remaining
        self.is_map = is_map
        self.index = 0
        self.chunk_major = chunk_major
        self.keys: set[tuple[int, int | bytes]] | None = set() if is_map else None


def check_profile(data: bytes, *, what: str = "CBOR") -> None:
    """Raise ``CorimFormatError`` (path ``what``, naming the byte offset) unless ``data`` is one item in the profile."""
    end = len(data)
    if end > MAX_SIZE:
        raise CorimFormatError(what, f"{end} bytes is over the {MAX_SIZE}-byte limit")
    pos = 0
    items = 0
    indefinite = 0
    stack: list[_Open] = []

    def fail(message: str, at: int) -> CorimFormatError:
        return CorimFormatError(what, f"{message} (at byte {at})")

    def finish() -> bool:
        while stack:
            top = stack[-1]
            top.index += 1
            if top.remaining == _INDEFINITE:
                return False
            top.remaining -= 1
            if top.remaining:
                return False
            stack.pop()
        return True

    while True:
        if pos >= end:
            raise fail("CBOR item cut short", pos)
        start = pos
        initial = data[pos]
        pos += 1
        major, info = initial >> 5, initial & 0x1F
        top = stack[-1] if stack else None
        if initial == 0xFF:
            if top is None or top.remaining != _INDEFINITE:
                raise fail("CBOR 'break' outside an indefinite-length item", start)
            if top.is_map and top.index % 2:
                raise fail("CBOR map ends after a key without its value", start)
            stack.pop()
            if finish():
                break
            continue
        if top is not None and top.chunk_major is not None and (major != top.chunk_major or info == 31):
            raise fail("CBOR indefinite-length string holds something other than definite chunks", start)
        if top is not None and top.is_map and top.index % 2 == 0 and major not in (0, 1, 3):
            raise fail("CBOR map key is not an integer or text", start)
        if info < 24:
            argument = info
        elif info <= 27:
            size = 1 << (info - 24)
            if pos + size > end:
                raise fail("CBOR item cut short", start)
            argument = int.from_bytes(data[pos : pos + size], "big")
            pos += size
        elif info == 31 and major in (2, 3, 4, 5):
            argument = _INDEFINITE
        else:
            raise fail(f"malformed CBOR head 0x{initial:02x}", start)
        if top is not None and top.keys is not None and top.index % 2 == 0:
            # A map key: an integer or definite text. cbor2 would keep the last of two equal keys, so we refuse.
            if major == 3 and argument == _INDEFINITE:
                raise fail("CBOR map key is indefinite-length text", start)
            key: tuple[int, int | bytes] = (
                (0, argument) if major == 0 else (0, -1 - argument) if major == 1 else (3, data[pos : pos + argument])
            )
            if key in top.keys:
                raise fail("duplicate CBOR map key", start)
            top.keys.add(key)
        items += 1
        if items > MAX_ITEMS:
            raise fail(f"more than {MAX_ITEMS} CBOR items", start)
        if major == 6:
            if argument not in ALLOWED_TAGS:
                raise fail(f"CBOR tag {argument} is not one CoRIM uses", start)
            if len(stack) >= MAX_DEPTH:
                raise fail(f"CBOR nesting deeper than {MAX_DEPTH} levels", start)
            stack.append(_Open(1))
            continue
        if major == 7 and not (20 <= info <= 22 or 25 <= info <= 27):
            raise fail(f"CBOR simple value 0x{initial:02x} is not allowed", start)
        if major in (2, 3) and argument != _INDEFINITE:
            if argument > end - pos:
                raise fail(f"CBOR string declares {argument} bytes but only {end - pos} follow", start)
            pos += argument
        elif major in (2, 3, 4, 5):
            if len(stack) >= MAX_DEPTH:
                raise fail(f"CBOR nesting deeper than {MAX_DEPTH} levels", start)
            if argument == _INDEFINITE:
                indefinite += 1
                if indefinite > MAX_INDEFINITE:
                    raise fail(f"more than {MAX_INDEFINITE} indefinite-length items", start)
                stack.append(_Open(_INDEFINITE, is_map=major == 5, chunk_major=major if major in (2, 3) else None))
                continue
            if major in (4, 5):
                count = argument * 2 if major == 5 else argument
                if count > end - pos:
                    raise fail(f"CBOR container declares {argument} entries but only {end - pos} bytes follow", start)
                if count:
                    stack.append(_Open(count, is_map=major == 5))
                    continue
        if finish():
            break
    if pos != end:
        raise fail(f"{end - pos} byte(s) after the CBOR item", pos)


def decode(data: bytes, *, what: str) -> Any:
    """``data`` decoded by cbor2 after ``check_profile``; every refusal is a ``CorimFormatError`` naming ``what``."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise CorimFormatError(what, "expected bytes")
    data = bytes(data)
    check_profile(data, what=what)
    import cbor2  # deferred (TID253)

    try:
        return cbor2.loads(data, max_depth=MAX_DEPTH * 2 + 2, str_errors="strict")
    except Exception as exc:  # cbor2 raises several types (CBORDecodeError, ValueError, OverflowError, ...)
        raise CorimFormatError(what, f"not valid CBOR: {str(exc)[:200]}") from None


def encode(value: Any) -> bytes:
    """Deterministic CBOR (RFC 8949 §4.2.1: shortest forms, definite lengths, map keys sorted by their encoding)."""
    import cbor2  # deferred (TID253)

    return bytes(cbor2.dumps(value, canonical=True, datetime_as_timestamp=True))
