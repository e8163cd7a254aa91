"""MCTP serial framing and SPDM encoding cross-checked with pymctp (an independent implementation, MIT):
what the requester put on the wire decodes there, and what pymctp builds decodes here."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from hw.spdm import mctp
from hw.spdm import messages as msg

pymctp = pytest.importorskip("pymctp", reason="pymctp (the test extra) is not installed")


def _frames(wire: bytes) -> list[bytes]:
    """Frames between 0x7E flags, unstuffed here (pymctp parses unstuffed frames)."""
    out = []
    for piece in wire.split(b"\x7e"):
        if piece:
            out.append(b"\x7e" + piece.replace(b"\x7d\x5e", b"\x7e").replace(b"\x7d\x5d", b"\x7d") + b"\x7e")
    return out


def _session_wire(tmp_path: Path) -> tuple[bytes, bytes]:
    from hw.reader import read_device
    from hw.sim import Simulator

    with Simulator("spdm") as sim:
        read_device(sim.port, profile="spdm", timeout=30, read_timeout=2, transcript_dir=tmp_path)
    (path,) = tmp_path.glob("*.jsonl")
    tx, rx = bytearray(), bytearray()
    for line in path.read_text().splitlines()[1:]:
        entry = json.loads(line)
        (tx if entry["dir"] == "tx" else rx if entry["dir"] == "rx" else bytearray()).extend(
            base64.b64decode(entry["b64"])
        )
    return bytes(tx), bytes(rx)


def test_what_the_requester_sends_and_receives_parses_in_pymctp(tmp_path: Path) -> None:
    from pymctp.layers.mctp.transport import UartTransport, UartTransportPacket

    tx, rx = _session_wire(tmp_path)
    requests = []
    for raw in _frames(tx):
        packet = UartTransportPacket(raw)
        header = packet.load
        assert header.version == 1 and header.to == 1 and header.som == 1 and header.eom == 1
        # pymctp computes the FCS of the same packet: ours equals it.
        rebuilt = bytes(UartTransport(load=header))
        assert rebuilt == raw
        requests.append(packet)
    codes = [p.load.payload.request_response_code for p in requests]
    assert codes[:4] == [msg.Code.GET_VERSION, msg.Code.GET_CAPABILITIES, msg.Code.NEGOTIATE_ALGORITHMS,
                         msg.Code.GET_DIGESTS]
    assert codes[-2:] == [msg.Code.CHALLENGE, msg.Code.GET_MEASUREMENTS]
    measurements = requests[-1].load.payload.payload
    assert len(measurements.nonce) == 32 and requests[-1].load.payload.param1 == 0x01
    # The responses came back in baseline-MTU packets: pymctp reads each frame, and the payloads reassemble.
    payload = bytearray()
    responses = 0
    for raw in _frames(rx):
        packet = UartTransportPacket(raw)
        assert bytes(UartTransport(load=packet.load)) == raw
        assert packet.load.to == 0
        payload += bytes(packet.load.payload) if packet.load.som else bytes(packet.load)[4:]
        responses += packet.load.eom
    assert responses == len(requests)


def test_what_pymctp_builds_decodes_here() -> None:
    from pymctp.layers.mctp.spdm.get_capabilities import CapabilitiesPacket
    from pymctp.layers.mctp.spdm.get_certificate import CertificatePacket
    from pymctp.layers.mctp.spdm.get_version import VersionPacket
    from pymctp.layers.mctp.spdm.spdm import SpdmHdr
    from pymctp.layers.mctp.transport import TransportHdr, UartTransport

    version = bytes(SpdmHdr(spdm_version=0x10, request_response_code=0x04) / VersionPacket(
        version_number_list=[0x1100, 0x1200, 0x1300]))
    assert msg.decode_version(version).versions == (0x11, 0x12, 0x13)
    caps = bytes(SpdmHdr(spdm_version=0x12, request_response_code=0x61) / CapabilitiesPacket(
        ct_exponent=3, flags=0x36, data_transfer_size=0x1200, max_spdm_msg_size=0x1200))
    decoded = msg.decode_capabilities(caps, 0x12)
    assert decoded.flag_names() == ("CERT", "CHAL", "MEAS_SIG", "MEAS_FRESH") and decoded.ct_exponent == 3
    portion = os.urandom(40) + b"\x7e\x7d"  # flag and escape bytes inside the data
    cert = bytes(SpdmHdr(spdm_version=0x12, request_response_code=0x02) / CertificatePacket(
        portion_length=len(portion), remainder_length=9) / portion)
    assert msg.decode_certificate(cert, 0x12).portion == portion
    # pymctp frames it (no stuffing: that is ours to add on the line), our decoder reads it back.
    for message in (version, caps, cert):
        frame = bytes(UartTransport(load=TransportHdr(dst=0, src=0, som=1, eom=1, pkt_seq=0, to=0, tag=5,
                                                      msg_type=5, version=1) / message))
        wire = b"\x7e" + mctp.stuff(frame[1:-1]) + b"\x7e"
        (packet,) = mctp.FrameDecoder().feed(wire)
        assert packet.tag == 5 and not packet.tag_owner
        assert mctp.Reassembler().add(packet) == b"\x05" + message


def test_fcs_is_crc16_mcrf4xx_as_pymctp_computes_it() -> None:
    from pymctp.layers.mctp.transport import UartTransportPacket

    for size in (0, 1, 7, 64, 200):
        data = os.urandom(size)
        crc = UartTransportPacket.FCS_FUNC.new()
        crc.update(data)
        assert mctp.fcs16(data) == crc.crcValue
