"""DMTF's reference responder, recorded (../shared/vectors/spdm-emu): every message decodes, both signatures
verify offline from the file alone, and a one-byte change anywhere a signature covers is rejected."""

from __future__ import annotations

import datetime
import functools
from pathlib import Path

import pytest

from hw.errors import DeviceProtocolError
from hw.spdm.exchange import Exchange, pairs_of, replay
from hw.spdm.measurements import VALUE_TYPES
from hw.spdm.pcap import PcapError, read_pcap
from hw.spdm.verify import chain_problem, parse_chain

PCAPS = ("spdm12-mctp-ecp384-sha384.pcap", "spdm13-mctp-ecp384-sha384.pcap")
NOW = datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC)


def _messages(vectors: Path, name: str) -> list[bytes]:
    return [record.message for record in read_pcap((vectors / "spdm-emu" / name).read_bytes())]


def _accepted(exchange: Exchange, anchors: dict[int, bytes]) -> bool:
    """Everything the exchange claims holds: both signatures, the digests, the summary hash, each slot's chain."""
    c, m = exchange.challenge, exchange.measurements
    if c is None or m is None or not (c.signature_verified and m.signature_verified and c.chain_hash_matches):
        return False
    if not exchange.summary_matches():
        return False
    for slot, anchor in anchors.items():
        if not exchange.digest_matches(slot) or slot not in exchange.chains:
            return False
        if not _chain_ok(exchange.chains[slot], anchor):
            return False
    return True


@functools.cache
def _chain_ok(blob: bytes, anchor: bytes) -> bool:
    try:
        return chain_problem(parse_chain(blob, "SHA-384"), [anchor], "SHA-384", now=NOW) is None
    except DeviceProtocolError:
        return False


def _anchors(vectors: Path) -> dict[int, bytes]:
    folder = vectors / "spdm-emu" / "ecp384"
    return {0: (folder / "ca.cert.der").read_bytes(), 1: (folder / "ca1.cert.der").read_bytes()}


@pytest.mark.parametrize("name", PCAPS)
def test_every_message_decodes_and_both_signatures_verify(vectors: Path, name: str) -> None:
    messages = _messages(vectors, name)
    assert len(messages) == 22
    exchange = replay(pairs_of(messages))
    assert exchange.version == (0x12 if "spdm12" in name else 0x13)
    assert exchange.algorithms is not None and exchange.capabilities is not None
    assert (exchange.algorithms.asym_name, exchange.algorithms.hash_name) == ("ECDSA-P384", "SHA-384")
    assert exchange.algorithms.measurement_hash_name == "SHA-384"
    assert set(exchange.capabilities.flag_names()) >= {"CERT", "CHAL", "MEAS_SIG", "MEAS_FRESH"}
    assert exchange.challenge is not None and exchange.challenge.signature_verified
    assert exchange.measurements is not None and exchange.measurements.signature_verified
    # The requester's nonces are the ones in the recorded requests.
    assert exchange.challenge.requester_nonce == messages[12][4:36]
    assert exchange.measurements.requester_nonce == messages[20][4:36]
    assert _accepted(exchange, _anchors(vectors))


@pytest.mark.parametrize("name", PCAPS)
def test_measurement_blocks_are_what_the_readme_says(vectors: Path, name: str) -> None:
    import hashlib

    exchange = replay(pairs_of(_messages(vectors, name)))
    assert exchange.measurements is not None
    blocks = {block.index: block for block in exchange.measurements.blocks}
    assert sorted(blocks) == [1, 2, 3, 4, 0x10, 0x11, 0xFD, 0xFE]
    for index in (1, 2, 3, 4):
        assert blocks[index].value == hashlib.sha384(bytes([index]) * 72).digest()
        assert blocks[index].type_name == VALUE_TYPES[index - 1] and blocks[index].form == "digest"
    assert blocks[0x10].type_name == "firmware security version number" and blocks[0x10].raw
    assert blocks[0xFE].type_name == "debug and device mode" and blocks[0xFE].raw


def test_slot_chains_are_trusted_by_key_not_by_name(vectors: Path) -> None:
    """ca1 has ca's subject and another key: slot 1's chain reaches ca1 only, slot 0's reaches ca only."""
    exchange = replay(pairs_of(_messages(vectors, PCAPS[0])))
    anchors = _anchors(vectors)
    slot0, slot1 = exchange.chain(0), exchange.chain(1)
    assert slot0 is not None and slot1 is not None
    assert chain_problem(slot0, [anchors[0]], "SHA-384", now=NOW) is None
    assert chain_problem(slot1, [anchors[1]], "SHA-384", now=NOW) is None
    assert chain_problem(slot1, [anchors[0]], "SHA-384", now=NOW) is not None
    assert chain_problem(slot0, [anchors[1]], "SHA-384", now=NOW) is not None
    assert slot0.certs[-1] == (vectors / "spdm-emu" / "ecp384" / "end_responder.cert.der").read_bytes()
    blob = (vectors / "spdm-emu" / "ecp384" / "bundle_responder.certchain.der").read_bytes()
    assert parse_chain(exchange.chains[0], "SHA-384").certs == parse_chain(exchange.chains[0], "SHA-384").certs
    assert b"".join(slot0.certs) == blob


def _rejected(messages: list[bytes], anchors: dict[int, bytes]) -> bool:
    try:
        return not _accepted(replay(pairs_of(messages)), anchors)
    except DeviceProtocolError:
        return True


@pytest.mark.parametrize("name", PCAPS)
def test_one_byte_changed_anywhere_signed_is_rejected(vectors: Path, name: str) -> None:
    """Every byte of VCA, CHALLENGE/CHALLENGE_AUTH and GET_MEASUREMENTS/MEASUREMENTS, and a sample of the chains."""
    messages = _messages(vectors, name)
    anchors = _anchors(vectors)
    positions: list[tuple[int, int]] = []
    for index in (0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 13, 20, 21):
        positions += [(index, at) for at in range(len(messages[index]))]
    for index in (9, 11):  # certificate chains: every 29th byte
        positions += [(index, at) for at in range(0, len(messages[index]), 29)]
    survivors = []
    for index, at in positions:
        changed = list(messages)
        message = bytearray(changed[index])
        message[at] ^= 0x01
        changed[index] = bytes(message)
        if not _rejected(changed, anchors):
            survivors.append((index, at))
    assert survivors == []


def test_pcap_reader_refuses_lengths_that_do_not_hold(vectors: Path) -> None:
    data = (vectors / "spdm-emu" / PCAPS[0]).read_bytes()
    with pytest.raises(PcapError):
        read_pcap(data[:-1])
    with pytest.raises(PcapError):
        read_pcap(data[:24] + (10**6).to_bytes(4, "little") * 4 + data[40:])
    with pytest.raises(PcapError):
        read_pcap(data[:20] + (1).to_bytes(4, "little") + data[24:])
