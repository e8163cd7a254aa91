"""The simulated U-Boot device: the device side of the ``uboot`` profile."""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Callable
from typing import Any

from hw.sim.config import DeviceConfig
from hw.sim.device import SimulatorState
from hw.sim.shell import ConsoleDevice, Handler
from hw.sim.tpm import pcr_values
from hw.uboot import UBOOT


class UBootDevice(ConsoleDevice):
    """A U-Boot console: hush with version, printenv, flinfo, hash/crc32/md.b over the regions, tpm2 PCRs."""

    profile = UBOOT
    swapped_class = "flash"
    prompt = "=> "

    def __init__(self, sim: SimulatorState) -> None:
        super().__init__(sim)
        missing = "missing-commands" in sim.tamper
        table: list[tuple[str, Handler]] = [
            (r"version", lambda m: (self.cfg.firmware_version + "\n\naarch64-linux-gnu-gcc 12.2.0\n", 0)),
            (r"true", lambda m: ("", 0)),
            (r"false", lambda m: ("", 1)),
            (r"help (\S+)", self.help),
            (r"printenv(.*)", self.printenv),
            (r"flinfo", self.flinfo),
            (r"crc32 ([0-9a-fA-Fx]+) ([0-9a-fA-Fx]+)", self.crc32),
            (r"md\.b ([0-9a-fA-Fx]+) ([0-9a-fA-Fx]+)", self.md_b),
        ]
        if not missing:
            # Left out of a minimal build (the missing-commands knob); fdt, crc32 and md.b remain.
            table += [
                (r"bdinfo", self.bdinfo),
                (r"mtd list", self.mtd_list),
                (r"hash sha256 ([0-9a-fA-Fx]+) ([0-9a-fA-Fx]+)", self.hash_sha256),
                (r"tpm2 init", lambda m: ("", 0)),
                (r"tpm2 startup \S+", lambda m: ("", 0)),
                (r"tpm2 pcr_read (\d+) \S+", self.pcr_read),
            ]
        table += [
            (r"fdt addr \S+", lambda m: ("Working FDT set to 4edb6db0\n", 0)),
            (r"fdt print / model", lambda m: (f'model = "{self.cfg.model}"\n', 0)),
            (r"fdt print / serial-number", lambda m: (f'serial-number = "{self.serial}"\n', 0)),
        ]
        self.available = {pattern.split()[0].split("(")[0].replace("\\", "") for pattern, _ in table}
        self.commands = [(re.compile(p), h) for p, h in table]

    def boot_banner(self) -> str:
        return (
            f"\n\n{self.cfg.firmware_version}\n\nDRAM:  256 MiB\nCore:  42 devices, 11 uclasses\n"
            "Flash: 16 MiB\nIn:    serial\nOut:   serial\nErr:   serial\nNet:   eth0: ethernet@1c30000\n"
            "Hit any key to stop autoboot:  0 \n"
        )

    def help(self, m: re.Match[str]) -> tuple[str, int]:
        name = m.group(1)
        if name in self.available or (name == "md.b" and "md.b" in self.available):
            return f"{name} - help text\n", 0
        return f"Unknown command '{name}' - try 'help' without arguments for list of all known commands\n", 1

    def printenv(self, m: re.Match[str]) -> tuple[str, int]:
        env = {
            "serial#": self.serial,
            "ethaddr": self.cfg.macs[0] if self.cfg.macs else "",
            "board": "rtu9",
            "board_name": self.cfg.model,
            "board_rev": self.cfg.board_revision,
            "vendor": self.cfg.manufacturer,
        }
        wanted = m.group(1).split() or list(env)
        out, status = [], 0
        for name in wanted:
            if env.get(name):
                out.append(f"{name}={env[name]}")
            else:
                out.append(f'## Error: "{name}" not defined')
                status = 1
        return "\n".join(out) + "\n", status

    def bdinfo(self, m: re.Match[str]) -> tuple[str, int]:
        mac = self.cfg.macs[0] if self.cfg.macs else "(not set)"
        return (
            "boot_params = 0x0000000000000000\nDRAM bank   = 0x0000000000000000\n-> start    = 0x0000000040000000\n"
            f"-> size     = 0x0000000010000000\nbaudrate    = {self.sim.baud} bps\nethaddr     = {mac}\n",
            0,
        )

    def flinfo(self, m: re.Match[str]) -> tuple[str, int]:
        lines = []
        for n, comp in enumerate((c for c in self.components if c.cls == "flash"), start=1):
            vendor, device = (int(x, 16) for x in (comp.ids or ("0x01", "0x0000")))
            lines.append(
                f"\nBank # {n}: CFI conformant flash (8 x 8)  Size: 16 MB in 256 Sectors\n"
                f"  AMD Standard command set, Manufacturer ID: 0x{vendor:02X}, Device ID: 0x{device:04X}\n"
            )
        return "".join(lines), 0

    def mtd_list(self, m: re.Match[str]) -> tuple[str, int]:
        return "List of MTD devices:\n* nor0\n  - type: NOR flash\n", 0

    def _region(self, address: int, size: int) -> bytes | None:
        for region in self.regions:
            if region.address <= address and address + size <= region.address + region.size:
                offset = address - region.address
                return region.data[offset : offset + size]
        return None

    def _range(self, m: re.Match[str]) -> tuple[int, int, bytes | None]:
        address, size = int(m.group(1), 16), int(m.group(2), 16)
        return address, size, self._region(address, size)

    def hash_sha256(self, m: re.Match[str]) -> tuple[str, int]:
        return self._digest(m, "sha256", lambda data: hashlib.sha256(data).hexdigest())

    def crc32(self, m: re.Match[str]) -> tuple[str, int]:
        return self._digest(m, "crc32", lambda data: f"{zlib.crc32(data):08x}")

    def _digest(self, m: re.Match[str], algorithm: str, digest: Callable[[bytes], str]) -> tuple[str, int]:
        """What ``hash sha256`` and ``crc32`` print, after the time the device takes to compute it."""
        address, size, data = self._range(m)
        if data is None:
            return "bad address\n", 1
        self.busy(size / self.cfg.hash_rate)
        return f"{algorithm} for {address:08x} ... {address + size - 1:08x} ==> {digest(data)}\n", 0

    def md_b(self, m: re.Match[str]) -> tuple[str, int]:
        address, _size, data = self._range(m)
        if data is None:
            return "bad address\n", 1
        lines = []
        for offset in range(0, len(data), 16):
            chunk = data[offset : offset + 16]
            hexes = " ".join(f"{b:02x}" for b in chunk)
            text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
            lines.append(f"{address + offset:08x}: {hexes:<47}    {text}")
        return "\n".join(lines) + "\n", 0

    def pcr_read(self, m: re.Match[str]) -> tuple[str, int]:
        index = int(m.group(1))
        if index > 23:
            return "Invalid PCR\n", 1
        value = bytes.fromhex(pcr_values()[index])
        rows = ["\t" + " ".join(f"{b:02x}" for b in value[i : i + 16]) for i in range(0, 32, 16)]
        return f"PCR #{index} content (1 known updates):\n" + "\n".join(rows) + "\n", 0

    @classmethod
    def declared(cls, manifest: dict[str, Any], config: DeviceConfig) -> dict[str, Any]:
        # U-Boot identifies flash by its JEDEC ids and sees nothing else.
        flash = [
            {"class": "flash", "manufacturer": "Macronix", "model": c.ids[1], "serial": None, "revision": None,
             "required": True}
            for c in config.components
            if c.cls == "flash" and c.ids
        ]
        return {**super().declared(manifest, config), "components": flash}
