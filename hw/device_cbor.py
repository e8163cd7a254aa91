"""Strict CBOR for what a device sends: cbor2 cannot enforce the profile, so a bounded scan of the structure runs first.

cbor2 expands shared references (tags 28/29), string references (tags 25/256), bignums (tags 2/3) and
the other tags it knows before any hook of ours sees the value, and sizes a list from its declared
length. A 191-byte frame of nested shared references decoded to a value whose text took 52 s and
888 MiB. So ``decode_device_cbor`` first walks the encoded items without building anything, in one
pass with no recursion, and refuses:

- any tag at all: docs/attest-protocol.md §4 uses none (no shared values, no bignums, no embedded CBOR);
- nesting deeper than ``MAX_DEPTH`` containers, or more than ``max_items`` items;
- a length the remaining bytes cannot hold (a huge declared length never reaches an allocator);
- map keys other than definite-length text or byte strings, and a key written twice in one map (checked here on
  the encoded bytes, which for definite-length UTF-8 or byte strings are the value itself: cbor2 before 6.x, which
  ``cwt`` requires, keeps the last of duplicate keys silently);
- simple values other than false/true/null/undefined, malformed heads, and bytes after the item.

What passes decodes to at most ``max_items`` Python objects whose strings together hold fewer bytes
than the input: the work is linear in the input's size whatever its shape, so the per-read timeout
and the session deadline, checked around each decode, hold.
"""

from __future__ import annotations

from typing import Any

from hw.errors import DeviceProtocolError

#: The protocol's deepest message is three containers (payload -> identity -> macs); unknown keys get room.
MAX_DEPTH = 16
#: A frame body is at most 4096 bytes; each item takes at least one.
MAX_ITEMS = 4096

_TAG_NAMES = {
    2: "a bignum",
    3: "a negative bignum",
    4: "a decimal fraction",
    5: "a bigfloat",
    24: "embedded CBOR",
    25: "a string reference",
    28: "a shared value",
    29: "a reference to a shared value",
    256: "a string-reference namespace",
}
_INDEFINITE = -1


class _Open:
    """A container (or indefinite string) whose items are still being read."""

    __slots__ = ("chunk_major", "index", "is_map", "keys", "remaining")

    def __init__(self, remaining: int, *, is_map: bool = False, chunk_major: int | None = None) -> None:
        self.remaining = remaining
        self.is_map = is_map
        self.index = 0
        self.chunk_major = chunk_major
        self.keys: set[tuple[int, bytes]] = set()


