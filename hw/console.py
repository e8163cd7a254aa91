"""Command/response over a text console, with labgrid-style markers and exit status.

Each command is sent as::

    echo 'AbCd''EfGhIj'; <command>; echo 'AbCd''EfGhIj' $?

The device echoes the line with the marker split by quotes; only the shell's own
``echo`` prints it joined. So the output is exactly what lies between the joined
start marker and the joined end marker, whatever the device echoes, and prompts
or stale markers inside the output cannot end it early: every command draws a
fresh random marker. U-Boot's hush and POSIX shells both accept this line.

Matching is done by pexpect on a spawn that reads from our ``Transport`` so the
same code serves ttys, ptys, rfc2217 and sockets, and every byte lands in the
transcript.
"""

from __future__ import annotations

import re
import secrets
import string
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import pexpect
from pexpect.spawnbase import SpawnBase

from hw.errors import DeviceProtocolError, TransportError
from hw.transport import Transport

DEFAULT_MAX_OUTPUT = 16 * 1024 * 1024
_MARKER_ALPHABET = string.ascii_letters


class OutputFlood(TransportError):
    """The device sent more than the per-command cap without finishing."""


class TransportSpawn(SpawnBase):  # type: ignore[misc]
    """A pexpect spawn whose child is a ``Transport`` rather than a process."""

    def __init__(self, transport: Transport, *, read_timeout: float, max_output: int) -> None:
        super().__init__(timeout=read_timeout, maxread=4096, searchwindowsize=None, encoding=None)
        self.transport = transport
        self.read_timeout = read_timeout
        self.max_output = max_output
        self.delaybeforesend = None
        self.delayafterread = None
        self.closed = False
        self._since_mark = 0

    def mark(self) -> None:
        """Start counting output towards the per-command cap."""
        self._since_mark = 0

    def read_nonblocking(self, size: int = 1, timeout: float | None = None) -> bytes:
        wait = self.read_timeout if timeout is None or timeout < 0 else min(timeout, self.read_timeout)
        self.transport.deadline.check()
        data = self.transport.read(size, wait)
        if not data:
            if wait >= self.read_timeout:
                raise TransportError(f"the device was silent for {self.read_timeout:g} s")
            raise pexpect.TIMEOUT("no output yet")
        self._since_mark += len(data)
        if self._since_mark > self.max_output:
            raise OutputFlood(f"the device sent more than {self.max_output} bytes for one command")
        return data

    def send(self, s: bytes | str) -> int:
        data = s.encode() if isinstance(s, str) else s
        self.transport.write(data)
        return len(data)

    def sendline(self, s: bytes | str = b"") -> int:
        data = s.encode() if isinstance(s, str) else s
        return self.send(data + b"\r")

    def isalive(self) -> bool:
        return not self.closed


@dataclass(frozen=True)
class CommandResult:
    command: str
    output: str
    status: int
    seconds: float

    @property
    def ok(self) -> bool:
        return self.status == 0


