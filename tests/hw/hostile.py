"""A hostile device on a pty, scripted by the test: it floods, trickles, or lies."""

from __future__ import annotations

import os
import select
import threading
import tty
from collections.abc import Callable
from types import TracebackType


class PtyDevice:
    """Runs ``behaviour(write, read, stopped)`` in a thread on the master side of a fresh pty."""

    def __init__(self, behaviour: Callable[[Callable[[bytes], None], Callable[[float], bytes],
                                            threading.Event], None]) -> None:
        self.behaviour = behaviour
        self.stop_event = threading.Event()
        self.sent = 0
        master, slave = os.openpty()
        tty.setraw(slave)
        self.master, self.slave = master, slave
        self.port = os.ttyname(slave)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view and not self.stop_event.is_set():
            _, ready, _ = select.select([], [self.master], [], 0.1)
            if ready:
                try:
                    written = os.write(self.master, view)
                except OSError:
                    return
                self.sent += written
                view = view[written:]

    def read(self, timeout: float) -> bytes:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return b""
        try:
            return os.read(self.master, 4096)
        except OSError:
            return b""

    def _run(self) -> None:
        self.behaviour(self.write, self.read, self.stop_event)

    def __enter__(self) -> PtyDevice:
        self.thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop_event.set()
        self.thread.join(timeout=5)
        os.close(self.master)
        os.close(self.slave)
