"""The U-Boot and Linux console profiles, through the real reader code; the first byte picks the profile.

Input: ``selector (1 byte) || flags (1 byte) || banner record || command records``, where a record is
``control (1 byte) || length (2 bytes, big-endian) || output bytes``.

A scripted device (a ``hw.transport.Transport``) plays the console: the banner is on the line when
the reader attaches; every marked command line the reader writes (``echo 'AbCd''EfGh…'; CMD;
echo 'AbCd''EfGh…' $?``) is answered the way a shell answers it: the echo of the line, the joined
start marker, the next record's output, the joined end marker with a status, and a prompt. The
control byte picks the status and the faults: no echo, no end marker, no prompt, delivery in small
pieces of 7 to 55 bytes. With flag bit 1 a command the device has already answered gets the same answer again, so
the readers' "read it twice" checks let the fuzzer go deep; without it every answer is a new record.
Other lines (Ctrl-C, PS1, a user name) are echoed and followed by a prompt. When the records run out
the line goes silent or drops (flag bit 0).

Read timeouts are milliseconds and the session deadline 0.3 s. Only ``hw.errors.HardwareError``
escapes; ``ValueError`` is raised by the profiles only for a command line holding a newline, which
the readers never build from device output, so it is not allowed.

Seeds in ``fuzz/corpus/console/`` were recorded from the simulator with
``python fuzz/fuzz_console.py --record fuzz/corpus/console``.
"""

from __future__ import annotations

import re
import struct
import sys
from dataclasses import replace
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["hw"]):
    from hw.console import CommandResult
    from hw.errors import HardwareError
    from hw.linux import LinuxReader, reach_shell, read_linux
    from hw.profile import ReadOptions, RegionSpec
    from hw.transcript import Transcript
    from hw.transport import Deadline
    from hw.uboot import UBootReader, reach_prompt, read_uboot

from _harness import run
from _scripted import ScriptedLine

SESSION_SECONDS = 0.3
READ_TIMEOUT = 0.005
NONCE = bytes(range(32))
_MARKED = re.compile(rb"echo '([A-Za-z]{4})''([A-Za-z]{8})'; (.*); echo '\1''\2' \$\?")
_STATUS = (0, 0, 1, 127)
UBOOT_OPTIONS = ReadOptions(
    regions=(RegionSpec("bootloader", 0x08000000, 64), RegionSpec("spl", path="/dev/mtd1")),
    nonce=NONCE,
    read_timeout=READ_TIMEOUT,
    max_output=64 * 1024,
)
LINUX_OPTIONS = ReadOptions(
    regions=(RegionSpec("bootloader", size=4096, path="/dev/mtd0"), RegionSpec("spl", 0, 16)),
    username="root",
    password="root",
    nonce=NONCE,
    read_timeout=READ_TIMEOUT,
    max_output=64 * 1024,
)


class ScriptedConsole(ScriptedLine):
    """A ``hw.transport.Transport`` whose device is a shell answering from a script."""

    def __init__(self, script: bytes, *, prompt: bytes, hang_up_when_done: bool, repeat_answers: bool) -> None:
        super().__init__(
            "scripted://console",
            script,
            hang_up_when_done=hang_up_when_done,
            transcript_cap=256 * 1024,
            session_seconds=SESSION_SECONDS,
        )
        self.prompt = prompt
        self.repeat_answers = repeat_answers
        self._typed = bytearray()
        self._answers: dict[bytes, tuple[int, bytes]] = {}
        banner = self._next_record()
        if banner is not None:
            self._pending.extend(banner[1])

    def write(self, data: bytes) -> None:
        self.deadline.check()
        self.transcript.sent(data)
        for byte in data:
            if byte == 0x03:
                self._pending.extend(b"^C\r\n" + self.prompt)
            elif byte in b"\r\n":
                self._line(bytes(self._typed))
                self._typed.clear()
            else:
                self._typed.append(byte)

    def _line(self, line: bytes) -> None:
        found = _MARKED.fullmatch(line)
        if found is None:
            self._pending.extend(line + b"\r\n" + self.prompt)
            return
        marker, command = found.group(1) + found.group(2), found.group(3)
        answer = self._answers.get(command) if self.repeat_answers else None
        if answer is None:
            answer = self._next_record()
            if answer is None:
                return  # out of script: the device says nothing more
            self._answers[command] = answer
        control, output = answer
        self._piece = 4096 if control & 0x20 == 0 else 7 + 16 * (control >> 6)
        if control & 0x04 == 0:
            self._pending.extend(line + b"\r\n")
        self._pending.extend(marker + b"\r\n" + output)
        if control & 0x10 == 0:
            self._pending.extend(marker + b" %d\r\n" % _STATUS[control & 0x03])
        if control & 0x08 == 0:
            self._pending.extend(self.prompt)





