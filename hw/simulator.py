"""A simulated device on a pty: U-Boot-like, Linux-like or attest, honest or tampered.

It serves the demo, the tests, and labs that want to dry-run a plan. The device runs
in a thread on the master side of a pty; ``Simulator.port`` is the slave's path, which
any pyserial-based reader opens like a real UART.

With ``baud_pacing`` both directions run at ``baud / 10`` bytes per second (8N1), as a
real line does; without it a pty is thousands of times faster.

``declared_manifest()`` gives the device-manifest predicate that the honest device
satisfies, so a test or the demo can verify against what the "vendor" declared.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import random
import re
import select
import struct
import threading
import time
import tty
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any

import cbor2

from hw.attest import CERT_CHUNK, PROTOCOL_VERSIONS, SIGNING_CONTEXT
from hw.framing import MIN_ENCODED, CorruptFrame, Frame, FrameSplitter, Kind, decode_frame, encode_frame

SIM_PROFILES = ("uboot", "linux", "attest")

# Every knob, the profiles it applies to, and what it does.
TAMPERS: dict[str, tuple[tuple[str, ...], str]] = {
    "swapped-firmware": (SIM_PROFILES, "the firmware region holds a different image"),
    "changed-serial": (SIM_PROFILES, "the device reports another serial number"),
    "swapped-component": (SIM_PROFILES, "the NIC is a different part"),
    "replayed-nonce": (("attest", "linux"), "measurements / quote are bound to a stale nonce"),
    "bad-signature": (("attest",), "the measurement signature has a flipped bit"),
    "wrong-device-key": (("attest",), "the device key chains to a rogue CA, not the vendor's"),
    "drop-bytes": (SIM_PROFILES, "bytes from the device are dropped at --tamper-rate"),
    "garble-bytes": (SIM_PROFILES, "bytes from the device are flipped at --tamper-rate"),
    "lost-before-attach": (SIM_PROFILES, "boot output and the first prompt are lost before the reader attaches"),
    "missing-commands": (("uboot", "linux"), "hash/bdinfo/mtd/tpm2 (U-Boot) or the tpm2 tools (Linux) are absent"),
    "slow": (SIM_PROFILES, "every answer starts after --slow-seconds"),
    "disconnect": (SIM_PROFILES, "the line drops after --disconnect-after bytes"),
    "flood": (SIM_PROFILES, "the device floods output instead of answering"),
    "fake-prompts": (("uboot", "linux"), "prompts and marker-like lines appear inside command output"),
}
TRANSPORT_FAULTS = ("drop-bytes", "garble-bytes", "disconnect", "flood")

STALE_NONCE = bytes.fromhex("5ca1ab1e" * 8)
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@dataclass(frozen=True)
class SimComponent:
    cls: str
    manufacturer: str
    model: str
    serial: str | None
    revision: str | None
    required: bool = True
    # (vendor, device) as a bus reports them: JEDEC for flash, PCI for a NIC.
    ids: tuple[str, str] | None = None


@dataclass(frozen=True)
class SimRegion:
    name: str
    address: int
    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


def _pattern_bytes(seed: str, size: int) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < size:
        out.extend(hashlib.sha256(f"{seed}:{counter}".encode()).digest())
        counter += 1
    return bytes(out[:size])


def default_components() -> tuple[SimComponent, ...]:
    return (
        SimComponent("flash", "Macronix", "MX25L12835F", None, None, ids=("0xc2", "0x2018")),
        SimComponent("nic", "Intel", "I210", "I210-7A3F00", "3", ids=("0x8086", "0x1533")),
        SimComponent("tpm", "Infineon", "SLB9670", None, "7.85", required=False),
    )


def default_regions() -> tuple[SimRegion, ...]:
    return (SimRegion("bootloader", 0x08000000, _pattern_bytes("provcheck-sim-bootloader", 16 * 1024)),)


@dataclass(frozen=True)
class DeviceConfig:
    manufacturer: str = "Acme Industrial"
    model: str = "RTU-9"
    serial: str = "ACME-000123"
    board_revision: str = "B2"
    macs: tuple[str, ...] = ("02:00:5e:10:00:01",)
    firmware_version: str = "U-Boot 2024.04-acme3 (Jan 10 2025 - 12:00:00 +0000)"
    components: tuple[SimComponent, ...] = field(default_factory=default_components)
    regions: tuple[SimRegion, ...] = field(default_factory=default_regions)
    key_seed: str = "provcheck-simulator-device"
    ca_seed: str = "provcheck-simulator-vendor-ca"
    username: str | None = None
    password: str | None = None
    # U-Boot: bytes per second for hash/crc32, so benchmarks can separate device time from line time.
    hash_rate: float = 50e6


# --- keys and certificates, deterministic so that a declared manifest stays valid across runs ----------


def _ec_key(seed: str) -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    scalar = int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big") % (_P256_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def _ed_key(seed: str) -> Any:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return ed25519.Ed25519PrivateKey.from_private_bytes(hashlib.sha256(seed.encode()).digest())


def _certificate(subject_cn: str, public_key: Any, issuer_cn: str, issuer_key: Any, *, ca: bool) -> bytes:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import NameOID

    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_cn)]))
        .public_key(public_key)
        .serial_number(int.from_bytes(hashlib.sha256(subject_cn.encode()).digest()[:8], "big") | 1)
        .not_valid_before(datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC))
        .not_valid_after(datetime.datetime(2099, 12, 31, tzinfo=datetime.UTC))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    cert = builder.sign(issuer_key, None)
    return cert.public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True)
class DeviceKeys:
    ca_der: bytes
    chain: tuple[bytes, ...]
    device_key: Any
    ak_key: Any

    @property
    def ca_pem(self) -> str:
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        return x509.load_der_x509_certificate(self.ca_der).public_bytes(serialization.Encoding.PEM).decode()

    def device_public_pem(self) -> str:
        from cryptography.hazmat.primitives import serialization

        pem: bytes = self.device_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return pem.decode()

    def device_fingerprint(self) -> str:
        from cryptography.hazmat.primitives import serialization

        spki = self.device_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return hashlib.sha256(spki).hexdigest()


def make_keys(config: DeviceConfig, *, rogue: bool = False) -> DeviceKeys:
    ca_key = _ed_key(config.ca_seed)
    ca_name = f"{config.manufacturer} Device CA"
    ca_der = _certificate(ca_name, ca_key.public_key(), ca_name, ca_key, ca=True)
    device_key = _ec_key(config.key_seed)
    issuer_key, issuer_der, issuer_name = ca_key, ca_der, ca_name
    if rogue:
        device_key = _ec_key(config.key_seed + "-rogue")
        issuer_key = _ed_key(config.ca_seed + "-rogue")
        issuer_name = f"{config.manufacturer} Device CA"  # same name, different key: only the key tells
        issuer_der = _certificate(issuer_name, issuer_key.public_key(), issuer_name, issuer_key, ca=True)
    leaf = _certificate(config.serial[:64], device_key.public_key(), issuer_name, issuer_key, ca=False)
    return DeviceKeys(ca_der, (leaf, issuer_der), device_key, _ec_key(config.key_seed + "-tpm-ak"))


# --- the simulated device ----------------------------------------------------------------------------


class Simulator:
    """Context manager: starts the device thread on a fresh pty; ``port`` is its path."""

    def __init__(
        self,
        profile: str = "uboot",
        *,
        tamper: Iterable[str] = (),
        baud_pacing: bool = False,
        baud: int = 115200,
        config: DeviceConfig | None = None,
        seed: int = 0,
        tamper_rate: float = 0.01,
        slow_seconds: float = 0.2,
        disconnect_after: int = 600,
        link: str | None = None,
    ) -> None:
        if profile not in SIM_PROFILES:
            raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(SIM_PROFILES)}")
        knobs = tuple(dict.fromkeys(tamper))
        for knob in knobs:
            if knob not in TAMPERS:
                raise ValueError(f"unknown tamper {knob!r}; choose from {', '.join(TAMPERS)}")
            if profile not in TAMPERS[knob][0]:
                raise ValueError(f"tamper {knob!r} does not apply to the {profile} profile")
        self.profile = profile
        self.tamper = frozenset(knobs)
        self.baud_pacing = baud_pacing
        self.baud = baud
        self.config = config or DeviceConfig()
        self.seed = seed
        self.tamper_rate = tamper_rate
        self.slow_seconds = slow_seconds
        self.disconnect_after = disconnect_after
        self.link = link
        if link:
            _check_link(link)
        self.keys = make_keys(self.config)
        self.port = ""
        self.busy_seconds = 0.0
        self.bytes_out = 0
        self.bytes_in = 0
        self._device: _Device | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._master = -1
        self._slave = -1

    # The device the honest configuration declares, as the project's device-manifest predicate.
    def declared_manifest(self) -> dict[str, Any]:
        cfg = self.config
        manifest: dict[str, Any] = {
            "manufacturer": cfg.manufacturer,
            "model": cfg.model,
            "board_revision": cfg.board_revision,
            "serial": {"exact": [cfg.serial], "pattern": r"^ACME-[0-9]{6}$"},
            "components": [
                {
                    "class": c.cls,
                    "manufacturer": c.manufacturer,
                    "model": c.model,
                    "serial": c.serial,
                    "revision": c.revision,
                    "required": c.required,
                }
                for c in cfg.components
            ],
            "firmware_regions": [
                {"name": r.name, "address": r.address, "size": r.size, "sha256": hashlib.sha256(r.data).hexdigest()}
                for r in cfg.regions
            ],
            "identity": {
                "ca_pem": self.keys.ca_pem,
                "public_key_pem": None,
                "fingerprint_sha256": self.keys.device_fingerprint(),
            },
        }
        if self.profile == "uboot":
            # U-Boot identifies flash by its JEDEC ids and sees nothing else.
            manifest["components"] = [
                {"class": "flash", "manufacturer": "Macronix", "model": c.ids[1], "serial": None, "revision": None,
                 "required": True}
                for c in cfg.components
                if c.cls == "flash" and c.ids
            ]
        elif self.profile == "linux":
            # Linux identifies a NIC by its PCI vendor and device ids.
            manifest["components"] = [
                {"class": "nic", "manufacturer": c.ids[0], "model": c.ids[1], "serial": None,
                 "revision": f"0x{int(c.revision or '0'):02x}", "required": True}
                for c in cfg.components
                if c.cls == "nic" and c.ids
            ]
        if self.profile != "attest":
            # Only the attest profile proves a device key; a console manifest that declared one could never pass.
            del manifest["identity"]
        if self.profile == "linux":
            for region in manifest["firmware_regions"]:
                region["path"] = self.region_paths()[region["name"]]
            manifest["boot_measurements"] = {
                "pcrs": {"sha256": {str(i): v for i, v in _pcr_values().items() if i < 8}}
            }
        return manifest

    def region_paths(self) -> dict[str, str]:
        """Linux profile: the device path of each region."""
        return {r.name: f"/dev/mtd{i}" for i, r in enumerate(self.config.regions)}

    def __enter__(self) -> Simulator:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.port = os.ttyname(slave)
        if self.link:
            try:
                _check_link(self.link)
                if os.path.lexists(self.link):
                    os.unlink(self.link)
                os.symlink(self.port, self.link)
            except BaseException:
                for fd in (master, slave):
                    os.close(fd)
                self._master = self._slave = -1
                raise
        cls = {"uboot": _UBootDevice, "linux": _LinuxDevice, "attest": _AttestDevice}[self.profile]
        self._device = cls(self)
        self._thread = threading.Thread(target=self._device.serve, name=f"sim-{self.profile}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for fd in (self._master, self._slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = -1
        # Only our own link: if someone replaced it meanwhile, it is theirs now.
        if self.link and self.port and os.path.islink(self.link) and os.readlink(self.link) == self.port:
            os.unlink(self.link)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()


def _check_link(path: str) -> None:
    """``--link`` may take an absent path or a stale link of a simulator (to a pty); never a file of the user's.

    It used to unlink whatever was there: ``--link ~/notes.txt`` deleted the notes.
    """
    if not os.path.lexists(path):
        return
    if os.path.islink(path) and os.readlink(path).startswith("/dev/pts/"):
        return
    raise ValueError(f"--link {path!r} already exists and is not a simulator's pty link; refusing to replace it")


class _Line:
    """The device's end of the wire: pacing, faults and the disconnect knob.

    With pacing, output goes through a 64-byte transmit FIFO drained at the line rate by its own
    thread, as a UART's does: the device blocks only when the FIFO is full, so it can echo a
    byte while the next one arrives. Input is released to the device byte by byte at the rate
    the bytes would arrive.
    """

    FIFO_BYTES = 64
    TX_CHUNK = 16

    def __init__(self, sim: Simulator) -> None:
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

    def _sleep(self, seconds: float) -> None:
        self.sim._stop.wait(seconds)

    def _sleep_until(self, moment: float) -> None:
        # Sub-millisecond sleeps cost more than they wait: let a little lag build up, then catch up.
        delay = moment - time.monotonic()
        if delay > 0.002:
            self._sleep(delay)
        elif delay > 0.0005:
            time.sleep(delay)

    def read(self, timeout: float) -> bytes:
        if self.closed or self.sim.stopped:
            return b""
        ready, _, _ = select.select([self.sim._master], [], [], timeout)
        if not ready:
            return b""
        try:
            data = os.read(self.sim._master, 4096)
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
            if self.sim.stopped or self.sim._master < 0:
                return
            try:
                written = os.write(self.sim._master, view)
            except BlockingIOError:
                select.select([], [self.sim._master], [], 0.1)
                continue
            except OSError:
                self.closed = True
                return
            view = view[written:]

    def hang_up(self) -> None:
        """The cable is pulled: the reader's next read fails."""
        self.closed = True
        with contextlib.suppress(OSError):
            os.close(self.sim._master)
        self.sim._master = -1
        with contextlib.suppress(OSError):
            os.close(self.sim._slave)
        self.sim._slave = -1


