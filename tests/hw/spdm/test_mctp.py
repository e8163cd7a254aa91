"""The MCTP serial binding: round trips under any chunking, stuffing of flag and escape bytes, and damage dropped."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hw.spdm import mctp


def _decode(wire: bytes, chunk: int) -> list[bytes]:
    decoder, reassembler = mctp.FrameDecoder(), mctp.Reassembler()
    out = []
    for start in range(0, len(wire), chunk):
        for packet in decoder.feed(wire[start : start + chunk]):
            whole = reassembler.add(packet)
            if whole is not None:
                out.append(whole)
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=600), min_size=1, max_size=4), st.integers(1, 97))
def test_round_trip_under_any_chunking(messages: list[bytes], chunk: int) -> None:
    wire = b"".join(mctp.encode_message(m, tag_owner=True, tag=i & 7) for i, m in enumerate(messages))
    assert _decode(b"noise" + wire, chunk) == messages


def test_flag_and_escape_bytes_are_stuffed() -> None:
    message = b"\x05" + b"\x7e\x7d" * 40
    wire = mctp.encode_message(message, tag_owner=False)
    frames = mctp.packetize(message, tag_owner=False)
    assert wire.count(b"\x7e") == 2 * len(frames)  # 0x7E only as the flags around each frame
    assert b"\x7d\x5e" in wire and b"\x7d\x5d" in wire
    assert _decode(wire, 5) == [message]


@given(st.integers(0, 10_000))
def test_any_single_bit_flip_drops_the_message(position: int) -> None:
    message = b"\x05" + bytes(range(200))
    wire = bytearray(mctp.encode_message(message, tag_owner=False))
    at = position % len(wire)
    wire[at] ^= 1 << (position % 8)
    assert _decode(bytes(wire), 64) == []  # FCS-16 catches every single-bit error; a flipped flag loses framing


def test_an_endless_frame_is_bounded() -> None:
    decoder = mctp.FrameDecoder()
    for _ in range(100):
        assert decoder.feed(b"\x7e" + b"\x01" * 10_000) == []
    assert len(decoder._buffer) <= 2 * mctp.MAX_FRAME


def test_lost_packet_drops_the_message_not_the_next() -> None:
    first = mctp.packetize(b"\x05" + b"a" * 200, tag_owner=False, tag=1)
    second = b"\x05" + b"b" * 10
    wire = b"".join(mctp.frame(p) for i, p in enumerate(first) if i != 1)
    wire += mctp.encode_message(second, tag_owner=False, tag=2)
    assert _decode(wire, 64) == [second]
