"""The simulated Linux device: the device side of the ``linux`` profile."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from cryptography.hazmat.primitives import serialization

from hw.linux import LINUX
from hw.sim.config import DeviceConfig
from hw.sim.device import STALE_NONCE, SimulatorState
from hw.sim.efivars import efivars
from hw.sim.shell import ConsoleDevice, Handler
from hw.sim.tpm import EVENT_LOG, build_quote, pcr_values


class LinuxDevice(ConsoleDevice):
    """A Linux shell: an optional getty login, sysfs and DMI, sha256sum of mtd devices, tpm2-tools quotes."""

    profile = LINUX
    tampers = ConsoleDevice.tampers | {"replayed-nonce"}
    prompt = "root@rtu9:~# "
    unknown_status = 127
    interrupt_text = "^C\n"

    def __init__(self, sim: SimulatorState) -> None:
        super().__init__(sim)
        self.logged_in = self.cfg.username is None
        self.pending_user: str | None = None
        self.files: dict[str, bytes] = {
            "/sys/kernel/security/tpm0/binary_bios_measurements": EVENT_LOG,
            **efivars(self.cfg),
        }
        self.paths = {_device_file(i): r.data for i, r in enumerate(self.regions)}
        missing = "missing-commands" in sim.tamper
        table: list[tuple[str, Handler]] = [
            (r"true", lambda m: ("", 0)),
            (r"for f in sys_vendor .*", self.dmi),
            (r"for f in model serial-number;.*", self.device_tree),
            (r"cat /sys/class/net/\*/address 2>/dev/null", self.macs),
            (r"test -r \S+ && d=\$\(head -c (\d+) (\S+) \| sha256sum\) && echo \"\$d\" && echo \"\$d\"",
             self.sha256sum),
            (r"for i in \$\(seq 0 23\); do printf '%s=' \$i; cat /sys/class/tpm/tpm0/pcr-(\w+)/.*", self.pcrs),
            (r"test -r (\S+) && base64 \S+ && sha256sum < \S+", self.base64_file),
            (r"test -d (\S+)", self.directory),
            (r"for d in /sys/class/net/\*/device; do .*", self.pci_nics),
            (r"command -v tpm2_quote >/dev/null 2>&1", lambda m: ("", 1 if missing else 0)),
        ]
        if not missing:
            table += [
                (r"mkdir -p (\S+) && tpm2_quote .*-q ([0-9a-f]+) .*", self.quote),
                (r"tpm2_readpublic -c \S+ -f pem -o (\S+) >/dev/null", self.readpublic),
            ]
        self.commands = [(re.compile(p), h) for p, h in table]

    def unknown(self, name: str) -> tuple[str, int]:
        return f"-sh: {name}: not found\n", 127

    def boot_banner(self) -> str:
        text = "\n[    0.000000] Booting Linux on physical CPU 0x0\n[    2.100000] Run /sbin/init as init process\n"
        text += "\nAcme RTU-9 (ttyS0)\n\n"
        if not self.logged_in:
            self.prompt_saved = self.prompt
            return text + "rtu9 login: "
        return text

    def run(self) -> None:
        if not self.logged_in:
            self._login_loop()
        super().run()

    def _login_loop(self) -> None:
        # Minimal getty: login, password, then the shell prompt.
        if "lost-before-attach" not in self.sim.tamper:
            self.emit(self.boot_banner())
        buffer = bytearray()
        stage = "user"
        while not self.sim.stopped and not self.line.closed:
            data = self.line.read(0.1)
            for byte in data:
                if byte in (0x0D, 0x0A):
                    text = buffer.decode("utf-8", "replace")
                    buffer.clear()
                    self.emit("\n")
                    if stage == "user":
                        if not text:
                            self.emit("rtu9 login: ")
                            continue
                        self.pending_user = text
                        stage = "password"
                        self.emit("Password: ")
                    else:
                        if self.pending_user == self.cfg.username and text == (self.cfg.password or ""):
                            self.logged_in = True
                            self.sim.tamper = self.sim.tamper - {"lost-before-attach"}
                            return
                        stage = "user"
                        self.emit("\nLogin incorrect\nrtu9 login: ")
                elif byte == 0x03:
                    buffer.clear()
                    stage = "user"
                    self.emit("\nrtu9 login: ")
                elif byte >= 0x20:
                    buffer.append(byte)
                    if stage == "user":
                        self.line.write(bytes([byte]))

    def execute(self, line: str) -> None:
        found = re.fullmatch(r"PS1='([^']*)'(?:; stty cols \d+ 2>/dev/null)?", line.strip())
        if found:
            self.prompt = found.group(1)
            return
        super().execute(line)

    def dmi(self, m: re.Match[str]) -> tuple[str, int]:
        values = {
            "sys_vendor": self.cfg.manufacturer,
            "product_name": self.cfg.model,
            "product_serial": self.serial,
            "product_version": "1.0",
            "board_vendor": self.cfg.manufacturer,
            "board_name": self.cfg.model,
            "board_serial": "",
            "board_version": self.cfg.board_revision,
        }
        return "".join(f"{k}={v}\n" for k, v in values.items()), 0

    def device_tree(self, m: re.Match[str]) -> tuple[str, int]:
        return f"model={self.cfg.manufacturer} {self.cfg.model} \nserial-number=\n", 0

    def macs(self, m: re.Match[str]) -> tuple[str, int]:
        return "".join(f"{mac}\n" for mac in self.cfg.macs) + "00:00:00:00:00:00\n", 0

    def pci_nics(self, m: re.Match[str]) -> tuple[str, int]:
        nics = [(c, c.ids) for c in self.components if c.cls == "nic" and c.ids is not None]
        lines = [
            f"/sys/class/net/eth{n} {ids[0]} {ids[1]} 0x{int(c.revision or '0'):02x}\n"
            for n, (c, ids) in enumerate(nics)
        ]
        return "".join(lines), 0

    def sha256sum(self, m: re.Match[str]) -> tuple[str, int]:
        data = self.paths.get(m.group(2))
        if data is None:
            return f"head: {m.group(2)}: No such file or directory\n", 1
        digest = hashlib.sha256(data[: int(m.group(1))]).hexdigest()
        return f"{digest}  -\n{digest}  -\n", 0

    def pcrs(self, m: re.Match[str]) -> tuple[str, int]:
        if m.group(1) != "sha256":
            return "".join(f"{i}=\n" for i in range(24)), 0
        return "".join(f"{i}={v.upper()}\n" for i, v in pcr_values().items()), 0

    def directory(self, m: re.Match[str]) -> tuple[str, int]:
        prefix = m.group(1).rstrip("/") + "/"
        return "", 0 if any(path.startswith(prefix) for path in self.files) else 1

    def base64_file(self, m: re.Match[str]) -> tuple[str, int]:
        data = self.files.get(m.group(1))
        if data is None:
            return "", 1
        encoded = base64.encodebytes(data).decode()
        return encoded + f"{hashlib.sha256(data).hexdigest()}  -\n", 0

    def quote(self, m: re.Match[str]) -> tuple[str, int]:
        work, nonce = m.group(1), bytes.fromhex(m.group(2))
        if "replayed-nonce" in self.sim.tamper:
            nonce = STALE_NONCE
        message, signature, pcr_blob = build_quote(self.sim.keys.ak_key, nonce, list(range(8)))
        self.files.update({f"{work}/msg": message, f"{work}/sig": signature, f"{work}/pcrs": pcr_blob})
        return "", 0

    def readpublic(self, m: re.Match[str]) -> tuple[str, int]:
        pem = self.sim.keys.ak_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.files[m.group(1)] = pem
        return "", 0

    @classmethod
    def declared(cls, manifest: dict[str, Any], config: DeviceConfig) -> dict[str, Any]:
        # Linux identifies a NIC by its PCI vendor and device ids, and a region by its device file.
        nics = [
            {"class": "nic", "manufacturer": c.ids[0], "model": c.ids[1], "serial": None,
             "revision": f"0x{int(c.revision or '0'):02x}", "required": True}
            for c in config.components
            if c.cls == "nic" and c.ids
        ]
        paths = region_paths(config)
        regions = [{**region, "path": paths[region["name"]]} for region in manifest["firmware_regions"]]
        return {
            **super().declared(manifest, config),
            "components": nics,
            "firmware_regions": regions,
            "boot_measurements": {"pcrs": {"sha256": {str(i): v for i, v in pcr_values().items() if i < 8}}},
        }


def region_paths(config: DeviceConfig) -> dict[str, str]:
    """The device file of each region."""
    return {r.name: _device_file(i) for i, r in enumerate(config.regions)}


def _device_file(index: int) -> str:
    return f"/dev/mtd{index}"