class _Device:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.cfg = sim.config
        self.line = _Line(sim)
        self.serial = self.cfg.serial if "changed-serial" not in sim.tamper else "ACME-000666"
        self.components = list(self.cfg.components)
        if "swapped-component" in sim.tamper:
            # U-Boot sees the flash chip, Linux and attest the NIC: swap the part each one can see.
            swapped = "flash" if sim.profile == "uboot" else "nic"
            substitutes = {
                "flash": SimComponent("flash", "Winbond", "W25Q128JV", None, None, ids=("0xef", "0x4018")),
                "nic": SimComponent("nic", "Realtek", "RTL8111H", "RTL-0001", "3", ids=("0x10ec", "0x8168")),
            }
            self.components = [
                replace(substitutes[swapped], required=c.required) if c.cls == swapped else c for c in self.components
            ]
        self.regions = list(self.cfg.regions)
        if "swapped-firmware" in sim.tamper:
            self.regions = [
                replace(r, data=r.data[:100] + bytes([r.data[100] ^ 0xFF]) + r.data[101:]) for r in self.regions
            ]

    def busy(self, seconds: float) -> None:
        self.sim.busy_seconds += seconds
        if self.sim.baud_pacing and seconds > 0:
            self.line._sleep(seconds)

    def slow(self) -> None:
        if "slow" in self.sim.tamper:
            self.line._sleep(self.sim.slow_seconds)

    def serve(self) -> None:
        try:
            self.run()
        except OSError:
            # The reader went away or the simulator was stopped mid-write.
            return

    def run(self) -> None:
        raise NotImplementedError


