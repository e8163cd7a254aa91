"""A small, bounds-checked DER reader: enough to walk PKCS#7 SignedData without trusting its lengths."""

from __future__ import annotations

from dataclasses import dataclass


class DerError(ValueError):
    """The bytes are not the DER structure expected."""


@dataclass(frozen=True)
class Node:
    tag: int
    start: int
    value_start: int
    end: int
    buffer: bytes

    @property
    def value(self) -> bytes:
        return self.buffer[self.value_start : self.end]

    @property
    def raw(self) -> bytes:
        return self.buffer[self.start : self.end]

    @property
    def constructed(self) -> bool:
        return bool(self.tag & 0x20)

    def children(self) -> list[Node]:
        if not self.constructed:
            raise DerError(f"tag {self.tag:#x} is primitive")
        out: list[Node] = []
        pos = self.value_start
        while pos < self.end:
            node = read(self.buffer, pos, self.end)
            out.append(node)
            pos = node.end
        return out

    def child(self, index: int) -> Node:
        kids = self.children()
        if index >= len(kids):
            raise DerError(f"expected at least {index + 1} elements in tag {self.tag:#x}")
        return kids[index]

    def oid(self) -> str:
        if self.tag != 0x06:
            raise DerError(f"expected an OBJECT IDENTIFIER, got tag {self.tag:#x}")
        data = self.value
        if not data:
            raise DerError("empty OBJECT IDENTIFIER")
        parts = [str(data[0] // 40), str(data[0] % 40)]
        value = 0
        for byte in data[1:]:
            value = (value << 7) | (byte & 0x7F)
            if not byte & 0x80:
                parts.append(str(value))
                value = 0
        return ".".join(parts)


def read(buffer: bytes, pos: int = 0, limit: int | None = None) -> Node:
    end_limit = len(buffer) if limit is None else limit
    if pos + 2 > end_limit:
        raise DerError("truncated DER header")
    tag = buffer[pos]
    if tag & 0x1F == 0x1F:
        raise DerError("multi-byte tags are not used in PKCS#7")
    first = buffer[pos + 1]
    header = 2
    if first < 0x80:
        length = first
    elif first == 0x80:
        raise DerError("indefinite length (BER) is not DER")
    else:
        count = first & 0x7F
        if count > 4 or pos + 2 + count > end_limit:
            raise DerError("bad DER length")
        length = int.from_bytes(buffer[pos + 2 : pos + 2 + count], "big")
        header += count
    value_start = pos + header
    end = value_start + length
    if end > end_limit:
        raise DerError("DER length runs past its container")
    return Node(tag, pos, value_start, end, buffer)