class MarkedConsole:
    """Runs commands on a shell-like console (U-Boot hush or a POSIX shell)."""

    def __init__(
        self,
        transport: Transport,
        *,
        prompt: re.Pattern[bytes],
        read_timeout: float = 10.0,
        max_output: int = DEFAULT_MAX_OUTPUT,
        newline: bytes = b"\r",
    ) -> None:
        self.transport = transport
        self.prompt = prompt
        self.newline = newline
        self.spawn = TransportSpawn(transport, read_timeout=read_timeout, max_output=max_output)
        self.history: list[CommandResult] = []
        self.echo_seen = False

    def expect(self, patterns: list[Any], timeout: float, window: int | None = None) -> int:
        limit = min(timeout, max(self.transport.deadline.remaining(), 0.0))
        try:
            index: int = self.spawn.expect(patterns, timeout=limit, searchwindowsize=window)
        except pexpect.EOF as exc:
            raise TransportError("the line closed") from exc
        except pexpect.TIMEOUT as exc:
            raise TransportError(f"no complete answer within {limit:.1f} s") from exc
        return index

    def drain(self, quiet: float = 0.2, limit: float = 2.0) -> bytes:
        """Read until the line has been quiet for ``quiet`` seconds; returns what came."""
        got = bytearray()
        end = time.monotonic() + limit
        while time.monotonic() < end:
            chunk = self.transport.read(4096, quiet)
            if not chunk:
                break
            got.extend(chunk)
            if len(got) > self.spawn.max_output:
                raise OutputFlood("the device does not stop sending")
        return bytes(got)

    def run(self, command: str, *, timeout: float = 30.0) -> CommandResult:
        if any(ch in command for ch in "\r\n"):
            raise ValueError("one line per command")
        marker = "".join(secrets.choice(_MARKER_ALPHABET) for _ in range(12))
        head, tail = marker[:4], marker[4:]
        line = f"echo '{head}''{tail}'; {command}; echo '{head}''{tail}' $?"
        start_re = re.compile(re.escape(marker.encode()) + rb"\r?\n")
        end_re = re.compile(re.escape(marker.encode()) + rb" (\d{1,3})\r?\n")
        begun = time.monotonic()
        self.spawn.mark()
        self.spawn.send(line.encode() + self.newline)
        self.expect([start_re], timeout)
        self._check_echo(line.encode(), bytes(self.spawn.before))
        self.expect([end_re], timeout, window=4096)
        output = bytes(self.spawn.before)
        status = int(self.spawn.match.group(1))
        # Wait for the prompt so a slow UART FIFO never loses the next command's first bytes.
        self.expect([self.prompt], timeout, window=4096)
        result = CommandResult(command, _clean(output), status, time.monotonic() - begun)
        self.history.append(result)
        return result

    def _check_echo(self, sent: bytes, before: bytes) -> None:
        """The device echoes what we type: a damaged echo means the line is damaging bytes.

        Faults on a UART hit bytes independently, so an intact echo of every command is strong
        evidence that the answers crossed intact too; the profiles add double reads on top.
        """
        want = _squash(sent)
        got = _squash(before[-(len(sent) * 2 + 256) :])
        if len(got) * 2 < len(want):
            return  # this console does not echo
        self.echo_seen = True
        if want not in got:
            raise TransportError("the device's echo of our command arrived damaged: the line is corrupting data")

    def run_ok(self, command: str, *, timeout: float = 30.0) -> str:
        result = self.run(command, timeout=timeout)
        if not result.ok:
            raise DeviceProtocolError(f"'{command}' failed on the device with status {result.status}")
        return result.output


_ESCAPES = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
_CONTROL_AND_SPACE = re.compile(rb"[\x00-\x20\x7f]")


class TextConsole:
    """What the text-console bindings of ``hw.profile.ConsoleProfile`` share: known by what they print.

    ``signs`` matches the tail of what the console showed (a banner, a prompt); a text console has
    no probe of its own, and ``--profile auto`` never sends one to it.
    """

    signs: ClassVar[re.Pattern[bytes]]

    def recognizes(self, console_tail: bytes) -> bool:
        return self.signs.search(console_tail) is not None

    def answers_probe(self, transport: Transport, *, timeout: float) -> bool:
        return False


def prompt_at_end(pattern: bytes) -> re.Pattern[bytes]:
    """A prompt regex anchored at the end of what arrived, allowing terminal queries after it.

    Line editors send escape sequences after the prompt (busybox ash asks for the cursor
    position with ESC [ 6 n), so the prompt is not always the last bytes on the line.
    """
    return re.compile(rb"(?:" + pattern + rb")(?:\x1b\[[0-9;?]*[A-Za-z])*$")


def without_escapes(data: bytes) -> bytes:
    return _ESCAPES.sub(b"", data)


def _squash(data: bytes) -> bytes:
    """Without terminal escapes, whitespace and control bytes: line editors re-wrap long echoes."""
    return _CONTROL_AND_SPACE.sub(b"", _ESCAPES.sub(b"", data))


def _clean(raw: bytes) -> str:
    text = raw.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")
    return text.replace("\x00", "")
