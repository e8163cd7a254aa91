"""The remaining checks, each with a passing case and a failing twin built from the clean build."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.firmware import builders
from tests.firmware.conftest import ElfBuild, PeBuild, debian_file
from verifier.firmware.inventory import build_manifest
from verifier.model import Finding, Status, judge
from verifier.workflows.firmware_scan import load_manifest, scan_firmware


def _statuses(findings: list[Finding], check: str) -> set[Status]:
    return {f.status for f in findings if f.check == check}


def test_entry_point_hijacked_to_injected_code_is_a_hidden_function(elf_build: ElfBuild, tmp_path: Path) -> None:
    import lief

    planted = tmp_path / "entry_hijack"
    builders.inject_rwx_segment(elf_build.stripped, planted)
    binary = lief.parse(str(planted))
    injected = max(binary.segments, key=lambda s: s.virtual_address)
    binary.header.entrypoint = injected.virtual_address
    binary.write(str(planted))
    findings = scan_firmware(planted, manifest=load_manifest(elf_build.manifest))
    hidden = [f for f in findings if f.check == "firmware.hidden-function" and f.status is Status.FAIL]
    assert f"{injected.virtual_address:#x}" in {f["address"] for f in hidden[0].evidence["functions"]}
    assert Status.FAIL in _statuses(findings, "firmware.entry-point")
    assert Status.PASS in _statuses(scan_firmware(elf_build.stripped, manifest=load_manifest(elf_build.manifest)),
                                    "firmware.functions")


def test_executable_stack_is_detected(elf_build: ElfBuild, tmp_path: Path) -> None:
    import lief

    binary = lief.parse(str(elf_build.stripped))
    stack = next(s for s in binary.segments if s.type == lief.ELF.Segment.TYPE.GNU_STACK)
    stack.flags = lief.ELF.Segment.FLAGS.R | lief.ELF.Segment.FLAGS.W | lief.ELF.Segment.FLAGS.X
    planted = tmp_path / "exec_stack"
    binary.write(str(planted))
    findings = scan_firmware(planted, manifest=load_manifest(elf_build.manifest))
    assert Status.FAIL in _statuses(findings, "firmware.exec-stack")
    assert not _statuses(scan_firmware(elf_build.stripped, manifest=load_manifest(elf_build.manifest)),
                         "firmware.exec-stack")


def test_added_section_is_detected(elf_build: ElfBuild, tmp_path: Path) -> None:
    import lief

    binary = lief.parse(str(elf_build.stripped))
    section = lief.ELF.Section(".plugin")
    section.content = list(b"\xc3" * 64)
    section.flags = lief.ELF.Section.FLAGS.ALLOC | lief.ELF.Section.FLAGS.EXECINSTR
    binary.add(section, loaded=True)
    planted = tmp_path / "added_section"
    binary.write(str(planted))
    findings = scan_firmware(planted, manifest=load_manifest(elf_build.manifest))
    section_findings = [f for f in findings if f.check == "firmware.section" and f.status is Status.FAIL]
    assert section_findings and ".plugin" in section_findings[0].evidence["added"]


def test_entropy_rise_in_code_warns(elf_build: ElfBuild, tmp_path: Path) -> None:
    from verifier.checks.firmware import _compare_sections

    reference = build_manifest(elf_build.clean).to_predicate()
    packed = {**reference, "sections": [
        {**s, "entropy": 7.9} if "exec" in s["flags"] else s for s in reference["sections"]]}
    assert Status.WARN in _statuses(_compare_sections(reference, packed, "manifest", "x"), "firmware.entropy")
    assert not _statuses(_compare_sections(reference, reference, "manifest", "x"), "firmware.entropy")
    riscv = {**packed, "architecture": "riscv", "sections": [
        {**s, "entropy": 7.5} if "exec" in s["flags"] else s for s in reference["sections"]]}
    assert not _statuses(_compare_sections(reference, riscv, "manifest", "x"), "firmware.entropy")


def test_changed_sbat_is_detected(tmp_path: Path) -> None:
    import lief

    grub = debian_file("/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed")
    manifest = build_manifest(grub).to_predicate()
    section = lief.PE.parse(str(grub)).get_section(".sbat")
    data = bytearray(grub.read_bytes())
    at = data.find(b"grub,", section.offset) + 5
    data[at] = ord("9") if data[at] != ord("9") else ord("8")
    tampered = tmp_path / "grub.sbat_generation_changed.efi"
    tampered.write_bytes(bytes(data))
    findings = scan_firmware(tampered, manifest=manifest)
    assert Status.FAIL in _statuses(findings, "firmware.sbat")
    assert Status.FAIL in _statuses(findings, "firmware.authenticode")


def test_other_signer_is_detected(pe_build: PeBuild, tmp_path: Path) -> None:
    if shutil.which("sbsign") is None:
        pytest.skip("sbsign not installed (Debian sbsigntool)")
    signed = {}
    for name in ("vendor-ca", "impostor-ca"):
        key, cert = builders.self_signed_ca(tmp_path, name)
        signed[name] = tmp_path / f"clean.{name}.exe"
        subprocess.run(["sbsign", "--key", key, "--cert", cert, "--output", signed[name], pe_build.clean],
                       check=True, capture_output=True)
    manifest = build_manifest(signed["vendor-ca"]).to_predicate()
    assert judge(scan_firmware(signed["vendor-ca"], manifest=manifest)).value == "pass"
    findings = scan_firmware(signed["impostor-ca"], manifest=manifest)
    assert Status.FAIL in _statuses(findings, "firmware.authenticode-signer")
    unsigned = scan_firmware(pe_build.clean, manifest=manifest)
    assert Status.FAIL in _statuses(unsigned, "firmware.authenticode-signer")


def test_added_and_removed_embedded_images(elf_build: ElfBuild, tmp_path: Path) -> None:
    elf = elf_build.stripped.read_bytes()
    one = tmp_path / "one_image.bin"
    one.write_bytes(bytes(4096) + elf)
    two = tmp_path / "two_images.bin"
    two.write_bytes(bytes(4096) + elf + bytes(4096 - len(elf) % 4096) + elf)
    manifest = build_manifest(one).to_predicate()
    added = [f for f in scan_firmware(two, manifest=manifest) if f.check == "firmware.embedded"]
    assert any(f.status is Status.FAIL and f.evidence.get("added") for f in added)
    removed = [f for f in scan_firmware(one, manifest=build_manifest(two).to_predicate())
               if f.check == "firmware.embedded"]
    assert any(f.status is Status.FAIL and f.evidence.get("removed") for f in removed)
    assert Status.PASS in _statuses(scan_firmware(one, manifest=manifest), "firmware.embedded")
