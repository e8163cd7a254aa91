"""The wall-clock limit of one session (``hw.transport`` re-exports it; the spdm-emu transport needs it too)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from hw.errors import TransportError


@dataclass
class Deadline:
    """A wall-clock limit for a whole session."""

    seconds: float
    started: float = 0.0

    def __post_init__(self) -> None:
        self.started = time.monotonic()

    def remaining(self) -> float:
        return self.seconds - (time.monotonic() - self.started)

    def check(self, what: str = "session") -> float:
        left = self.remaining()
        if left <= 0:
            raise TransportError(f"{what} exceeded the {self.seconds:g} s deadline")
        return left

    def elapsed(self) -> float:
        return time.monotonic() - self.started
