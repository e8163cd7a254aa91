"""Frames of the serial attest protocol: COBS, a CRC-32 and a sequence number.

On the wire a frame is ``00 || COBS(header || body || crc32) || 00`` with

- ``header`` = protocol version (1 byte), sequence number (1 byte), kind (1 byte);
- ``body`` = one CBOR message, at most ``MAX_BODY`` bytes;
- ``crc32`` = CRC-32 (IEEE 802.3, as zlib computes it) of header and body, big-endian.

docs/attest-protocol.md is the normative description; this module is the host side
of it and the simulator's device side.
"""

from __future__ import annotations

import enum
import struct
import zlib
from dataclasses import dataclass

from cobs import cobs

from hw.errors import DeviceProtocolError

FRAME_VERSION = 1
MAX_BODY = 4096
# COBS adds one byte per 254 plus one; header 3, CRC 4.
MAX_ENCODED = MAX_BODY + 7 + MAX_BODY // 254 + 2
DELIMITER = b"\x00"
# header 3 + CRC 4 + the COBS overhead byte: anything shorter is line noise, not a frame.
MIN_ENCODED = 8


class Kind(enum.IntEnum):
    REQUEST = 0x01
    RESPONSE = 0x02
    NAK = 0x03


@dataclass(frozen=True)
class Frame:
    seq: int
    kind: Kind
    body: bytes
    version: int = FRAME_VERSION


class CorruptFrame(DeviceProtocolError):
    """A frame whose COBS, length or CRC is wrong: the line damaged it."""


def encode_frame(frame: Frame) -> bytes:
    if len(frame.body) > MAX_BODY:
        raise ValueError(f"frame body of {len(frame.body)} bytes exceeds {MAX_BODY}")
    raw = struct.pack(">BBB", frame.version, frame.seq & 0xFF, int(frame.kind)) + frame.body
    raw += struct.pack(">I", zlib.crc32(raw))
    encoded: bytes = cobs.encode(raw)
    return DELIMITER + encoded + DELIMITER


def decode_frame(encoded: bytes) -> Frame:
    """One frame's bytes between delimiters (without them)."""
    if len(encoded) > MAX_ENCODED:
        raise CorruptFrame("frame longer than the protocol allows")
    try:
        raw = cobs.decode(encoded)
    except cobs.DecodeError as exc:
        raise CorruptFrame(f"bad COBS encoding: {exc}") from exc
    if len(raw) < 7:
        raise CorruptFrame("frame too short")
    body, crc = raw[:-4], struct.unpack(">I", raw[-4:])[0]
    if zlib.crc32(body) != crc:
        raise CorruptFrame("CRC mismatch")
    version, seq, kind = body[0], body[1], body[2]
    try:
        kind_enum = Kind(kind)
    except ValueError as exc:
        raise CorruptFrame(f"unknown frame kind 0x{kind:02x}") from exc
    return Frame(seq, kind_enum, bytes(body[3:]), version)


class FrameSplitter:
    """Cuts a byte stream into frames at the delimiters, holding at most one frame's worth of bytes."""

    def __init__(self) -> None:
        self._pending = bytearray()
        self._overflow = False

    def feed(self, data: bytes) -> list[bytes | None]:
        """Complete frames (encoded, without delimiters); ``None`` marks one that overflowed."""
        out: list[bytes | None] = []
        for piece in _split_keep(data):
            if piece == DELIMITER:
                if self._overflow:
                    out.append(None)
                elif self._pending:
                    out.append(bytes(self._pending))
                self._pending.clear()
                self._overflow = False
                continue
            if self._overflow:
                continue
            self._pending.extend(piece)
            if len(self._pending) > MAX_ENCODED:
                self._pending.clear()
                self._overflow = True
        return out


def _split_keep(data: bytes) -> list[bytes]:
    parts: list[bytes] = []
    start = 0
    while True:
        index = data.find(DELIMITER, start)
        if index < 0:
            if start < len(data):
                parts.append(data[start:])
            return parts
        if index > start:
            parts.append(data[start:index])
        parts.append(DELIMITER)
        start = index + 1
