"""The U-Boot console profile.

Reaches the prompt (interrupting autoboot, or sending a break), then reads
``version``, ``bdinfo``, selected ``printenv`` variables, the device-tree model,
``flinfo``/``mtd list``, firmware region digests and TPM PCRs.

Region digests, best first: ``hash sha256`` where the build has it; otherwise
``crc32`` (integrity-only: marked weak); and an ``md.b`` dump hashed on the host when
the region is small enough to cross the line in the time allowed. Debian's QEMU
U-Boot has crc32, md.b and tpm2 but no ``hash``.

A console line has no integrity of its own, so each fact that a verdict rests on is
read twice and a difference is reported as line corruption (a transport error,
never tampering); a dump is cross-checked against the device's own crc32.
"""

from __future__ import annotations

import hashlib
import re
import time
import zlib

from hw.console import MarkedConsole, TextConsole, prompt_at_end
from hw.errors import DeviceProtocolError, TransportError
from hw.evidence import Component, Fact, Observable, RegionDigest, TpmEvidence
from hw.profile import ProfileFacts, ReadOptions, RegionSpec
from hw.transport import Transport

# U-Boot prompts end in '>': "=> ", "U-Boot> ", "ZynqMP> ". Only waited for right after an end marker.
GENERIC_PROMPT = rb"> ?"
_ENV_VARS = ("serial#", "ethaddr", "eth1addr", "board", "board_name", "board_rev", "vendor")
_JEDEC = {0x01: "AMD/Spansion", 0x1F: "Atmel", 0x20: "Micron/ST", 0x89: "Intel", 0xBF: "SST", 0xC2: "Macronix",
          0xEF: "Winbond", 0x9D: "ISSI", 0xC8: "GigaDevice"}
# The start of an md.b line: its address. Anything that starts like this is held to the exact layout.
_MD_ADDRESS = re.compile(r"([0-9a-fA-F]{8,16}):")
_MD_BYTES_PER_LINE = 16
_DIGEST_TAIL = re.compile(r"==>\s*([0-9a-fA-F]{8,128})\s*$", re.MULTILINE)
_PCR_INDICES = tuple(range(8))


def reach_prompt(
    transport: Transport, *, read_timeout: float, prompt: str | None = None, max_output: int = 16 * 1024 * 1024
) -> MarkedConsole:
    """Get to the U-Boot prompt, whatever state the console is in; returns a console bound to it.

    Ctrl-C stops an autoboot countdown (any key does) or a running command, and on an idle prompt
    just prints a new one. Then a marked ``true`` proves we are in sync with the command loop; no
    fixed waits for the line to go quiet, so the reader costs no idle time on a fast device.
    """
    pattern = prompt_at_end(re.escape(prompt.encode()) if prompt else GENERIC_PROMPT)
    console = MarkedConsole(transport, prompt=pattern, read_timeout=read_timeout, max_output=max_output)
    attempt_timeout = min(2.0, read_timeout)
    for attempt in range(6):
        transport.deadline.check("reaching the U-Boot prompt")
        if attempt == 3:
            transport.send_break()
        transport.write(b"\x03")
        try:
            console.run_ok("true", timeout=attempt_timeout)
        except (TransportError, DeviceProtocolError):
            console.drain(quiet=0.1, limit=min(3.0, read_timeout))
            continue
        return console
    raise TransportError("no U-Boot prompt after interrupting autoboot and sending break")


