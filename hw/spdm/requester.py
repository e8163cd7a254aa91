"""The SPDM requester: GET_VERSION to signed MEASUREMENTS over a channel (MCTP serial, or spdm-emu's socket).

Hand-written: no maintained Python SPDM requester exists. Each answer goes through ``hw.spdm.exchange`` as it
arrives (the same code that re-verifies a recorded exchange offline), so every length is bounded before use. A
channel that stays silent, or an answer cut short, is a transport fault (``TransportError``, exit 3): the wait for
each answer is bounded by the read timeout and the session's deadline.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Protocol

from hw.errors import DeviceProtocolError, TransportError
from hw.spdm import emu, mctp
from hw.spdm import messages as msg
from hw.spdm.exchange import Exchange
from hw.transport import Transport

CHUNK = 1024
MAX_CHUNKS = 80
REQUIRED_CAPABILITIES = msg.CAP_CERT | msg.CAP_CHAL | msg.CAP_MEAS_SIG


class Channel(Protocol):
    def request(self, message: bytes, *, timeout: float) -> bytes:
        """Send one SPDM request, return the SPDM response."""
        ...


def _name(request: bytes) -> str:
    try:
        return msg.Code(request[1]).name
    except (ValueError, IndexError):
        return "request"


class MctpSerialChannel:
    """SPDM over MCTP's serial binding on a ``Transport``; each request gets the next 3-bit tag."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.decoder = mctp.FrameDecoder()
        self.reassembler = mctp.Reassembler(tag_owner=False)
        self.tag = 0

    def request(self, message: bytes, *, timeout: float) -> bytes:
        self.tag = (self.tag + 1) & 7
        self.transport.write(mctp.encode_message(bytes([mctp.MESSAGE_TYPE_SPDM]) + message, tag_owner=True,
                                                 tag=self.tag))
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise TransportError(f"no complete answer to {_name(message)} within {timeout:g} s")
            self.transport.deadline.check("spdm session")
            data = self.transport.read(4096, left)
            for packet in self.decoder.feed(data):
                if packet.tag != self.tag:
                    continue  # a late answer to an earlier request
                whole = self.reassembler.add(packet)
                if whole is not None and whole[0] & 0x7F == mctp.MESSAGE_TYPE_SPDM:
                    return whole[1:]


class EmuChannel:
    """SPDM over spdm-emu's TCP framing (MCTP or NONE transport)."""

    def __init__(self, transport: Transport, transport_type: int) -> None:
        self.transport = transport
        self.transport_type = transport_type
        self.splitter = emu.EmuSplitter()

    def request(self, message: bytes, *, timeout: float) -> bytes:
        payload = bytes([mctp.MESSAGE_TYPE_SPDM]) + message if self.transport_type == emu.TRANSPORT_MCTP else message
        self.transport.write(emu.encode(emu.COMMAND_NORMAL, self.transport_type, payload))
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise TransportError(f"no complete answer to {_name(message)} within {timeout:g} s")
            self.transport.deadline.check("spdm session")
            for item in self.splitter.feed(self.transport.read(65536, left)):
                if item.command != emu.COMMAND_NORMAL:
                    raise DeviceProtocolError(f"spdm-emu answered command 0x{item.command:04x}, not NORMAL")
                if item.transport != self.transport_type:
                    raise DeviceProtocolError(f"spdm-emu answered on transport {item.transport}")
                if self.transport_type == emu.TRANSPORT_MCTP:
                    if not item.payload or item.payload[0] & 0x7F != mctp.MESSAGE_TYPE_SPDM:
                        raise DeviceProtocolError("spdm-emu answered a message that is not SPDM")
                    return item.payload[1:]
                return item.payload


def channel_for(transport: Transport) -> Channel:
    if transport.url.startswith(emu.SCHEME + "://"):
        return EmuChannel(transport, emu.parse_url(transport.url).transport)
    return MctpSerialChannel(transport)


def challenge_nonce(session_nonce: bytes) -> bytes:
    """CHALLENGE's nonce, derived from the session's so that a verifier holding one can check both."""
    return hashlib.sha256(b"provcheck spdm challenge nonce\x00" + session_nonce).digest()


def requester_context(session_nonce: bytes) -> bytes:
    return hashlib.sha256(b"provcheck spdm requester context\x00" + session_nonce).digest()[: msg.CONTEXT_BYTES]


@dataclass
class Session:
    exchange: Exchange = field(default_factory=Exchange)
    steps: dict[str, float] = field(default_factory=dict)


def attest(
    channel: Channel,
    *,
    nonce: bytes,
    timeout: float,
    slot: int = 0,
    chunk: int = CHUNK,
    versions: tuple[int, ...] = msg.VERSIONS,
) -> Session:
    """Run the flow; the exchange it returns holds every message and what they prove."""
    if len(nonce) != msg.NONCE_BYTES:
        raise ValueError("the session nonce is 32 bytes")
    session = Session()
    exchange = session.exchange

    def ask(request: bytes) -> bytes:
        response = channel.request(request, timeout=timeout)
        exchange.feed(request, response)
        return response

    started = time.monotonic()
    ask(msg.get_version())
    common = sorted(set(exchange.offered_versions) & set(versions))
    if not common:
        offered = ", ".join(msg.version_text(v) for v in exchange.offered_versions[:8])
        raise DeviceProtocolError(f"the responder speaks SPDM {offered}; provcheck speaks 1.1 to 1.3")
    version = common[-1]
    ask(msg.get_capabilities(version))
    assert exchange.capabilities is not None
    missing = REQUIRED_CAPABILITIES & ~exchange.capabilities.flags
    if missing:
        names = [n for bit, n in msg.CAP_FLAG_NAMES.items() if missing & (1 << bit)]
        raise DeviceProtocolError(f"the responder lacks {', '.join(names)}: it cannot attest its measurements")
    ask(msg.negotiate_algorithms(version))
    session.steps["negotiate"] = round(time.monotonic() - started, 6)

    started = time.monotonic()
    ask(msg.get_digests(version))
    if slot not in exchange.digests:
        raise DeviceProtocolError(f"the responder has no certificate chain in slot {slot}")
    for _ in range(MAX_CHUNKS):
        have = len(exchange.chains.get(slot, b"")) if exchange.chains.get(slot) else 0
        ask(msg.get_certificate(version, slot, have, chunk))
        if exchange.chain_complete.get(slot):
            break
    else:
        raise DeviceProtocolError(f"the certificate chain in slot {slot} did not end after {MAX_CHUNKS} portions")
    session.steps["certificate"] = round(time.monotonic() - started, 6)

    started = time.monotonic()
    context = requester_context(nonce)
    ask(msg.challenge(version, slot, 0xFF, challenge_nonce(nonce), context))
    session.steps["challenge"] = round(time.monotonic() - started, 6)

    started = time.monotonic()
    ask(msg.get_measurements(version, operation=0xFF, signature=True, nonce=nonce, slot=slot, context=context))
    session.steps["measurements"] = round(time.monotonic() - started, 6)
    return session
