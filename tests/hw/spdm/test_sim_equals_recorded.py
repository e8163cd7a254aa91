"""The simulated responder answers the recorded requests with the recorded responder's bytes, wherever those are
deterministic: it cannot drift into a dialect of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from hw.spdm import messages as msg
from hw.spdm.exchange import pairs_of, replay
from hw.spdm.pcap import read_pcap

PCAPS = ("spdm12-mctp-ecp384-sha384.pcap", "spdm13-mctp-ecp384-sha384.pcap")


@pytest.mark.parametrize("name", PCAPS)
def test_deterministic_answers_are_the_recorded_bytes(vectors: Path, name: str) -> None:
    from hw.sim.spdm import SpdmResponder

    recorded = [r.message for r in read_pcap((vectors / "spdm-emu" / name).read_bytes())]
    version = recorded[1][-1]
    responder = SpdmResponder(versions=(version,))
    answers = []
    for request, expected in pairs_of(recorded):
        answer = responder.respond(request)
        answers += [request, answer]
        code = request[1]
        if code in (msg.Code.GET_VERSION, msg.Code.GET_CAPABILITIES, msg.Code.NEGOTIATE_ALGORITHMS,
                    msg.Code.GET_DIGESTS, msg.Code.GET_CERTIFICATE):
            assert answer == expected, f"answer to {msg.Code(code).name} differs"
        elif code == msg.Code.CHALLENGE:
            # Header, CertChainHash, then a fresh nonce; the summary hash, opaque data and context after it.
            assert answer[:52] == expected[:52]
            assert answer[84:-96] == expected[84:-96]
        elif code == msg.Code.GET_MEASUREMENTS:
            record_end = 8 + int.from_bytes(expected[5:8], "little")
            assert answer[:record_end] == expected[:record_end], "measurement blocks differ"
            assert answer[record_end + 32 : -96] == expected[record_end + 32 : -96]
    # And its own answers verify exactly as the recorded ones do.
    exchange = replay(pairs_of(answers))
    assert exchange.challenge is not None and exchange.challenge.signature_verified
    assert exchange.measurements is not None and exchange.measurements.signature_verified
    assert exchange.summary_matches() and exchange.digest_matches(0) and exchange.digest_matches(1)


def test_shipped_chain_and_key_are_the_vectors(vectors: Path) -> None:
    from importlib import resources

    shipped = resources.files("hw.sim").joinpath("data", "spdm")
    for name in ("bundle_responder.certchain.der", "bundle_responder.certchain1.der", "ca.cert.der", "ca1.cert.der",
                 "end_responder.key"):
        assert shipped.joinpath(name).read_bytes() == (vectors / "spdm-emu" / "ecp384" / name).read_bytes()
