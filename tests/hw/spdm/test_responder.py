"""The simulated responder and the requester's offline replay, without the vectors: honest answers verify, and
each tamper knob is caught by the fact it attacks."""

from __future__ import annotations

import datetime
import os

import pytest

from hw.errors import DeviceProtocolError
from hw.spdm import messages as msg
from hw.spdm.exchange import Exchange
from hw.spdm.requester import attest
from hw.spdm.verify import chain_problem

NOW = datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC)


class Direct:
    """A channel straight into a responder object: no transport."""

    def __init__(self, tamper: frozenset[str] = frozenset(), versions: tuple[int, ...] = (0x12, 0x13)) -> None:
        from hw.sim.spdm import SpdmResponder

        self.responder = SpdmResponder(tamper=tamper, versions=versions)

    def request(self, message: bytes, *, timeout: float) -> bytes:
        return self.responder.respond(message)


def _run(tamper: frozenset[str] = frozenset(), versions: tuple[int, ...] = (0x12, 0x13)) -> Exchange:
    return attest(Direct(tamper, versions), nonce=os.urandom(32), timeout=1).exchange


def _anchor() -> bytes:
    from hw.sim.spdm import root_certificate

    return root_certificate(0)


@pytest.mark.parametrize("versions", [(0x11,), (0x12,), (0x13,), (0x11, 0x12, 0x13)])
def test_honest_responder_verifies_at_each_version(versions: tuple[int, ...]) -> None:
    exchange = _run(versions=versions)
    assert exchange.version == versions[-1]
    assert exchange.challenge is not None and exchange.challenge.signature_verified
    assert exchange.challenge.chain_hash_matches
    assert exchange.measurements is not None and exchange.measurements.signature_verified
    assert exchange.summary_matches() and exchange.digest_matches(0)
    chain = exchange.chain(0)
    assert chain is not None and chain_problem(chain, [_anchor()], "SHA-384", now=NOW) is None
    assert len(exchange.measurements.blocks) == 8


def test_chain_is_read_in_chunks() -> None:
    exchange = _run()
    portions = [m for m in exchange.messages if len(m) > 1 and m[1] == msg.Code.CERTIFICATE]
    assert len(portions) == 2  # 1591 bytes in 1024-byte portions


@pytest.mark.parametrize("knob", ["bad-signature", "other-key", "flipped-measurement", "replayed-nonce"])
def test_signature_knobs_fail_the_signature(knob: str) -> None:
    exchange = _run(frozenset({knob}))
    assert exchange.measurements is not None and not exchange.measurements.signature_verified
    if knob in ("bad-signature", "other-key"):
        assert exchange.challenge is not None and not exchange.challenge.signature_verified


def test_other_chain_fails_the_trust_anchor_only() -> None:
    """Slot 1's root has slot 0's root's name and another key: signatures verify, the chain does not reach ca."""
    exchange = _run(frozenset({"wrong-device-key"}))
    assert exchange.measurements is not None and exchange.measurements.signature_verified
    chain = exchange.chain(0)
    assert chain is not None
    problem = chain_problem(chain, [_anchor()], "SHA-384", now=NOW)
    assert problem is not None and "by key" in problem


def test_weak_algorithms_are_what_is_selected() -> None:
    exchange = _run(frozenset({"weak-algorithms"}))
    assert exchange.algorithms is not None and exchange.algorithms.hash_name == "SHA-256"
    assert exchange.measurements is not None and exchange.measurements.signature_verified


def test_a_responder_without_measurement_signatures_cannot_attest() -> None:
    channel = Direct()
    channel.responder.respond  # noqa: B018
    import hw.sim.spdm as sim

    original = sim._CAPABILITY_FLAGS
    sim._CAPABILITY_FLAGS = msg.CAP_CERT | msg.CAP_CHAL
    try:
        with pytest.raises(DeviceProtocolError, match="MEAS_SIG"):
            attest(channel, nonce=os.urandom(32), timeout=1)
    finally:
        sim._CAPABILITY_FLAGS = original
