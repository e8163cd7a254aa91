"""A serial line whose device is a script taken from the fuzz input.

Both serial harnesses (frames, console) drive the real host code over it. The
script is a sequence of records ``control (1 byte) || length (2 bytes, big-endian)
|| bytes``; what a subclass does with each record on a write is its own business.
"""

from __future__ import annotations

import struct

from hw.errors import TransportError
from hw.transcript import Transcript
from hw.transport import Deadline


class ScriptedLine:
    """The parts of a ``hw.transport.Transport`` that do not depend on what the device speaks."""

    def __init__(
        self, url: str, script: bytes, *, hang_up_when_done: bool, transcript_cap: int, session_seconds: float
    ) -> None:
        self.url = url
        self.transcript = Transcript(transcript_cap)
        self.deadline = Deadline(session_seconds)
        self.hang_up_when_done = hang_up_when_done
        self._script = script
        self._pos = 0
        self._pending = bytearray()
        self._piece = 4096

    def _next_record(self) -> tuple[int, bytes] | None:
        if self._pos + 3 > len(self._script):
            return None
        control, length = self._script[self._pos], struct.unpack(">H", self._script[self._pos + 1 : self._pos + 3])[0]
        body = self._script[self._pos + 3 : self._pos + 3 + length]
        self._pos += 3 + length
        return control, body

    def read(self, max_bytes: int, timeout: float) -> bytes:
        if not self._pending:
            if self.hang_up_when_done and self._pos + 3 > len(self._script):
                raise TransportError(f"lost the line {self.url}: the device hung up")
            return b""
        take = min(max_bytes, self._piece, len(self._pending))
        data = bytes(self._pending[:take])
        del self._pending[:take]
        self.transcript.received(data)
        return data

    def send_break(self) -> None:
        return

    def close(self) -> None:
        return
