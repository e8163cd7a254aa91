"""The device's end of a simulated serial line: UART pacing, byte damage and a pulled cable."""

from __future__ import annotations

import contextlib
import os
import random
import select
import threading
import time
from typing import Protocol


class LineOwner(Protocol):
    """What the line needs of the simulator that owns the pty: its knobs, counters, descriptors and stop switch."""

    baud: int
    baud_pacing: bool
    seed: int
    tamper: frozenset[str]
    tamper_rate: float
    disconnect_after: int
    bytes_in: int
    bytes_out: int
    master_fd: int
    slave_fd: int
    stop_event: threading.Event

    @property
    def stopped(self) -> bool: ...


class Line:
    """The device's end of the wire: pacing, faults and the disconnect knob.

    With pacing, output goes through a 64-byte transmit FIFO drained at the line rate by its own
    thread, as a UART's does: the device blocks only when the FIFO is full, so it can echo a
    byte while the next one arrives. Input is released to the device byte by byte at the rate
    the bytes would arrive.
    """

    FIFO_BYTES = 64
    TX_CHUNK = 16

    def __init__(self, sim: LineOwner) -> None:
        self.sim = sim
        self.rate = sim.baud / 10
        self.rng = random.Random(sim.seed)  # noqa: S311 - reproducible line faults, not secrets
        self._tx_clock = 0.0
        self._rx_clock = 0.0
        self._last_read = 0.0
        self.closed = False
        self._fifo = bytearray()
        self._hang_up_when_sent = False
        self._cond = threading.Condition()
        self._transmitter: threading.Thread | None = None
        if sim.baud_pacing:
            self._transmitter = threading.Thread(target=self._transmit, name="sim-uart-tx", daemon=True)
            self._transmitter.start()

    def sleep(self, seconds: float) -> None:
        self.sim.stop_event.wait(seconds)

    def _sleep_until(self, moment: float) -> None:
        # Sub-millisecond sleeps cost more than they wait: let a little lag build up, then catch up.
        delay = moment - time.monotonic()
        if delay > 0.002:
            self.sleep(delay)
        elif delay > 0.0005:
            time.sleep(delay)

    def read(self, timeout: float) -> bytes:
        if self.closed or self.sim.stopped:
            return b""
        ready, _, _ = select.select([self.sim.master_fd], [], [], timeout)
        if not ready:
            return b""
        try:
            data = os.read(self.sim.master_fd, 4096)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError:
            self.closed = True
            return b""
        self.sim.bytes_in += len(data)
        self._last_read = time.monotonic()
        return data

    def arrive(self, nbytes: int) -> None:
        """With pacing, wait until ``nbytes`` more input would have crossed the line."""
        if not self.sim.baud_pacing:
            return
        self._rx_clock = max(self._rx_clock, self._last_read) + nbytes / self.rate
        self._sleep_until(self._rx_clock)

    def write(self, data: bytes) -> None:
        if self.closed or self.sim.stopped or not data:
            return
        tamper = self.sim.tamper
        if "drop-bytes" in tamper or "garble-bytes" in tamper:
            data = self._damage(data)
        hang_up = False
        if "disconnect" in tamper and self.sim.bytes_out + len(data) > self.sim.disconnect_after:
            data = data[: max(0, self.sim.disconnect_after - self.sim.bytes_out)]
            hang_up = True
        self.sim.bytes_out += len(data)
        if self._transmitter is None:
            self._send(data)
            if hang_up:
                self.hang_up()
            return
        with self._cond:
            for start in range(0, len(data), self.FIFO_BYTES):
                while len(self._fifo) >= self.FIFO_BYTES and not self.sim.stopped and not self.closed:
                    self._cond.wait(0.05)
                self._fifo.extend(data[start : start + self.FIFO_BYTES])
                self._cond.notify_all()
            if hang_up:
                self._hang_up_when_sent = True
                self.closed = True
                self._cond.notify_all()

    def _transmit(self) -> None:
        while not self.sim.stopped:
            with self._cond:
                while not self._fifo and not self.sim.stopped:
                    if self._hang_up_when_sent:
                        self.hang_up()
                        return
                    self._cond.wait(0.05)
                piece = bytes(self._fifo[: self.TX_CHUNK])
                del self._fifo[: self.TX_CHUNK]
                self._cond.notify_all()
            # The bytes reach the other end once they have crossed the line. A late wake-up is made
            # up on the next chunks; only a line that really went idle restarts the clock.
            now = time.monotonic()
            if now - self._tx_clock > 0.005:
                self._tx_clock = now
            self._tx_clock += len(piece) / self.rate
            self._sleep_until(self._tx_clock)
            self._send(piece)

    def _damage(self, data: bytes) -> bytes:
        out = bytearray()
        rate = self.sim.tamper_rate
        for byte in data:
            roll = self.rng.random()
            if roll < rate and "drop-bytes" in self.sim.tamper:
                continue
            if roll < rate and "garble-bytes" in self.sim.tamper:
                byte ^= 1 << self.rng.randrange(8)
            out.append(byte)
        return bytes(out)

    def _send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self.sim.stopped or self.sim.master_fd < 0:
                return
            try:
                written = os.write(self.sim.master_fd, view)
            except BlockingIOError:
                select.select([], [self.sim.master_fd], [], 0.1)
                continue
            except OSError:
                self.closed = True
                return
            view = view[written:]

    def hang_up(self) -> None:
        """The cable is pulled: the reader's next read fails."""
        self.closed = True
        with contextlib.suppress(OSError):
            os.close(self.sim.master_fd)
        self.sim.master_fd = -1
        with contextlib.suppress(OSError):
            os.close(self.sim.slave_fd)
        self.sim.slave_fd = -1