# --- console devices ---------------------------------------------------------------------------------


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


class _ConsoleDevice(_Device):
    prompt = "=> "
    unknown_status = 1
    interrupt_text = "<INTERRUPT>\n"

    def __init__(self, sim: Simulator) -> None:
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


def _event_log() -> tuple[bytes, dict[int, str]]:
    """A small TCG PC Client crypto-agile log (sha256 bank) and the PCR values it replays to."""
    spec_id = (
        b"Spec ID Event03\x00" + struct.pack("<IBBBB", 0, 0, 2, 0, 2) + struct.pack("<I", 1)
        + struct.pack("<HH", 0x000B, 32) + b"\x00"
    )
    log = bytearray(struct.pack("<II", 0, 0x3) + bytes(20) + struct.pack("<I", len(spec_id)) + spec_id)
    pcrs = {i: bytes(32) for i in range(24)}
    events = [(0, 0x8, "Acme RTU-9 firmware 3.1".encode("utf-16-le") + b"\x00\x00")]
    events += [(i, 0x4, b"\x00\x00\x00\x00") for i in range(8)]
    for index, event_type, data in events:
        digest = hashlib.sha256(data).digest()
        log += struct.pack("<III", index, event_type, 1) + struct.pack("<H", 0x000B) + digest
        log += struct.pack("<I", len(data)) + data
        pcrs[index] = hashlib.sha256(pcrs[index] + digest).digest()
    return bytes(log), {i: v.hex() for i, v in pcrs.items()}