class UBootReader:
    def __init__(self, console: MarkedConsole, options: ReadOptions, deadline_seconds: float) -> None:
        self.console = console
        self.options = options
        self.deadline_seconds = deadline_seconds
        self.facts = ProfileFacts(UBootProfile.name)
        self._available: dict[str, bool] = {}

    # -- helpers ---------------------------------------------------------------------------------

    def _twice(self, command: str, *, timeout: float = 30.0) -> tuple[str, int]:
        """Run a command twice and insist on identical output: the console has no checksum."""
        first = self.console.run(command, timeout=timeout)
        second = self.console.run(command, timeout=timeout)
        self.facts.device_seconds += first.seconds + second.seconds
        if first.output != second.output or first.status != second.status:
            raise TransportError(f"'{command}' gave different output twice: the line is corrupting data")
        return first.output, first.status

    def _has(self, command: str) -> bool:
        if command not in self._available:
            # 'help CMD' returns 1 even for a known command (it prints the usage): only the text tells.
            result = self.console.run(f"help {command}")
            self._available[command] = "Unknown command" not in result.output and bool(result.output.strip())
        return self._available[command]

    def _step(self, name: str, started: float) -> None:
        self.facts.steps[name] = round(time.monotonic() - started, 6)

    # -- facts -----------------------------------------------------------------------------------

    def read(self) -> ProfileFacts:
        for name, step in (
            ("version", self.read_version),
            ("bdinfo", self.read_bdinfo),
            ("printenv", self.read_env),
            ("fdt", self.read_fdt),
            ("flash", self.read_flash),
            ("regions", self.read_regions),
            ("tpm", self.read_tpm),
        ):
            started = time.monotonic()
            step()
            self._step(name, started)
        return self.facts

    def read_version(self) -> None:
        output, status = self._twice("version")
        lines = [line.strip() for line in output.splitlines() if line.strip()]
        if status != 0 or not lines:
            raise DeviceProtocolError("'version' gave nothing: is this a U-Boot console?")
        self.facts.identity["firmware_version"] = Fact(lines[0][:200], "reported", "version")

    def read_bdinfo(self) -> None:
        if not self._has("bdinfo"):
            self.facts.notes.append("bdinfo is not in this U-Boot build")
            return
        output, _ = self._twice("bdinfo")
        info = _key_values(output, " = ")
        mac = info.get("ethaddr", "")
        if re.fullmatch(r"(?:[0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}", mac):
            self.facts.identity.setdefault("macs", Fact([mac.lower()], "reported", "bdinfo"))
        size = info.get("-> size")
        if size:
            self.facts.notes.append(f"bdinfo: DRAM size {size[:32]}")

    def read_env(self) -> None:
        output, _ = self._twice("printenv " + " ".join(_ENV_VARS))
        env = {k: v for k, v in _key_values(output, "=").items() if k in _ENV_VARS}
        if env.get("serial#"):
            self.facts.identity["serial"] = Fact(env["serial#"], "reported", "printenv serial#")
        macs = [env[k].lower() for k in ("ethaddr", "eth1addr") if env.get(k)]
        if macs:
            self.facts.identity["macs"] = Fact(macs, "reported", "printenv ethaddr")
        if env.get("vendor"):
            self.facts.identity["manufacturer"] = Fact(env["vendor"], "reported", "printenv vendor")
        if env.get("board_rev"):
            self.facts.identity["board_revision"] = Fact(env["board_rev"], "reported", "printenv board_rev")
        board = env.get("board_name") or env.get("board")
        if board:
            self.facts.identity["board"] = Fact(board, "reported", "printenv board_name")

    def read_fdt(self) -> None:
        if not self._has("fdt"):
            self.facts.notes.append("fdt is not in this U-Boot build")
            return
        output, status = self._twice("fdt addr $fdtcontroladdr; fdt print / model")
        found = re.search(r'model = "([^"]*)"', output)
        if found:
            self.facts.identity["model"] = Fact(found.group(1), "reported", "fdt /model")
        output, status = self._twice("fdt print / serial-number")
        found = re.search(r'serial-number = "([^"]*)"', output)
        if status == 0 and found and "serial" not in self.facts.identity:
            self.facts.identity["serial"] = Fact(found.group(1), "reported", "fdt /serial-number")

    def read_flash(self) -> None:
        if self._has("flinfo"):
            output, _ = self._twice("flinfo")
            for bank in re.finditer(
                r"Bank # ?(\d+): (.*?)Size: *(\d+ [KMG]B).*?"
                r"Manufacturer ID: 0x([0-9a-fA-F]+), Device ID: 0x([0-9a-fA-F]+)",
                output,
                re.DOTALL,
            ):
                vendor_id = int(bank.group(4), 16)
                self.facts.components.append(
                    Component(
                        "flash",
                        _JEDEC.get(vendor_id, f"JEDEC 0x{vendor_id:02x}"),
                        f"0x{int(bank.group(5), 16):04x}",
                        None,
                        None,
                        "reported",
                        f"flinfo bank {bank.group(1)} {bank.group(3)}",
                    )
                )
        if self._has("mtd"):
            output, _ = self._twice("mtd list")
            names = re.findall(r"^\* (\S+)", output, re.MULTILINE)
            if names:
                self.facts.notes.append("mtd devices: " + ", ".join(names[:32]))

    # -- regions ---------------------------------------------------------------------------------

    def _dump_budget(self) -> int:
        if self.options.max_dump_bytes is not None:
            return self.options.max_dump_bytes
        # md.b prints about 4.4 characters per byte; allow a quarter of the session for dumps.
        line_rate = self.options.baud / 10
        return int(line_rate * self.deadline_seconds * 0.25 / 4.4)

    def read_regions(self) -> None:
        for spec in self.options.regions:
            if spec.address is None or spec.size is None:
                self.facts.notes.append(f"region {spec.name}: no address and size, cannot measure from U-Boot")
                continue
            if spec.size == 0:
                self.facts.notes.append(f"region {spec.name}: size 0, nothing to measure")
                continue
            self.measure(spec)

    def measure(self, spec: RegionSpec) -> None:
        assert spec.address is not None and spec.size is not None
        address, size = spec.address, spec.size
        timeout = 30.0 + size / 4_000_000
        if self._has("hash"):
            output, status = self._twice(f"hash sha256 0x{address:x} 0x{size:x}", timeout=timeout)
            digest = _digest_of(output, 64)
            if status == 0 and digest:
                self.facts.regions.append(
                    RegionDigest(spec.name, address, size, "sha256", digest, "hash sha256", "measured")
                )
                return
        crc: str | None = None
        if self._has("crc32"):
            output, status = self._twice(f"crc32 0x{address:x} 0x{size:x}", timeout=timeout)
            crc = _digest_of(output, 8)
            if status == 0 and crc:
                self.facts.regions.append(
                    RegionDigest(spec.name, address, size, "crc32", crc, "crc32", "measured", weak=True)
                )
        if size <= self._dump_budget():
            dumped = self.dump(address, size, timeout=timeout + size / max(self.options.baud / 10 / 4.4, 1))
            if crc is not None:
                if f"{zlib.crc32(dumped):08x}" != crc:
                    raise TransportError(f"region {spec.name}: md.b dump disagrees with the device's crc32")
            else:
                again = self.dump(address, size, timeout=timeout)
                if again != dumped:
                    raise TransportError(f"region {spec.name}: two md.b dumps differ: the line is corrupting data")
            self.facts.regions.append(
                RegionDigest(
                    spec.name, address, size, "sha256", hashlib.sha256(dumped).hexdigest(), "md.b", "measured"
                )
            )
        elif crc is None:
            self.facts.notes.append(
                f"region {spec.name}: no hash or crc32 command and {size} bytes is too large to dump at "
                f"{self.options.baud} baud"
            )

    def dump(self, address: int, size: int, *, timeout: float) -> bytes:
        result = self.console.run(f"md.b 0x{address:x} 0x{size:x}", timeout=timeout)
        self.facts.device_seconds += result.seconds
        if not result.ok:
            raise DeviceProtocolError(f"md.b failed with status {result.status}")
        return parse_md_b(result.output, address, size)

    # -- TPM -------------------------------------------------------------------------------------

    def read_tpm(self) -> None:
        if not self._has("tpm2"):
            return
        self.console.run("tpm2 init")
        first = self.console.run(f"tpm2 pcr_read {_PCR_INDICES[0]} $loadaddr")
        if not first.ok:
            self.console.run("tpm2 startup TPM2_SU_CLEAR")
            first = self.console.run(f"tpm2 pcr_read {_PCR_INDICES[0]} $loadaddr")
            if not first.ok:
                self.facts.notes.append("tpm2: no TPM answered")
                return
        values: dict[str, str] = {}
        for index in _PCR_INDICES:
            output, status = self._twice(f"tpm2 pcr_read {index} $loadaddr")
            digest = _pcr_value(output)
            if status == 0 and digest:
                values[str(index)] = digest
        if values:
            self.facts.tpm = TpmEvidence({"sha256": values}, None, None, None, "measured", "tpm2 pcr_read")


