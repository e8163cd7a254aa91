"""The raw, timestamped record of one serial session, capped in size.

The evidence carries the sha256 of the serialised transcript so that a reviewer can
tie a verdict to exactly the bytes the device sent. Past the cap the transcript stops
recording (and says so) but keeps counting, so a flood cannot exhaust memory.

Secrets are not recorded: the Linux console password is written to the device but recorded as
``<password redacted>`` (and so is an echo of it while logging in), and the sha256 covers what
was recorded. The transcript is kept in report directories and bound into the evidence and VSA,
so a password in it would be a password in every copy of the report.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_CAP = 8 * 1024 * 1024
_COALESCE_SECONDS = 0.01
#: What the transcript records in place of the console password.
REDACTED_PASSWORD = b"<password redacted>"


@dataclass(frozen=True)
class TranscriptSummary:
    sha256: str
    bytes_received: int
    bytes_sent: int
    recorded_bytes: int
    truncated: bool
    path: str | None

    def to_json(self) -> dict[str, object]:
        return {
            "sha256": self.sha256,
            "bytes_received": self.bytes_received,
            "bytes_sent": self.bytes_sent,
            "recorded_bytes": self.recorded_bytes,
            "truncated": self.truncated,
            "path": self.path,
        }


class Transcript:
    """Appends (time, direction, bytes) entries until ``cap`` bytes are recorded."""

    def __init__(self, cap: int = DEFAULT_CAP) -> None:
        self.cap = cap
        self.started = time.monotonic()
        self.started_wall = time.time()
        self._entries: list[tuple[float, str, bytearray]] = []
        self._recorded = 0
        self.bytes_received = 0
        self.bytes_sent = 0
        self.truncated = False
        self._secret = b""
        self._secret_sent = False

    def redact(self, secret: bytes) -> None:
        """Record the next write of ``secret`` as ``<password redacted>``, and any echo of it until ``end_redaction``.

        Only the one write and the window after it: replacing a short password everywhere in the session
        would show where it occurs in the device's output ("uid=0(<password redacted>)"), which tells it.
        """
        self._secret, self._secret_sent = secret, False

    def end_redaction(self) -> None:
        self._secret = b""

    def received(self, data: bytes) -> None:
        self.bytes_received += len(data)
        if self._secret and self._secret_sent:
            data = data.replace(self._secret, REDACTED_PASSWORD)
        self._add("rx", data)

    def sent(self, data: bytes) -> None:
        self.bytes_sent += len(data)
        if self._secret and not self._secret_sent and self._secret in data:
            data = data.replace(self._secret, REDACTED_PASSWORD)
            self._secret_sent = True
        self._add("tx", data)

    def note(self, event: str) -> None:
        self._add("event", event.encode())

    def _add(self, direction: str, data: bytes) -> None:
        room = self.cap - self._recorded
        if room <= 0:
            self.truncated = True
            return
        if len(data) > room:
            data = data[:room]
            self.truncated = True
        now = time.monotonic() - self.started
        self._recorded += len(data)
        if self._entries and direction != "event":
            last_t, last_dir, last_data = self._entries[-1]
            if last_dir == direction and now - last_t < _COALESCE_SECONDS:
                last_data.extend(data)
                return
        self._entries.append((now, direction, bytearray(data)))

    def serialise(self) -> bytes:
        """JSON lines: a header, then one line per entry with the bytes in base64."""
        header = {
            "provcheck_transcript": 1,
            "started": self.started_wall,
            "cap": self.cap,
            "truncated": self.truncated,
            "bytes_received": self.bytes_received,
            "bytes_sent": self.bytes_sent,
        }
        lines = [json.dumps(header, sort_keys=True)]
        for t, direction, data in self._entries:
            lines.append(
                json.dumps({"t": round(t, 6), "dir": direction, "b64": base64.b64encode(bytes(data)).decode()})
            )
        return ("\n".join(lines) + "\n").encode()

    def received_text(self) -> str:
        """What the device sent, as text; for error messages and auto-detection."""
        return b"".join(bytes(d) for _, direction, d in self._entries if direction == "rx").decode(
            "utf-8", "replace"
        )

    def finish(self, directory: Path | None, stem: str = "transcript") -> TranscriptSummary:
        blob = self.serialise()
        digest = hashlib.sha256(blob).hexdigest()
        path: str | None = None
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            target = directory / f"{stem}-{digest[:16]}.jsonl"
            write_atomic(target, blob)
            path = str(target)
        return TranscriptSummary(
            sha256=digest,
            bytes_received=self.bytes_received,
            bytes_sent=self.bytes_sent,
            recorded_bytes=self._recorded,
            truncated=self.truncated,
            path=path,
        )


def write_atomic(target: Path, blob: bytes) -> None:
    """Write to a temporary file in the same folder, then rename: never a partial record."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(blob)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
