"""The console shell every text-console device shares: line editing, marker-wrapped commands, prompts."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from hw.sim.config import DeviceConfig
from hw.sim.device import COMMON_TAMPERS, SimulatedDevice, SimulatorState


def _split_top_level(line: str, separator: str = ";") -> list[str]:
    """Split a shell line at separators outside quotes and $( )."""
    parts: list[str] = []
    current: list[str] = []
    quote, depth = "", 0
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif line.startswith("$(", i):
            depth += 1
        elif ch == ")" and depth:
            depth -= 1
        elif ch == separator and depth == 0:
            parts.append("".join(current).strip())
            current = []
            i += 1
            continue
        current.append(ch)
        i += 1
    parts.append("".join(current).strip())
    return [p for p in parts if p]


_WRAPPED = re.compile(r"echo '([A-Za-z]+)''([A-Za-z]+)'; (.*); echo '\1''\2' \$\?")
Handler = Callable[[re.Match[str]], tuple[str, int]]


class ConsoleDevice(SimulatedDevice):
    """A text console: echoes what is typed, runs each line (marker-wrapped or bare) through a command table."""

    tampers = COMMON_TAMPERS | {"missing-commands", "fake-prompts"}
    prompt = "=> "
    unknown_status = 1
    interrupt_text = "<INTERRUPT>\n"

    def __init__(self, sim: SimulatorState) -> None:
        super().__init__(sim)
        self.status = 0
        self.commands: list[tuple[re.Pattern[str], Handler]] = []
        self.flooding = False
        self.commands_seen = 0

    def unknown(self, name: str) -> tuple[str, int]:
        return f"Unknown command '{name}' - try 'help'\n", 1

    def boot_banner(self) -> str:
        return ""

    def emit(self, text: str) -> None:
        self.line.write(text.replace("\n", "\r\n").encode())

    def run(self) -> None:
        banner = self.boot_banner()
        if "lost-before-attach" not in self.sim.tamper:
            self.emit(banner)
            self.emit(self.prompt)
        buffer = bytearray()
        while not self.sim.stopped and not self.line.closed:
            data = self.line.read(0.1)
            if not data:
                continue
            for byte in data:
                self.line.arrive(1)
                if byte in (0x0D, 0x0A):
                    if byte == 0x0A and not buffer and self._last_was_cr:
                        self._last_was_cr = False
                        continue
                    self._last_was_cr = byte == 0x0D
                    line = buffer.decode("utf-8", "replace")
                    buffer.clear()
                    self.emit("\n")
                    self.execute(line)
                    if self.line.closed:
                        return
                    self.emit(self.prompt)
                elif byte == 0x03:
                    buffer.clear()
                    self.emit(self.interrupt_text + self.prompt)
                elif byte in (0x08, 0x7F):
                    if buffer:
                        buffer.pop()
                        self.line.write(b"\x08 \x08")
                elif byte >= 0x20:
                    self._last_was_cr = False
                    if len(buffer) < 1024:
                        buffer.append(byte)
                        self.line.write(bytes([byte]))

    _last_was_cr = False

    def execute(self, line: str) -> None:
        if not line.strip():
            return
        self.commands_seen += 1
        self.slow()
        if "flood" in self.sim.tamper and self.commands_seen >= 2:
            self.flood()
            return
        wrapped = _WRAPPED.fullmatch(line.strip())
        if wrapped is None:
            self.run_inner(line.strip())
            return
        marker = wrapped.group(1) + wrapped.group(2)
        self.emit(marker + "\n")
        self.run_inner(wrapped.group(3))
        self.emit(f"{marker} {self.status}\n")

    def run_inner(self, command: str) -> None:
        segments = [command] if self.matches(command) else _split_top_level(command)
        for segment in segments:
            output, self.status = self.dispatch(segment)
            if "fake-prompts" in self.sim.tamper and output:
                output = self.fake_noise() + output + self.fake_noise()
            self.emit(output)

    def matches(self, command: str) -> bool:
        return any(pattern.fullmatch(command) for pattern, _ in self.commands)

    def fake_noise(self) -> str:
        return f"{self.prompt}\nlogin: \nAbCdEfGhIjKl 0\necho 'AbCd''EfGhIjKl' $?\n# {self.prompt}\n"

    def dispatch(self, command: str) -> tuple[str, int]:
        for pattern, handler in self.commands:
            found = pattern.fullmatch(command)
            if found:
                return handler(found)
        return self.unknown(command.split()[0])

    def flood(self) -> None:
        junk = (b"=> flood " * 400 + b"\r\n") * 4
        end = time.monotonic() + 120
        while not self.sim.stopped and not self.line.closed and time.monotonic() < end:
            self.line.write(junk)

    @classmethod
    def declared(cls, manifest: dict[str, Any], config: DeviceConfig) -> dict[str, Any]:
        # Only the attest profile proves a device key; a console manifest that declared one could never pass.
        return {name: value for name, value in manifest.items() if name != "identity"}
