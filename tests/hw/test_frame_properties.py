"""Properties of the attest framing: round trips, and damage is detected or retried, never accepted wrong.

The first two work on bytes alone. The third drives the real ``AttestClient`` against the simulator's
attest device on a pty, with the simulator's own line faults (dropped or flipped bytes at a rate) and
against a line whose every fault hypothesis chooses (an in-test line: the one stand-in here, because
shrinking needs each damaged byte under hypothesis's control).
"""

from __future__ import annotations

from dataclasses import dataclass

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hw.attest import CERT_CHUNK, AttestClient
from hw.errors import TransportError
from hw.framing import MAX_BODY, CorruptFrame, Frame, FrameSplitter, Kind, decode_frame, encode_frame
from hw.sim import Simulator
from hw.transcript import Transcript
from hw.transport import Deadline, open_transport

frames = st.builds(Frame, st.integers(0, 255), st.sampled_from(list(Kind)), st.binary(max_size=600))


def _feed_in_chunks(wire: bytes, cuts: list[int]) -> list[bytes | None]:
    splitter = FrameSplitter()
    out: list[bytes | None] = []
    start = 0
    for cut in [*sorted(c % (len(wire) + 1) for c in cuts), len(wire)]:
        out += splitter.feed(wire[start:cut])
        start = max(start, cut)
    return out


@given(st.lists(frames, min_size=1, max_size=6), st.lists(st.integers(0, 10_000), max_size=12))
def test_a_stream_of_frames_round_trips_however_the_reads_cut_it(sent: list[Frame], cuts: list[int]) -> None:
    wire = b"".join(encode_frame(f) for f in sent)
    pieces = _feed_in_chunks(wire, cuts)
    assert None not in pieces
    assert [decode_frame(p) for p in pieces if p is not None] == sent


@dataclass(frozen=True)
class Damage:
    kind: str  # flip, drop, insert, truncate
    at: int
    value: int


damages = st.builds(
    Damage, st.sampled_from(("flip", "drop", "insert", "truncate")), st.integers(0, 10_000), st.integers(0, 255)
)


def _damage(wire: bytes, applied: list[Damage]) -> bytes:
    out = bytearray(wire)
    for d in applied:
        if not out:
            break
        at = d.at % len(out)
        if d.kind == "flip":
            out[at] ^= d.value or 1
        elif d.kind == "drop":
            del out[at]
        elif d.kind == "insert":
            out.insert(at, d.value)
        else:
            del out[at:]
    return bytes(out)


@settings(max_examples=400)
@given(frames, st.lists(damages, min_size=1, max_size=6), st.lists(st.integers(0, 10_000), max_size=6))
def test_damage_is_detected_or_harmless_never_accepted_wrong(
    frame: Frame, applied: list[Damage], cuts: list[int]
) -> None:
    wire = _damage(encode_frame(frame), applied)
    # A later delimiter always comes: the next frame's start ends whatever was pending.
    for piece in _feed_in_chunks(wire + b"\x00", cuts):
        if piece is None:
            continue  # overflow: reported as a damaged frame
        try:
            decoded = decode_frame(piece)
        except CorruptFrame:
            continue
        assert decoded == frame, f"accepted a wrong frame {decoded!r}"


def test_the_damage_property_has_teeth() -> None:
    """The failing twin: the same check on an undamaged frame accepts it, on a flipped CRC rejects it."""
    frame = Frame(5, Kind.RESPONSE, b"measurements")
    wire = encode_frame(frame)
    assert [decode_frame(p) for p in _feed_in_chunks(wire, []) if p is not None] == [frame]
    bad = bytearray(wire)
    bad[-2] ^= 0x40
    with pytest.raises(CorruptFrame):
        decode_frame(bytes(bad[1:-1]))


# --- AttestClient over a lossy line -----------------------------------------------------------------


class HypothesisLine:
    """Device side answers every intact request; hypothesis damages each answer as it crosses the line."""

    def __init__(self, answer_damage: list[list[Damage]], pieces: int) -> None:
        self.url = "hypothesis://line"
        self.transcript = Transcript()
        self.deadline = Deadline(30)
        self._damage = answer_damage
        self._pending = bytearray()
        self._splitter = FrameSplitter()
        self._pieces = pieces

    def write(self, data: bytes) -> None:
        for encoded in self._splitter.feed(data):
            assert encoded is not None
            request = decode_frame(encoded)
            message = cbor2.loads(request.body)
            answer = cbor2.dumps({"op": "echo", "seq": request.seq, "value": message["value"]})
            wire = encode_frame(Frame(request.seq, Kind.RESPONSE, answer))
            self._pending += _damage(wire, self._damage.pop(0)) if self._damage else wire

    def read(self, max_bytes: int, timeout: float) -> bytes:
        take = min(max_bytes, self._pieces, len(self._pending))
        data = bytes(self._pending[:take])
        del self._pending[:take]
        return data

    def send_break(self) -> None:
        return

    def close(self) -> None:
        return


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.lists(damages, max_size=3), max_size=8),
    st.integers(1, 64),
    st.lists(st.binary(max_size=200), min_size=1, max_size=3),
)
def test_attest_client_returns_the_right_answer_or_gives_up(
    answer_damage: list[list[Damage]], pieces: int, values: list[bytes]
) -> None:
    client = AttestClient(HypothesisLine(answer_damage, pieces), read_timeout=0.01, retries=3)
    for value in values:
        try:
            answer = client.request({"op": "echo", "value": value})
        except TransportError:
            return  # gave up: inconclusive, never wrong
        assert answer["value"] == value


@pytest.mark.parametrize("fault", ["drop-bytes", "garble-bytes"])
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), rate=st.sampled_from((0.005, 0.02, 0.05)), offset=st.integers(0, 600))
def test_attest_client_over_the_simulators_lossy_line(fault: str, seed: int, rate: float, offset: int) -> None:
    with Simulator("attest", tamper=(fault,), tamper_rate=rate, seed=seed) as sim:
        chain = cbor2.dumps(list(sim.keys.chain))
        offset %= len(chain)
        transport = open_transport(sim.port, baud=None, deadline=Deadline(30), transcript=Transcript())
        try:
            client = AttestClient(transport, read_timeout=0.3, retries=4)
            try:
                version = client.request({"op": "get_version", "versions": [1]})
                chunk = client.request({"op": "get_certificate", "offset": offset, "length": CERT_CHUNK})
            except TransportError:
                return
        finally:
            transport.close()
    assert version == {"op": "version", "versions": [1], "max_body": MAX_BODY}
    assert chunk["data"] == chain[offset : offset + CERT_CHUNK] and chunk["total"] == len(chain)


def test_the_lossy_line_property_has_teeth() -> None:
    """The failing twin: a line that answers with someone else's value is caught by the same assertion."""
    line = HypothesisLine([], 64)
    client = AttestClient(line, read_timeout=0.01)
    original = line.write

    def lying_write(data: bytes) -> None:
        original(data)
        frame = decode_frame(bytes(line._pending[1:-1]))
        lie = cbor2.dumps({"op": "echo", "seq": frame.seq, "value": b"not what was sent"})
        line._pending[:] = encode_frame(Frame(frame.seq, Kind.RESPONSE, lie))

    line.write = lying_write  # type: ignore[method-assign]
    answer = client.request({"op": "echo", "value": b"sent"})
    assert answer["value"] != b"sent"
