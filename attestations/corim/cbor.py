"""Strict, bounded CBOR for CoRIM: cbor2 cannot enforce a profile, so a bounded scan of the encoded items runs first.

cbor2 expands every tag it knows (bignums, shared values, string references, embedded CBOR...) and sizes a list
from its declared length before any hook of ours sees it. ``decode`` therefore walks the encoded structure once,
without recursion and without building anything, and refuses:

- a tag CoRIM does not use (``ALLOWED_TAGS``): an unknown tag is bad input, not something to skip;
- nesting deeper than ``MAX_DEPTH``, more than ``MAX_ITEMS`` items, input larger than ``MAX_SIZE``, more than
  ``MAX_TAGS_IN_A_ROW`` tags on one item;
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
MAX_TAGS_IN_A_ROW = 2

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


def check_profile(data: bytes, *, what: str = "CBOR") -> None:
    """Raise ``CorimFormatError`` (path ``what``, naming the byte offset) unless ``data`` is one item in the profile."""
    end = len(data)
    if end > MAX_SIZE:
        raise CorimFormatError(what, f"{end} bytes is over the {MAX_SIZE}-byte limit")
    pos = 0
    items = 0
    indefinite = 0
    tags_in_a_row = 0
    # Each open container (or indefinite string) is [remaining, index, keys, chunk_major]: ``remaining`` is -1 when
    # indefinite, ``keys`` the keys a map has seen (None for arrays), ``chunk_major`` -1 unless an indefinite string.
    stack: list[list[Any]] = []
    top: list[Any] | None = None

    def fail(message: str, at: int) -> CorimFormatError:
        return CorimFormatError(what, f"{message} (at byte {at})")

    while True:
        if pos >= end:
            raise fail("CBOR item cut short", pos)
        start = pos
        initial = data[pos]
        pos += 1
        major = initial >> 5
        info = initial & 0x1F
        at_key = False
        if top is not None:
            if initial == 0xFF:
                if tags_in_a_row or top[0] != _INDEFINITE:
                    raise fail("CBOR 'break' outside an indefinite-length item", start)
                if top[2] is not None and top[1] & 1:
                    raise fail("CBOR map ends after a key without its value", start)
                stack.pop()
                if _finish(stack):
                    break
                top = stack[-1]
                continue
            if top[3] >= 0 and (major != top[3] or info == 31):
                raise fail("CBOR indefinite-length string holds something other than definite chunks", start)
            if top[2] is not None and not top[1] & 1 and not tags_in_a_row:
                if major > 1 and major != 3:
                    raise fail("CBOR map key is not an integer or text", start)
                at_key = True
        elif initial == 0xFF:
            raise fail("CBOR 'break' outside an indefinite-length item", start)
        if info < 24:
            argument = info
        elif info <= 27:
            size = 1 << (info - 24)
            if pos + size > end:
                raise fail("CBOR item cut short", start)
            argument = int.from_bytes(data[pos : pos + size], "big")
            pos += size
        elif info == 31 and 2 <= major <= 5:
            argument = _INDEFINITE
        else:
            raise fail(f"malformed CBOR head 0x{initial:02x}", start)
        if at_key:
            # A map key: an integer or definite text. cbor2 would keep the last of two equal keys, so we refuse.
            if argument == _INDEFINITE:
                raise fail("CBOR map key is indefinite-length text", start)
            key: tuple[int, int | bytes] = (
                (0, argument) if major == 0 else (0, -1 - argument) if major == 1 else (3, data[pos : pos + argument])
            )
            assert top is not None
            if key in top[2]:
                raise fail("duplicate CBOR map key", start)
            top[2].add(key)
        items += 1
        if items > MAX_ITEMS:
            raise fail(f"more than {MAX_ITEMS} CBOR items", start)
        if major == 6:
            if argument not in ALLOWED_TAGS:
                raise fail(f"CBOR tag {argument} is not one CoRIM uses", start)
            # A tag and its content fill one slot of the enclosing container: nothing to push. CoRIM never stacks
            # more than two tags on one item (18 around nothing else, 506 around bytes, 563 around an array).
            tags_in_a_row += 1
            if tags_in_a_row > MAX_TAGS_IN_A_ROW:
                raise fail(f"more than {MAX_TAGS_IN_A_ROW} CBOR tags on one item", start)
            continue
        tags_in_a_row = 0
        if major == 7:
            if not (20 <= info <= 22 or 25 <= info <= 27):
                raise fail(f"CBOR simple value 0x{initial:02x} is not allowed", start)
        elif major >= 2:
            if argument == _INDEFINITE:
                if len(stack) >= MAX_DEPTH:
                    raise fail(f"CBOR nesting deeper than {MAX_DEPTH} levels", start)
                indefinite += 1
                if indefinite > MAX_INDEFINITE:
                    raise fail(f"more than {MAX_INDEFINITE} indefinite-length items", start)
                top = [_INDEFINITE, 0, set() if major == 5 else None, major if major <= 3 else -1]
                stack.append(top)
                continue
            if major <= 3:
                if argument > end - pos:
                    raise fail(f"CBOR string declares {argument} bytes but only {end - pos} follow", start)
                pos += argument
            else:
                if len(stack) >= MAX_DEPTH:
                    raise fail(f"CBOR nesting deeper than {MAX_DEPTH} levels", start)
                count = argument * 2 if major == 5 else argument
                if count > end - pos:
                    raise fail(f"CBOR container declares {argument} entries but only {end - pos} bytes follow", start)
                if count:
                    top = [count, 0, set() if major == 5 else None, -1]
                    stack.append(top)
                    continue
        # A leaf (or an empty container) is complete; the common case, a definite container with more to come,
        # is counted here without a call.
        if top is None:
            break
        top[1] += 1
        if top[0] == _INDEFINITE:
            continue
        top[0] -= 1
        if top[0]:
            continue
        stack.pop()
        if _finish(stack):
            break
        top = stack[-1]
    if pos != end:
        raise fail(f"{end - pos} byte(s) after the CBOR item", pos)


def _finish(stack: list[list[Any]]) -> bool:
    """Count one completed container in the open ones; True when the top-level item is complete."""
    while stack:
        top = stack[-1]
        top[1] += 1
        if top[0] == _INDEFINITE:
            return False
        top[0] -= 1
        if top[0]:
            return False
        stack.pop()
    return True


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