_EVENT_LOG, _PCRS = _event_log()


def _pcr_values() -> dict[int, str]:
    return dict(_PCRS)


class _UBootDevice(_ConsoleDevice):
    prompt = "=> "

    def __init__(self, sim: Simulator) -> None:
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
        address, size, data = self._range(m)
        if data is None:
            return "bad address\n", 1
        self.busy(size / self.cfg.hash_rate)
        return f"sha256 for {address:08x} ... {address + size - 1:08x} ==> {hashlib.sha256(data).hexdigest()}\n", 0

    def crc32(self, m: re.Match[str]) -> tuple[str, int]:
        address, size, data = self._range(m)
        if data is None:
            return "bad address\n", 1
        self.busy(size / self.cfg.hash_rate)
        return f"crc32 for {address:08x} ... {address + size - 1:08x} ==> {zlib.crc32(data):08x}\n", 0

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
        value = bytes.fromhex(_pcr_values()[index])
        rows = ["\t" + " ".join(f"{b:02x}" for b in value[i : i + 16]) for i in range(0, 32, 16)]
        return f"PCR #{index} content (1 known updates):\n" + "\n".join(rows) + "\n", 0


class _LinuxDevice(_ConsoleDevice):
    prompt = "root@rtu9:~# "
    unknown_status = 127
    interrupt_text = "^C\n"

    def __init__(self, sim: Simulator) -> None:
        super().__init__(sim)
        self.logged_in = self.cfg.username is None
        self.pending_user: str | None = None
        self.files: dict[str, bytes] = {
            "/sys/kernel/security/tpm0/binary_bios_measurements": _EVENT_LOG,
        }
        self.paths = {f"/dev/mtd{i}": r.data for i, r in enumerate(self.regions)}
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
        return "".join(f"{i}={v.upper()}\n" for i, v in _pcr_values().items()), 0

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
        from cryptography.hazmat.primitives import serialization

        pem = self.sim.keys.ak_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.files[m.group(1)] = pem
        return "", 0


