"""Serial transports behind one small interface, opened with pyserial's ``serial_for_url``.

Every byte that crosses the line goes through ``Transcript`` so that the evidence
can carry its sha256. Reads always have a timeout and the session has a deadline,
so a silent or hostile device can never hold the reader longer than it allows.
"""

from __future__ import annotations

import contextlib
import time
from typing import Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import serial

from hw.deadline import Deadline as Deadline  # re-exported: the transports and readers take it from here
from hw.errors import TransportError
from hw.spdm.emu import EmuTransport
from hw.transcript import Transcript

try:
    import termios
except ImportError:  # pragma: no cover - not POSIX
    termios = None  # type: ignore[assignment]

DEFAULT_BAUD = 115200
_READ_CHUNK = 4096


def _line_errors() -> tuple[type[BaseException], ...]:
    """What a dying line raises: pyserial's errors, OSError, and termios.error (not an OSError)."""
    errors: list[type[BaseException]] = [serial.SerialException, OSError]
    if termios is not None:
        errors.append(termios.error)
    return tuple(errors)


_POLL_SECONDS = 0.01


class Transport(Protocol):
    """What a console profile or the attest client needs from a line."""

    url: str
    transcript: Transcript
    deadline: Deadline

    def read(self, max_bytes: int, timeout: float) -> bytes:
        """Up to ``max_bytes``; ``b""`` when nothing arrived within ``timeout``."""
        ...

    def write(self, data: bytes) -> None: ...

    def send_break(self) -> None: ...

    def close(self) -> None: ...


def normalise_url(url: str) -> str:
    """Add ``ign_set_control`` to rfc2217 URLs: ser2net does not answer SET_CONTROL.

    Without it pyserial waits for an acknowledgement that never comes and fails the open.
    """
    parts = urlsplit(url)
    if parts.scheme != "rfc2217":
        return url
    query = parse_qsl(parts.query, keep_blank_values=True)
    if not any(key == "ign_set_control" for key, _ in query):
        query.append(("ign_set_control", ""))
    encoded = urlencode(query).replace("ign_set_control=", "ign_set_control")
    return urlunsplit((parts.scheme, parts.netloc, parts.path, encoded, parts.fragment))


class SerialTransport:
    """A pyserial port: local tty, pty path, ``rfc2217://``, ``socket://`` or ``loop://``."""

    def __init__(
        self,
        url: str,
        *,
        baud: int | None = None,
        deadline: Deadline,
        transcript: Transcript,
        open_timeout: float = 5.0,
    ) -> None:
        open_errors: tuple[type[BaseException], ...] = (*_line_errors(), ValueError)
        self.url = normalise_url(url)
        self.deadline = deadline
        self.transcript = transcript
        try:
            port = serial.serial_for_url(self.url, do_not_open=True)
            port.baudrate = baud or DEFAULT_BAUD
            port.timeout = _POLL_SECONDS
            if not self.url.startswith(("rfc2217://", "socket://")):
                # Network ports reject write timeouts; the socket's own timeout bounds them instead.
                port.write_timeout = open_timeout
            port.open()
        except open_errors as exc:
            # A pty whose other end just hung up fails tcsetattr with termios.error (not an OSError)
            # inside open(): the line is gone, which is inconclusive, never a crash.
            raise TransportError(f"cannot open {self.url}: {_reason(exc)}") from exc
        self._port = port

    def read(self, max_bytes: int, timeout: float) -> bytes:
        limit = min(timeout, max(self.deadline.remaining(), 0.0))
        end = time.monotonic() + limit
        try:
            while True:
                # The port's own timeout is a short poll interval, set once at open: changing it
                # per read would renegotiate the line settings on rfc2217 ports.
                waiting = self._port.in_waiting
                data = bytes(self._port.read(max(1, min(max_bytes, waiting, _READ_CHUNK))))
                if data:
                    self.transcript.received(data)
                    return data
                if time.monotonic() >= end:
                    return b""
        except _line_errors() as exc:
            raise TransportError(f"lost the line {self.url}: {_reason(exc)}") from exc

    def write(self, data: bytes) -> None:
        self.deadline.check()
        try:
            self._port.write(data)
            self._port.flush()
        except _line_errors() as exc:
            raise TransportError(f"cannot write to {self.url}: {_reason(exc)}") from exc
        self.transcript.sent(data)

    def send_break(self) -> None:
        # ptys and some network ports cannot signal a break; the caller falls back to Ctrl-C.
        try:
            self._port.send_break(0.25)
        except (NotImplementedError, AttributeError):
            return
        except _line_errors():
            return
        self.transcript.note("break")

    def close(self) -> None:
        # Closing a dead port must not mask the error that killed it.
        with contextlib.suppress(Exception):
            self._port.close()


def open_transport(
    url: str, *, baud: int | None, deadline: Deadline, transcript: Transcript
) -> Transport:
    if not url or "\x00" in url:
        raise TransportError("no port given")
    if url.startswith("spdm-emu://"):  # DMTF spdm-emu's TCP socket: its own framing, not a serial line
        return EmuTransport(url, deadline=deadline, transcript=transcript)
    return SerialTransport(url, baud=baud, deadline=deadline, transcript=transcript)


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or exc.__class__.__name__
