"""What the simulated device is: its identity, components and firmware regions (honest values)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


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
