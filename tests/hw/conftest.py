"""Fixtures for the hardware tests: one QEMU U-Boot boot per session, stopped by PID."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.hw.peers import (
    PFLASH_BASE,
    PFLASH_SIZE,
    UBOOT_BIN,
    QemuUBoot,
    have_qemu_uboot,
    start_qemu_uboot,
    start_swtpm,
)

REGION_SIZE = 64 * 1024
# Extended into PCR 7 from the U-Boot console before the reader runs, so the reader's PCR values can be checked.
PCR7_EXTEND = b"\xab" * 32
SCRATCH = 0x41000000
# The flash holds the genuine image at the start and a swapped copy (one byte differs) right after it.
SWAPPED_OFFSET = REGION_SIZE
# Debian's own u-boot.bin is copied into the flash here, so the reader can dump a whole real image
# (it has 16-byte runs of 0x20 that an earlier md.b parser misread).
REAL_IMAGE_OFFSET = 4 * 1024 * 1024


def _image(seed: str, size: int) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


@dataclass(frozen=True)
class Flash:
    path: Path
    genuine: bytes
    swapped: bytes
    real_image: bytes

    @property
    def real_image_address(self) -> int:
        return PFLASH_BASE + REAL_IMAGE_OFFSET

    @property
    def genuine_address(self) -> int:
        return PFLASH_BASE

    @property
    def swapped_address(self) -> int:
        return PFLASH_BASE + SWAPPED_OFFSET


@dataclass
class BootedUBoot:
    qemu: QemuUBoot
    flash: Flash
    boot_output: str
    has_tpm: bool


@pytest.fixture(scope="session")
def uboot_flash(tmp_path_factory: pytest.TempPathFactory) -> Flash:
    genuine = _image("provcheck-test-bootloader", REGION_SIZE)
    swapped = genuine[:4096] + bytes([genuine[4096] ^ 0x5A]) + genuine[4097:]
    real_image = UBOOT_BIN.read_bytes() if UBOOT_BIN.is_file() else b""
    path = tmp_path_factory.mktemp("pflash") / "pflash.bin"
    with path.open("wb") as handle:
        handle.write(genuine + swapped)
        handle.seek(REAL_IMAGE_OFFSET)
        handle.write(real_image)
        handle.truncate(PFLASH_SIZE)
    return Flash(path, genuine, swapped, real_image)


@pytest.fixture(scope="session")
def qemu_uboot(tmp_path_factory: pytest.TempPathFactory, uboot_flash: Flash) -> Iterator[BootedUBoot]:
    """Debian's U-Boot under QEMU, started paused; the pty is open before it runs, so nothing is lost."""
    why = have_qemu_uboot()
    if why:
        pytest.skip(why)
    from hw.transcript import Transcript
    from hw.transport import Deadline, open_transport

    workdir = tmp_path_factory.mktemp("qemu")
    swtpm = start_swtpm(workdir)
    qemu = start_qemu_uboot(workdir, uboot_flash.path, swtpm)
    try:
        transport = open_transport(qemu.pty, baud=115200, deadline=Deadline(60), transcript=Transcript())
        try:
            qemu.resume()
            seen = bytearray()
            while not re.search(rb"Hit any key to stop autoboot", seen):
                chunk = transport.read(4096, 30)
                assert chunk, f"U-Boot did not offer to stop autoboot: {bytes(seen)[-300:]!r}"
                seen += chunk
            transport.write(b"\x03")
            _await_prompt(transport, seen)
            banner = seen.decode("utf-8", "replace")
            if swtpm is not None:
                for command in ("tpm2 init", "tpm2 startup TPM2_SU_CLEAR", f"mw.b 0x{SCRATCH:x} 0xab 0x20",
                                f"tpm2 pcr_extend 7 0x{SCRATCH:x}"):
                    transport.write(command.encode() + b"\r")
                    _await_prompt(transport, bytearray())
        finally:
            transport.close()
        yield BootedUBoot(qemu, uboot_flash, banner, swtpm is not None)
    finally:
        qemu.stop()
        if swtpm is not None:
            swtpm.stop()


def _await_prompt(transport: object, seen: bytearray) -> None:
    from hw.transport import SerialTransport

    assert isinstance(transport, SerialTransport)
    while not seen.rstrip().endswith(b"=>"):
        chunk = transport.read(4096, 10)
        assert chunk, f"no U-Boot prompt: {bytes(seen)[-200:]!r}"
        seen += chunk