def read_uboot(transport: Transport, options: ReadOptions, deadline_seconds: float) -> ProfileFacts:
    console = reach_prompt(
        transport, read_timeout=options.read_timeout, prompt=options.prompt, max_output=options.max_output
    )
    return UBootReader(console, options, deadline_seconds).read()


class UBootProfile(TextConsole):
    """The U-Boot console's binding of ``hw.profile.ConsoleProfile``."""

    name = "uboot"
    # Among components U-Boot identifies only flash chips (flinfo's JEDEC ids).
    observable = Observable.of("flash")
    # Its banner, the autoboot countdown, an interrupted command, a prompt.
    signs = re.compile(rb"U-Boot|autoboot|Hit any key|<INTERRUPT>|(?:^|\n)[^\n]{0,20}=> ?$")

    def read(self, transport: Transport, options: ReadOptions, session_seconds: float) -> ProfileFacts:
        return read_uboot(transport, options, session_seconds)


UBOOT = UBootProfile()


def _ascii_column(chunk: bytes) -> str:
    """How U-Boot's print_buffer shows bytes on the right: printable ASCII as is, the rest as '.'."""
    return "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)


def parse_md_b(output: str, address: int, size: int) -> bytes:
    """Exactly the bytes of [address, address + size) from ``md.b`` output, or ``TransportError``.

    U-Boot prints ``ADDR: xx xx ... xx`` (16 bytes, fewer on the last line), pads a short line
    to the full width, then two or more spaces and the ASCII column. The line is read by position,
    never by pattern over the whole line: a line of sixteen 0x20 bytes ends in spaces that a
    stripped line would lose, and an ASCII column can itself look like hex. Every line that starts
    with an address is a dump line and must be the next one, with exactly the bytes still owed and an
    ASCII column that agrees with them; anything else (a missing, repeated, reordered, short, long or
    extra line) means the line lost or garbled data. Lines that do not start with an address
    (a stray prompt) carry no data and are skipped.
    """
    data = bytearray()
    end = address + size
    for line in output.split("\n"):
        if _MD_ADDRESS.match(line.lstrip()) is None:
            continue
        found = _MD_ADDRESS.match(line)
        if found is None:
            raise TransportError(f"md.b dump line {line[:40]!r} is indented: the line garbled data")
        at = int(found.group(1), 16)
        expected = address + len(data)
        if expected >= end:
            raise TransportError(f"md.b dump has a line for 0x{at:x} beyond the {size} bytes asked for")
        if at != expected:
            raise TransportError(f"md.b dump gives 0x{at:x} where 0x{expected:x} was due: the line lost data")
        count = min(_MD_BYTES_PER_LINE, end - expected)
        body = line[found.end():]
        hex_part, rest = body[: 3 * count], body[3 * count :]
        if not re.fullmatch(rf"(?: [0-9a-fA-F]{{2}}){{{count}}}", hex_part):
            raise TransportError(f"md.b dump line for 0x{at:x} does not hold {count} bytes: the line garbled data")
        chunk = bytes.fromhex(hex_part)
        # What follows: padding for a short line, a gap of at least two spaces, the ASCII column
        # (trailing spaces of which a console may drop).
        shown = _ascii_column(chunk).rstrip(" ")
        tail = rest.rstrip(" ")
        gap = tail[: len(tail) - len(shown)] if shown else tail
        if (shown and not tail.endswith(shown)) or gap.strip(" ") or (shown and len(gap) < 2):
            raise TransportError(f"md.b dump line for 0x{at:x}: the ASCII column does not match the bytes")
        data.extend(chunk)
    if len(data) != size:
        raise TransportError(f"md.b dump has {len(data)} bytes, asked for {size}: the line lost data")
    return bytes(data)


def _key_values(text: str, separator: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(separator)
        if sep:
            out.setdefault(key.strip(), value.strip())
    return out


def _digest_of(output: str, length: int) -> str | None:
    found = _DIGEST_TAIL.search(output)
    if not found or len(found.group(1)) != length:
        return None
    return found.group(1).lower()


def _pcr_value(output: str) -> str | None:
    _, _, body = output.partition("content")
    body = body.partition("\n")[2]
    pairs = re.findall(r"\b[0-9a-fA-F]{2}\b", body)
    if len(pairs) not in (20, 32, 48, 64):
        return None
    return "".join(pairs).lower()
