"""Hostile responses: every length and count a responder states is checked before anything is taken."""

from __future__ import annotations

import pytest

from hw.spdm import messages as msg
from hw.spdm.exchange import Exchange, pairs_of, replay
from hw.spdm.measurements import decode_blocks, encode_block
from hw.spdm.verify import parse_chain, split_der


def test_certificate_portion_longer_than_the_message() -> None:
    forged = bytes([0x12, msg.Code.CERTIFICATE, 0, 0]) + (0xFFFF).to_bytes(2, "little") + bytes(2) + b"x" * 10
    with pytest.raises(msg.SpdmFormatError, match="CertChain portion needs 65535"):
        msg.decode_certificate(forged, 0x12)


def test_version_count_beyond_the_entries() -> None:
    with pytest.raises(msg.SpdmFormatError, match="VersionNumberEntry"):
        msg.decode_version(bytes([0x10, msg.Code.VERSION, 0, 0, 0, 255, 0, 0x12]))


def test_algorithms_selecting_two_or_unknown() -> None:
    def algorithms(asym: int, base_hash: int) -> bytes:
        body = bytes([1, 0x02]) + (4).to_bytes(4, "little") + asym.to_bytes(4, "little")
        body += base_hash.to_bytes(4, "little") + bytes(16)
        return bytes([0x12, msg.Code.ALGORITHMS, 0, 0]) + (36).to_bytes(2, "little") + body

    assert msg.decode_algorithms(algorithms(0x80, 0x02), 0x12).asym_name == "ECDSA-P384"
    with pytest.raises(msg.SpdmFormatError, match="BaseAsymSel"):
        msg.decode_algorithms(algorithms(0x90, 0x02), 0x12)
    with pytest.raises(msg.SpdmFormatError, match="BaseHashSel"):
        msg.decode_algorithms(algorithms(0x80, 0x40), 0x12)
    with pytest.raises(msg.SpdmFormatError, match="Length"):
        msg.decode_algorithms(algorithms(0x80, 0x02) + b"\x00", 0x12)


def test_measurement_record_lengths_and_duplicate_indices() -> None:
    block = encode_block(1, 0, bytes(48))
    assert decode_blocks(block, 1, digest_size=48)[0].index == 1
    with pytest.raises(msg.SpdmFormatError, match="twice"):
        decode_blocks(block + block, 2, digest_size=48)
    with pytest.raises(msg.SpdmFormatError):
        decode_blocks(block[:-1], 1, digest_size=48)
    with pytest.raises(msg.SpdmFormatError, match="digest"):
        decode_blocks(encode_block(1, 0, bytes(32)), 1, digest_size=48)
    lying = bytearray(block)
    lying[5] ^= 0x01  # the DMTF value's size disagrees with the block's
    with pytest.raises(msg.SpdmFormatError):
        decode_blocks(bytes(lying), 1, digest_size=48)
    huge = bytes([0x12, msg.Code.MEASUREMENTS, 0, 0, 1]) + (0xFFFFFF).to_bytes(3, "little") + bytes(40)
    with pytest.raises(msg.SpdmFormatError, match="MeasurementRecord"):
        msg.decode_measurements(huge, 0x12, signature_size=96)


def test_chain_lengths() -> None:
    with pytest.raises(msg.SpdmFormatError, match="Length"):
        parse_chain((100).to_bytes(2, "little") + bytes(60), "SHA-384")
    with pytest.raises(msg.SpdmFormatError, match="DER"):
        split_der(b"\x30\x84\xff\xff\xff\xff")
    with pytest.raises(msg.SpdmFormatError):
        split_der(b"\x30\x82\x10\x00" + bytes(10))


def test_error_response_and_out_of_order_requests() -> None:
    with pytest.raises(msg.SpdmErrorResponse, match="UnsupportedRequest"):
        msg.decode_capabilities(bytes([0x12, msg.Code.ERROR, 0x07, 0]), 0x12)
    with pytest.raises(msg.SpdmFormatError, match="before GET_VERSION"):
        Exchange().feed(msg.get_digests(0x12), bytes([0x12, msg.Code.DIGESTS, 0, 0]))
    with pytest.raises(msg.SpdmFormatError, match="without its response"):
        pairs_of([msg.get_version()])
    with pytest.raises(msg.SpdmFormatError):
        replay([(msg.get_version(), bytes([0x10, msg.Code.VERSION, 0, 0, 0, 1, 0, 0x12])),
                (msg.get_capabilities(0x13), b"")])