UBOOT_STEPS = ("read_version", "read_bdinfo", "read_env", "read_fdt", "read_flash", "read_regions", "read_tpm")
LINUX_STEPS = ("read_dmi", "read_device_tree", "read_macs", "read_components", "read_regions", "read_tpm")


def target(data: bytes) -> None:
    """Selector bit 0: U-Boot (0) or Linux (1); bits 1-3: 0 the whole read, n the reader's n-th step alone."""
    if len(data) < 2:
        return
    uboot, step, flags = not data[0] & 1, (data[0] >> 1) & 0x07, data[1]
    device = ScriptedConsole(
        data[2:],
        prompt=b"=> " if uboot else b"pcsh# ",
        hang_up_when_done=bool(flags & 1),
        repeat_answers=bool(flags & 2),
    )
    steps = UBOOT_STEPS if uboot else LINUX_STEPS
    if step == 0 or step > len(steps):
        if uboot:
            read_uboot(device, UBOOT_OPTIONS, SESSION_SECONDS)
        else:
            read_linux(device, LINUX_OPTIONS)
        return
    # One step after reaching the prompt: a short session, so the fuzzer spends its time in that parser.
    if uboot:
        console = reach_prompt(device, read_timeout=READ_TIMEOUT, max_output=UBOOT_OPTIONS.max_output)
        getattr(UBootReader(console, UBOOT_OPTIONS, SESSION_SECONDS), steps[step - 1])()
    else:
        getattr(LinuxReader(reach_shell(device, LINUX_OPTIONS), LINUX_OPTIONS), steps[step - 1])()


# --- seeds ----------------------------------------------------------------------------------------


def _script(selector: int, flags: int, history: list[CommandResult]) -> bytes:
    script = bytearray([selector, flags]) + struct.pack(">BH", 0, 0)
    seen: set[str] = set()
    for result in history:
        if flags & 2 and result.command in seen:
            continue
        seen.add(result.command)
        output = result.output.replace("\n", "\r\n").encode()
        status = {0: 0, 1: 2, 127: 3}.get(result.status, 2)
        script += struct.pack(">BH", status, len(output)) + output
    return bytes(script)


def record(into: Path) -> None:
    """Run each profile against the simulator, whole and step by step; keep every command's output as a script."""
    from hw.sim import Simulator
    from hw.transport import open_transport

    into.mkdir(parents=True, exist_ok=True)
    for profile, bit in (("uboot", 0), ("linux", 1)):
        options = replace(UBOOT_OPTIONS if profile == "uboot" else LINUX_OPTIONS, read_timeout=5.0)
        steps = UBOOT_STEPS if profile == "uboot" else LINUX_STEPS
        with Simulator(profile) as sim:
            transport = open_transport(sim.port, baud=None, deadline=Deadline(60), transcript=Transcript())
            try:
                if profile == "uboot":
                    console = reach_prompt(transport, read_timeout=5.0)
                    reader: UBootReader | LinuxReader = UBootReader(console, options, 60)
                else:
                    console = reach_shell(transport, options)
                    reader = LinuxReader(console, options)
                reached = list(console.history)
                for index, step in enumerate(steps, start=1):
                    before = len(console.history)
                    getattr(reader, step)()
                    history = reached + console.history[before:]
                    (into / f"{profile}-{step}.bin").write_bytes(_script(bit | index << 1, 0, history))
            finally:
                transport.close()
        for flags, name in ((0, "every-answer"), (2, "answers-once")):
            (into / f"{profile}-{name}.bin").write_bytes(_script(bit, flags, console.history))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--record"]:
        record(Path(sys.argv[2]))
    else:
        run(target, (HardwareError,))
