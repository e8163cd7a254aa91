"""Intel HEX / S-record images, executables carved from raw blobs, and the bulk branch decoders."""

from __future__ import annotations

import random
import struct
from pathlib import Path

from tests.firmware.conftest import ElfBuild
from verifier.firmware import functions as fn
from verifier.firmware.inventory import build_manifest
from verifier.model import Status, judge
from verifier.workflows.firmware_scan import scan_firmware


def _text_section(path: Path) -> tuple[int, bytes]:
    import lief

    binary = lief.parse(str(path))
    text = binary.get_section(".text")
    return int(text.virtual_address), bytes(text.content)


def _hex_file(path: Path, address: int, data: bytes, kind: str) -> Path:
    import bincopy

    binfile = bincopy.BinFile()
    binfile.add_binary(data, address=address)
    path.write_text(binfile.as_ihex() if kind == "ihex" else binfile.as_srec())
    return path


def test_intel_hex_and_srec_inventory_and_tamper(elf_build: ElfBuild, tmp_path: Path) -> None:
    address, code = _text_section(elf_build.clean)
    for kind, fmt in (("ihex", "intel-hex"), ("srec", "srec")):
        image = _hex_file(tmp_path / f"clean.{kind}", address, code, kind)
        manifest = build_manifest(image).to_predicate()
        assert manifest["format"] == fmt
        assert manifest["embedded"][0]["address"] == f"{address:#x}"
        assert judge(scan_firmware(image, manifest=manifest)).value == "pass"
        patched = bytearray(code)
        patched[len(patched) // 2] ^= 0xFF
        tampered = _hex_file(tmp_path / f"patched.{kind}", address, bytes(patched), kind)
        findings = scan_firmware(tampered, manifest=manifest)
        assert any(f.check == "firmware.changed-code" and f.status is Status.FAIL for f in findings)


def test_elf_carved_from_a_raw_blob(elf_build: ElfBuild, tmp_path: Path) -> None:
    rng = random.Random(3)
    prefix = bytes(rng.getrandbits(8) for _ in range(4096))
    suffix = bytes(rng.getrandbits(8) for _ in range(512))
    elf = elf_build.stripped.read_bytes()
    blob = tmp_path / "blob_with_elf.bin"
    blob.write_bytes(prefix + elf + suffix)
    manifest = build_manifest(blob).to_predicate()
    embedded = manifest["embedded"]
    assert [(e["offset"], e["image"]["format"]) for e in embedded] == [("0x1000", "elf")]
    assert embedded[0]["image"]["sha256"] == build_manifest(elf_build.stripped).to_predicate()["file"]["sha256"]
    assert judge(scan_firmware(blob, manifest=manifest)).value == "pass"
    import lief

    binary = lief.parse(str(elf_build.clean))
    checksum = binary.get_symbol("checksum")
    offset = binary.virtual_address_to_offset(checksum.value + 4)
    patched = bytearray(elf)
    patched[offset] ^= 0xFF
    tampered = tmp_path / "blob_with_patched_elf.bin"
    tampered.write_bytes(prefix + bytes(patched) + suffix)
    findings = scan_firmware(tampered, manifest=manifest)
    changed = [f for f in findings if f.check == "firmware.changed-function" and f.status is Status.FAIL]
    assert changed and changed[0].subject.endswith("0x1000")


def _region(words: list[int], fmt: str, base: int = 0x1000) -> fn.CodeRegion:
    return fn.CodeRegion("code", base, b"".join(struct.pack(fmt, w) for w in words) + bytes(64))


def test_aarch64_bl_targets() -> None:
    # BL +8 at 0x1000 -> 0x1008; BL -4 at 0x1004 -> 0x1000; a non-branch word
    region = _region([0x94000002, 0x97FFFFFF, 0xD503201F], "<I")
    assert fn.call_targets([region], "aarch64") == {0x1008, 0x1000}


def test_arm_ppc_mips_riscv_targets() -> None:
    arm = _region([0xEB000000], "<I")  # BL: pc + 8 + 0
    assert fn.call_targets([arm], "arm") == {0x1008}
    ppc = fn.CodeRegion("code", 0x1000, struct.pack(">I", 0x48000011) + bytes(64))  # bl +0x10
    assert fn.call_targets([ppc], "ppc", little_endian=False) == {0x1010}
    mips = _region([(3 << 26) | (0x1010 >> 2)], "<I")  # jal 0x1010
    assert fn.call_targets([mips], "mips") == {0x1010}
    riscv = fn.CodeRegion("code", 0x1000, b"\x01\x00" + struct.pack("<I", 0x010000EF) + bytes(64))  # c.nop; jal ra,+16
    assert fn.call_targets([riscv], "riscv") == {0x1012}


def test_x86_call_targets_need_corroboration() -> None:
    body = bytearray(b"\x90" * 64)
    body[0:5] = b"\xe8" + struct.pack("<i", 32 - 5)   # call 0x1020, which follows NOP padding
    body[8:13] = b"\xe8" + struct.pack("<i", 41 - 13)  # call 0x1029, mid-instruction, single caller
    body[40] = 0x48
    assert fn.call_targets([fn.CodeRegion("code", 0x1000, bytes(body))], "x86_64") == {0x1020}


def test_compressed_efi_option_rom_and_its_bomb(tmp_path: Path) -> None:
    from tests.firmware import builders
    from tests.helpers import run_cli

    driver = Path("/usr/lib/ipxe/qemu/efi-e1000.rom")
    if not driver.is_file():
        import pytest

        pytest.skip("ipxe-qemu not installed")
    data = driver.read_bytes()
    efi = data[data.find(b"MZ", 0x12600):]
    rom = tmp_path / "compressed_driver.rom"
    rom.write_bytes(builders.efi_option_rom(efi, compress=True))
    manifest = build_manifest(rom).to_predicate()
    entry = manifest["embedded"][0]
    assert entry["compressed"] is True and entry["image"]["format"] == "pe" and entry["image"]["functions"]
    assert judge(scan_firmware(rom, manifest=manifest)).value == "pass"
    bomb = tmp_path / "efi_decompression_bomb.rom"
    bomb.write_bytes(builders.efi_option_rom(efi, compress=True, declared_size=0xFFFFFF00))
    assert run_cli(["firmware", "scan", bomb, "--format", "json"]).returncode == 3
    findings = scan_firmware(bomb, manifest=manifest)
    limits = [f for f in findings if f.check == "firmware.limit"]
    assert limits and limits[0].status is Status.ERROR and limits[0].evidence["limit"] == "max-decompressed"


def test_user_rules_add_capabilities(elf_build: ElfBuild, tmp_path: Path) -> None:
    rules = tmp_path / "site.yar"
    rules.write_text('rule vendor_default_string { strings: $a = "default" condition: $a }\n')
    manifest = build_manifest(elf_build.clean).to_predicate()
    findings = scan_firmware(elf_build.stripped, manifest=manifest, rules=rules)
    capability = [f for f in findings if f.check == "firmware.capability"]
    assert capability[0].status is Status.FAIL
    assert capability[0].evidence["matches"][0]["rule"] == "user.vendor_default_string"
    assert judge(scan_firmware(elf_build.stripped, manifest=manifest)).value == "pass"


def test_macho_inventory_and_patched_function(tmp_path: Path) -> None:
    from tests.firmware import builders

    code = b"\xe8\x0b\x00\x00\x00" + b"\x31\xc0\xc3" + b"\xcc" * 8 + b"\x55\x48\x89\xe5\x5d\xc3"
    clean = tmp_path / "hand_made.macho"
    clean.write_bytes(builders.macho_executable(code))
    manifest = build_manifest(clean).to_predicate()
    assert manifest["format"] == "macho" and manifest["entry_point"] == "0x100000200"
    assert {f["address"] for f in manifest["functions"]} == {"0x100000200", "0x100000210"}
    assert judge(scan_firmware(clean, manifest=manifest)).value == "pass"
    patched = tmp_path / "patched_callee.macho"
    patched.write_bytes(builders.macho_executable(code[:-2] + b"\x90\xc3"))
    changed = [f for f in scan_firmware(patched, manifest=manifest) if f.check == "firmware.changed-function"]
    assert changed[0].status is Status.FAIL and changed[0].evidence["functions"][0]["address"] == "0x100000210"