def build_quote(ak_key: Any, nonce: bytes, pcrs: Sequence[int]) -> tuple[bytes, bytes, bytes]:
    """A TPM2 quote (TPMS_ATTEST, TPMT_SIGNATURE, PCR values) as tpm2_quote writes them.

    Simulation only: a real device's TPM makes these; here the simulator's AK signs them.
    """
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    values = _pcr_values()
    pcr_blob = b"".join(bytes.fromhex(values[i]) for i in pcrs)
    select_bits = bytearray(3)
    for i in pcrs:
        select_bits[i // 8] |= 1 << (i % 8)
    spki = ak_key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    name = struct.pack(">H", 0x000B) + hashlib.sha256(spki).digest()
    attest = b"".join(
        [
            struct.pack(">IH", 0xFF544347, 0x8018),
            struct.pack(">H", len(name)) + name,
            struct.pack(">H", len(nonce)) + nonce,
            struct.pack(">QIIB", 123456, 1, 0, 1),
            struct.pack(">Q", 0x2019_0001),
            struct.pack(">IHB", 1, 0x000B, 3) + bytes(select_bits),
            struct.pack(">H", 32) + hashlib.sha256(pcr_blob).digest(),
        ]
    )
    r, s = decode_dss_signature(ak_key.sign(attest, ec.ECDSA(hashes.SHA256())))
    signature = struct.pack(">HH", 0x0018, 0x000B)
    signature += struct.pack(">H", 32) + r.to_bytes(32, "big") + struct.pack(">H", 32) + s.to_bytes(32, "big")
    return attest, signature, pcr_blob


# --- attest device -----------------------------------------------------------------------------------


class _AttestDevice(_Device):
    def __init__(self, sim: Simulator) -> None:
        super().__init__(sim)
        self.keys = make_keys(self.cfg, rogue="wrong-device-key" in sim.tamper)
        self.chain_blob = cbor2.dumps(list(self.keys.chain))
        self.last_seq: int | None = None
        self.last_answer = b""
        self.ignored_first = "lost-before-attach" not in sim.tamper
        self.frames_seen = 0

    def run(self) -> None:
        splitter = FrameSplitter()
        while not self.sim.stopped and not self.line.closed:
            data = self.line.read(0.1)
            if not data:
                continue
            self.line.arrive(len(data))
            for encoded in splitter.feed(data):
                self.on_frame(encoded)
                if self.line.closed:
                    return

    def on_frame(self, encoded: bytes | None) -> None:
        self.frames_seen += 1
        if not self.ignored_first:
            # Still booting: this frame is lost, as output is before a reader attaches.
            self.ignored_first = True
            return
        if encoded is None:
            self.line.write(encode_frame(Frame(0xFF, Kind.NAK, b"")))
            return
        if len(encoded) < MIN_ENCODED:
            return  # line noise between frames, not a damaged frame
        try:
            frame = decode_frame(encoded)
        except CorruptFrame:
            self.line.write(encode_frame(Frame(0xFF, Kind.NAK, b"")))
            return
        if frame.kind is not Kind.REQUEST:
            return
        self.slow()
        if "flood" in self.sim.tamper and self.frames_seen >= 2:
            junk = b"\x01" * 4096
            end = time.monotonic() + 120
            while not self.sim.stopped and not self.line.closed and time.monotonic() < end:
                self.line.write(junk)
            return
        if frame.seq == self.last_seq:
            self.line.write(self.last_answer)
            return
        try:
            request = cbor2.loads(frame.body)
        except Exception:
            request = None
        answer = self.handle(request if isinstance(request, dict) else {})
        wire = encode_frame(Frame(frame.seq, Kind.RESPONSE, cbor2.dumps(answer)))
        self.last_seq, self.last_answer = frame.seq, wire
        self.line.write(wire)

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "get_version":
            return {"op": "version", "versions": list(PROTOCOL_VERSIONS), "max_body": 4096}
        if op == "get_certificate":
            offset, length = request.get("offset", 0), request.get("length", CERT_CHUNK)
            if not isinstance(offset, int) or not isinstance(length, int) or offset < 0 or length <= 0:
                return {"op": "error", "code": 2, "message": "bad offset or length"}
            length = min(length, CERT_CHUNK)
            return {
                "op": "certificate",
                "offset": offset,
                "total": len(self.chain_blob),
                "data": self.chain_blob[offset : offset + length],
            }
        if op == "get_measurements":
            nonce = request.get("nonce")
            if not isinstance(nonce, bytes) or len(nonce) != 32:
                return {"op": "error", "code": 3, "message": "nonce must be 32 bytes"}
            return self.measurements(nonce)
        return {"op": "error", "code": 1, "message": f"unknown op {op!r}"}

    def measurements(self, nonce: bytes) -> dict[str, Any]:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        if "replayed-nonce" in self.sim.tamper:
            nonce = STALE_NONCE
        payload = {
            "v": 1,
            "nonce": nonce,
            "chain_sha256": hashlib.sha256(self.chain_blob).digest(),
            "identity": {
                "manufacturer": self.cfg.manufacturer,
                "model": self.cfg.model,
                "serial": self.serial,
                "board_revision": self.cfg.board_revision,
                "macs": list(self.cfg.macs),
                "firmware_version": self.cfg.firmware_version,
            },
            "components": [
                {"class": c.cls, "manufacturer": c.manufacturer, "model": c.model, "serial": c.serial,
                 "revision": c.revision}
                for c in self.components
            ],
            "regions": [
                {"name": r.name, "address": r.address, "size": r.size, "alg": "sha256",
                 "digest": hashlib.sha256(r.data).digest()}
                for r in self.regions
            ],
        }
        signed = cbor2.dumps(payload)
        signature = self.keys.device_key.sign(SIGNING_CONTEXT + signed, ec.ECDSA(hashes.SHA256()))
        if "bad-signature" in self.sim.tamper:
            signature = signature[:-1] + bytes([signature[-1] ^ 0x01])
        return {"op": "measurements", "signed": signed, "signature": signature, "alg": "ecdsa-p256-sha256"}
