"""DMTF spdm-emu's TCP socket: the framing its ``spdm_responder_emu`` speaks, and a transport that opens it.

Hand-written: spdm-emu is C and ships no Python client. Every message, both ways, is three big-endian uint32
(command, transport type, payload size) and the payload; for the MCTP transport the payload is the MCTP message
type byte and the SPDM message (no MCTP transport header), for NONE the SPDM message alone. Commands: NORMAL 1,
TEST 0xDEAD, CONTINUE 0xFFFD, SHUTDOWN 0xFFFE, UNKNOWN 0xFFFF. Each frame goes out in one write with TCP_NODELAY
(the responder reads it in one recv). ``--port spdm-emu://HOST:PORT`` (``?transport=none`` for NONE).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from hw.deadline import Deadline
from hw.errors import DeviceProtocolError, TransportError
from hw.transcript import Transcript

SCHEME = "spdm-emu"
DEFAULT_PORT = 2323
COMMAND_NORMAL = 0x0001
COMMAND_TEST = 0xDEAD
COMMAND_CONTINUE = 0xFFFD
COMMAND_SHUTDOWN = 0xFFFE
COMMAND_UNKNOWN = 0xFFFF
TRANSPORT_NONE = 0
TRANSPORT_MCTP = 1
TRANSPORT_NAMES = {"none": TRANSPORT_NONE, "mctp": TRANSPORT_MCTP}
HEADER = struct.Struct(">III")
MAX_PAYLOAD = 0x10000 + 64


@dataclass(frozen=True)
class EmuFrame:
    command: int
    transport: int
    payload: bytes


def encode(command: int, transport: int, payload: bytes) -> bytes:
    return HEADER.pack(command, transport, len(payload)) + payload


class EmuSplitter:
    """Cuts the byte stream into frames; a stated size beyond ``MAX_PAYLOAD`` is refused before anything is held."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[EmuFrame]:
        self._buffer += data
        out = []
        while len(self._buffer) >= HEADER.size:
            command, transport, size = HEADER.unpack_from(self._buffer)
            if size > MAX_PAYLOAD:
                raise DeviceProtocolError(f"spdm-emu frame states a {size}-byte payload, more than {MAX_PAYLOAD}")
            if len(self._buffer) < HEADER.size + size:
                break
            out.append(EmuFrame(command, transport, bytes(self._buffer[HEADER.size : HEADER.size + size])))
            del self._buffer[: HEADER.size + size]
        return out


@dataclass(frozen=True)
class EmuAddress:
    host: str
    port: int
    transport: int


def parse_url(url: str) -> EmuAddress:
    parts = urlsplit(url)
    if parts.scheme != SCHEME or not parts.hostname:
        raise ValueError(f"{url!r} is not spdm-emu://HOST:PORT")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError as exc:
        raise ValueError(f"{url!r}: the port is not a number") from exc
    query = parse_qs(parts.query)
    name = query.get("transport", ["mctp"])[-1].lower()
    if name not in TRANSPORT_NAMES:
        raise ValueError(f"{url!r}: transport must be mctp or none")
    return EmuAddress(parts.hostname, port, TRANSPORT_NAMES[name])


class EmuTransport:
    """A TCP connection to spdm_responder_emu, with the ``hw.transport.Transport`` interface."""

    def __init__(self, url: str, *, deadline: Deadline, transcript: Transcript, open_timeout: float = 5.0) -> None:
        self.url = url
        self.deadline = deadline
        self.transcript = transcript
        try:
            self.address = parse_url(url)
        except ValueError as exc:
            raise TransportError(str(exc)) from exc
        try:
            self._socket = socket.create_connection((self.address.host, self.address.port), timeout=open_timeout)
            self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as exc:
            raise TransportError(f"cannot connect to {url}: {exc.strerror or exc}") from exc

    def read(self, max_bytes: int, timeout: float) -> bytes:
        limit = max(min(timeout, self.deadline.remaining()), 0.0)
        self._socket.settimeout(max(limit, 0.001))
        try:
            data = self._socket.recv(max(1, min(max_bytes, 65536)))
        except TimeoutError:
            return b""
        except OSError as exc:
            raise TransportError(f"lost the connection to {self.url}: {exc}") from exc
        if not data:
            raise TransportError(f"{self.url} closed the connection")
        self.transcript.received(data)
        return data

    def write(self, data: bytes) -> None:
        self.deadline.check()
        try:
            self._socket.sendall(data)
        except OSError as exc:
            raise TransportError(f"cannot write to {self.url}: {exc}") from exc
        self.transcript.sent(data)

    def send_break(self) -> None:
        return

    def close(self) -> None:
        # CONTINUE tells the responder this client is done and another may follow; without it, it exits.
        with contextlib.suppress(OSError):
            self._socket.settimeout(0.5)
            self._socket.sendall(encode(COMMAND_CONTINUE, self.address.transport, b""))
            end = time.monotonic() + 0.5
            while time.monotonic() < end and self._socket.recv(4096):
                pass
        with contextlib.suppress(OSError):
            self._socket.close()