def check_profile(data: bytes, *, max_items: int = MAX_ITEMS, max_depth: int = MAX_DEPTH) -> None:
    """Raise ``DeviceProtocolError`` unless ``data`` is exactly one CBOR item within the device profile."""
    end = len(data)
    pos = 0
    items = 0
    stack: list[_Open] = []

    def finish() -> bool:
        """Count one completed item in the open containers; True when the top-level item is complete."""
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
            raise DeviceProtocolError("CBOR item cut short")
        initial = data[pos]
        pos += 1
        major, info = initial >> 5, initial & 0x1F
        top = stack[-1] if stack else None
        if initial == 0xFF:
            if top is None or top.remaining != _INDEFINITE:
                raise DeviceProtocolError("CBOR 'break' outside an indefinite-length item")
            if top.is_map and top.index % 2:
                raise DeviceProtocolError("CBOR map ends after a key without its value")
            stack.pop()
            if finish():
                break
            continue
        if top is not None and top.chunk_major is not None and (major != top.chunk_major or info == 31):
            raise DeviceProtocolError("CBOR indefinite-length string holds something other than definite chunks")
        if top is not None and top.is_map and top.index % 2 == 0 and major not in (2, 3):
            raise DeviceProtocolError("CBOR map key is not a text or byte string")
        if info < 24:
            argument = info
        elif info <= 27:
            size = 1 << (info - 24)
            if pos + size > end:
                raise DeviceProtocolError("CBOR item cut short")
            argument = int.from_bytes(data[pos : pos + size], "big")
            pos += size
        elif info == 31 and major in (2, 3, 4, 5):
            argument = _INDEFINITE
        else:
            raise DeviceProtocolError(f"malformed CBOR head 0x{initial:02x}")
        items += 1
        if items > max_items:
            raise DeviceProtocolError(f"CBOR message holds more than {max_items} items")
        if major == 6:
            what = _TAG_NAMES.get(argument, "a tag the protocol does not use")
            raise DeviceProtocolError(f"CBOR tag {argument} ({what}) is not allowed in the attest protocol")
        if major == 7 and not (20 <= info <= 23 or 25 <= info <= 27):
            raise DeviceProtocolError(f"CBOR simple value 0x{initial:02x} is not allowed in the attest protocol")
        if top is not None and top.is_map and top.index % 2 == 0 and argument == _INDEFINITE:
            raise DeviceProtocolError("CBOR map key is an indefinite-length string")
        if major in (2, 3) and argument != _INDEFINITE:
            if argument > end - pos:
                raise DeviceProtocolError(f"CBOR string declares {argument} bytes but only {end - pos} follow")
            if top is not None and top.is_map and top.index % 2 == 0:
                key = (major, data[pos : pos + argument])
                if key in top.keys:
                    raise DeviceProtocolError(f"CBOR map holds the key {bounded_text(_key_value(*key))!r} twice")
                top.keys.add(key)
            pos += argument
        elif major in (2, 3, 4, 5):
            if len(stack) >= max_depth:
                raise DeviceProtocolError(f"CBOR nesting deeper than {max_depth} levels")
            if argument == _INDEFINITE:
                stack.append(_Open(_INDEFINITE, is_map=major == 5, chunk_major=major if major in (2, 3) else None))
                continue
            if major in (4, 5):
                count = argument * 2 if major == 5 else argument
                # Each item takes a byte or more: a count the rest cannot hold is refused before cbor2 sizes a list.
                if count > end - pos:
                    raise DeviceProtocolError(
                        f"CBOR container declares {argument} entries but only {end - pos} bytes follow"
                    )
                if count:
                    stack.append(_Open(count, is_map=major == 5))
                    continue
        if finish():
            break
    if pos != end:
        raise DeviceProtocolError(f"{end - pos} byte(s) after the CBOR item")


def decode_device_cbor(data: bytes, *, what: str, max_items: int = MAX_ITEMS) -> Any:
    """``data`` decoded, after ``check_profile``; every refusal is a ``DeviceProtocolError`` naming ``what``."""
    try:
        check_profile(data, max_items=max_items)
    except DeviceProtocolError as exc:
        raise DeviceProtocolError(f"{what}: {exc}") from None
    import cbor2  # deferred (pyproject's TID253): ~80 ms, and every --profile choice imports this module

    try:
        # Duplicate keys, tags and shapes were refused above; these keywords hold in every cbor2 from 5.6 on.
        return cbor2.loads(data, str_errors="strict")
    except Exception as exc:  # cbor2 raises several types (CBORDecodeError, ValueError, ...)
        raise DeviceProtocolError(f"{what}: not valid CBOR: {str(exc)[:200]}") from None


def _key_value(major: int, raw: bytes) -> str | bytes:
    return raw.decode("utf-8", "replace") if major == 3 else raw


def bounded_text(value: object, limit: int = 200) -> str:
    """A device-supplied value as at most ``limit`` characters, without ever rendering a large value whole."""
    if isinstance(value, str):
        return value[:limit]
    if isinstance(value, bytes):
        return value[: limit // 2].hex()
    if isinstance(value, bool | float) or value is None:
        return str(value)
    if isinstance(value, int):
        return str(value) if -(10**18) < value < 10**18 else f"<integer of {value.bit_length()} bits>"
    return f"<{type(value).__name__}>"
