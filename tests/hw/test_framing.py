"""COBS + CRC-32 + sequence frames: round trips, and every kind of damage is caught."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hw.framing import MAX_BODY, CorruptFrame, Frame, FrameSplitter, Kind, decode_frame, encode_frame


@given(st.integers(0, 255), st.sampled_from(list(Kind)), st.binary(max_size=MAX_BODY))
def test_round_trip(seq: int, kind: Kind, body: bytes) -> None:
    wire = encode_frame(Frame(seq, kind, body))
    assert wire[0] == 0 and wire[-1] == 0 and 0 not in wire[1:-1]
    assert decode_frame(wire[1:-1]) == Frame(seq, kind, body)


@given(st.binary(min_size=1, max_size=300), st.data())
def test_any_single_byte_damage_is_detected(body: bytes, data: st.DataObject) -> None:
    wire = bytearray(encode_frame(Frame(7, Kind.RESPONSE, body))[1:-1])
    index = data.draw(st.integers(0, len(wire) - 1))
    flip = data.draw(st.integers(1, 255))
    wire[index] ^= flip
    if 0 in wire:
        return  # a damaged byte that became a delimiter splits the frame: the splitter sees two bad frames
    with pytest.raises(CorruptFrame):
        decode_frame(bytes(wire))


def test_oversized_body_is_refused() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        encode_frame(Frame(1, Kind.REQUEST, bytes(MAX_BODY + 1)))


def test_unknown_kind_is_corrupt() -> None:
    import struct
    import zlib

    from cobs import cobs

    raw = bytes([1, 1, 0x7E]) + b"x"
    raw += struct.pack(">I", zlib.crc32(raw))
    with pytest.raises(CorruptFrame, match="kind"):
        decode_frame(cobs.encode(raw))


def test_splitter_recovers_after_overflow() -> None:
    splitter = FrameSplitter()
    good = encode_frame(Frame(3, Kind.RESPONSE, b"hello"))
    pieces = splitter.feed(b"\x01" * (MAX_BODY * 3)) + splitter.feed(good)
    # The endless junk is reported once as an overflowed frame, then the good frame comes through.
    assert None in pieces
    frames = [decode_frame(p) for p in pieces if p is not None]
    assert frames == [Frame(3, Kind.RESPONSE, b"hello")]


def test_splitter_handles_frames_split_across_reads() -> None:
    splitter = FrameSplitter()
    wire = encode_frame(Frame(9, Kind.REQUEST, b"abc" * 100)) * 2
    out: list[bytes | None] = []
    for i in range(0, len(wire), 7):
        out += splitter.feed(wire[i : i + 7])
    assert [decode_frame(p).seq for p in out if p is not None] == [9, 9]
