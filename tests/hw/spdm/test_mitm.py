"""A man in the middle on the serial line, built the way an attacker would: it decodes the MCTP frames, changes
the SPDM message, and frames it again with a valid FCS, so nothing below SPDM notices. Each change is caught."""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable

import pytest

from hw.profile import ReadOptions
from hw.spdm import mctp
from hw.spdm import messages as msg
from hw.spdm.exchange import Exchange, pairs_of, replay
from hw.spdm.profile import SPDM
from hw.spdm.verify import chain_problem
from hw.transcript import Transcript
from hw.transport import Deadline, SerialTransport

Rewrite = Callable[[bytes], bytes]
NOW = datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC)


class Mitm:
    """Wraps the requester's transport: every SPDM response passes through ``rewrite`` before the requester sees it."""

    def __init__(self, inner: SerialTransport, rewrite: Rewrite) -> None:
        self.inner = inner
        self.rewrite = rewrite
        self.url, self.transcript, self.deadline = inner.url, inner.transcript, inner.deadline
        self.decoder, self.reassembler = mctp.FrameDecoder(), mctp.Reassembler(tag_owner=False)
        self.pending = bytearray()

    def read(self, max_bytes: int, timeout: float) -> bytes:
        if not self.pending:
            for packet in self.decoder.feed(self.inner.read(max_bytes, timeout)):
                whole = self.reassembler.add(packet)
                if whole is not None:
                    changed = bytes([whole[0]]) + self.rewrite(whole[1:])
                    self.pending += mctp.encode_message(changed, tag_owner=False, tag=packet.tag)
        out = bytes(self.pending[:max_bytes])
        del self.pending[:max_bytes]
        return out

    def write(self, data: bytes) -> None:
        self.inner.write(data)

    def send_break(self) -> None:
        self.inner.send_break()

    def close(self) -> None:
        self.inner.close()


def _session(rewrite: Rewrite) -> Exchange:
    from hw.sim import Simulator

    with Simulator("spdm") as sim:
        inner = SerialTransport(sim.port, deadline=Deadline(30), transcript=Transcript())
        transport = Mitm(inner, rewrite)
        try:
            facts = SPDM.read(transport, ReadOptions(nonce=os.urandom(32), read_timeout=2), 30)
        finally:
            transport.close()
    assert facts.spdm is not None
    import base64

    return replay(pairs_of([base64.b64decode(m) for m in facts.spdm.messages_b64]))


def _code(message: bytes) -> int:
    return message[1] if len(message) > 1 else -1


def test_the_proxy_alone_changes_nothing() -> None:
    exchange = _session(lambda m: m)
    assert exchange.measurements is not None and exchange.measurements.signature_verified


def test_flipped_measurement_byte_fails_the_signature() -> None:
    def flip(message: bytes) -> bytes:
        if _code(message) != msg.Code.MEASUREMENTS:
            return message
        return message[:20] + bytes([message[20] ^ 0x80]) + message[21:]

    exchange = _session(flip)
    assert exchange.measurements is not None and not exchange.measurements.signature_verified


def test_replayed_measurements_fail_the_signature() -> None:
    recorded: list[bytes] = []

    def keep(message: bytes) -> bytes:
        if _code(message) == msg.Code.MEASUREMENTS:
            recorded.append(message)
        return message

    _session(keep)

    def replay_old(message: bytes) -> bytes:
        return recorded[0] if _code(message) == msg.Code.MEASUREMENTS else message

    exchange = _session(replay_old)
    assert exchange.measurements is not None and not exchange.measurements.signature_verified


def test_substituted_chain_is_caught() -> None:
    """Slot 1's chain (its root has slot 0's root's name) put in place of slot 0's, digests rewritten to match."""
    from hw.sim.spdm import load_data, root_certificate

    other = load_data(other_chain=True).chains[0]
    import hashlib

    def substitute(message: bytes) -> bytes:
        if _code(message) == msg.Code.DIGESTS:
            return message[:4] + hashlib.sha384(other).digest() + message[52:]
        if _code(message) == msg.Code.CERTIFICATE:
            cert = msg.decode_certificate(message, message[0])
            offset = substitute.offset  # type: ignore[attr-defined]
            portion = other[offset : offset + len(cert.portion)]
            substitute.offset = offset + len(portion)  # type: ignore[attr-defined]
            remainder = len(other) - substitute.offset  # type: ignore[attr-defined]
            return message[:4] + len(portion).to_bytes(2, "little") + remainder.to_bytes(2, "little") + portion
        return message

    substitute.offset = 0  # type: ignore[attr-defined]
    exchange = _session(substitute)
    chain = exchange.chain(0)
    assert chain is not None
    # The responder signed the transcript of the chain it sent, not this one; and the chain misses the anchor.
    assert exchange.challenge is not None and not exchange.challenge.signature_verified
    assert chain_problem(chain, [root_certificate(0)], "SHA-384", now=NOW) is not None


@pytest.mark.parametrize("cut", [1, 8, 100])
def test_a_cut_short_answer_is_a_transport_fault(cut: int) -> None:
    from hw.errors import HardwareError

    def truncate(message: bytes) -> bytes:
        return message[:-cut] if _code(message) == msg.Code.MEASUREMENTS else message

    with pytest.raises(HardwareError):
        _session(truncate)
