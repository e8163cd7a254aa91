"""Real firmware from Debian packages: each check passes on the shipped image and fails on a tampered copy."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.firmware import builders
from tests.firmware.conftest import PeBuild, debian_file
from tests.helpers import run_cli
from verifier.firmware.inventory import build_manifest
from verifier.model import Finding, Status, judge
from verifier.workflows.firmware_scan import scan_firmware

OVMF = "/usr/share/OVMF/OVMF_CODE.fd"
OVMF_SECBOOT = "/usr/share/OVMF/OVMF_CODE.secboot.fd"
QEMU_EFI = "/usr/share/qemu-efi-aarch64/QEMU_EFI.fd"
SHIM = "/usr/lib/shim/shimx64.efi.signed"
GRUB = "/usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed"
FWUPD = "/usr/libexec/fwupd/efi/fwupdx64.efi.signed"
IPXE = "/usr/lib/ipxe/qemu/efi-e1000.rom"
BUSYBOX = "/bin/busybox"


def _failed(findings: list[Finding], check: str) -> list[Finding]:
    return [f for f in findings if f.check == check and f.status is Status.FAIL]


def _manifest(path: Path) -> dict[str, Any]:
    return build_manifest(path).to_predicate()


def _kernel_module() -> Path:
    modules = sorted(Path("/lib/modules").glob("*/kernel/drivers/net/dummy.ko"))
    if not modules:
        pytest.skip("no linux-image kernel module installed (Debian linux-image-amd64)")
    return modules[0]


def _section_offset(path: Path, name: str) -> int:
    import lief

    binary = lief.parse(str(path))
    section = binary.get_section(name)
    return int(section.offset) + int(section.size) // 2


def test_ovmf_inventory_is_deterministic_with_named_modules() -> None:
    image = debian_file(OVMF)
    first, second = build_manifest(image).canonical_bytes(), build_manifest(image).canonical_bytes()
    assert first == second
    modules = _manifest(image)["modules"]
    names = {m["name"] for m in modules}
    assert {"PeiCore", "DxeCore", "BdsDxe"} <= names
    assert all(m["image"]["format"] == "pe" for m in modules if m["section"] == "pe32")


def test_ovmf_plain_vs_secboot_differs_in_modules() -> None:
    plain, secboot = debian_file(OVMF), debian_file(OVMF_SECBOOT)
    manifest = _manifest(plain)
    assert judge(scan_firmware(plain, manifest=manifest)).value == "pass"
    findings = scan_firmware(secboot, manifest=manifest)
    modules = _failed(findings, "firmware.module")
    assert any(f.evidence.get("changed") for f in modules)
    assert any(f.evidence.get("added") for f in modules), "the secure-boot build adds SMM modules"
    assert any(f.subject.endswith(":SecurityStubDxe") for f in _failed(findings, "firmware.changed-function"))
    result = run_cli(["firmware", "diff", plain, secboot, "--format", "json"])
    assert result.returncode == 1, result.stderr
    assert '"firmware.diff.modules"' in result.stdout
    assert run_cli(["firmware", "diff", plain, plain]).returncode == 0


def test_qemu_efi_aarch64_volume_found_past_offset_zero_and_te_module_tamper(tmp_path: Path) -> None:
    image = debian_file(QEMU_EFI)
    manifest = _manifest(image)
    assert manifest["volume_offset"] == "0x1000"
    pei_core = next(m for m in manifest["modules"] if m["name"] == "PeiCore")
    assert pei_core["section"] == "te"
    from verifier.firmware.loader import load_file

    te_bytes = next(c for c in load_file(image).children if c.name == "PeiCore").data
    offset = image.read_bytes().find(te_bytes) + len(te_bytes) // 2
    tampered = builders.flip_byte(image, tmp_path / "QEMU_EFI.patched_peicore.fd", offset)
    findings = scan_firmware(tampered, manifest=manifest)
    modules = _failed(findings, "firmware.module")
    assert [m["name"] for m in modules[0].evidence["changed"]] == ["PeiCore"]
    # TE images are read by provcheck itself (LIEF cannot), so the change is pinned to a function
    changed = _failed(findings, "firmware.changed-function")
    assert [f.subject for f in changed] == ["QEMU_EFI.patched_peicore.fd:PeiCore"]


@pytest.mark.parametrize("board", ["qemu_arm64", "qemu-riscv64", "qemu-x86_64"])
def test_uboot_stripped_elf_is_rwx_by_design_and_a_patch_is_caught(board: str, tmp_path: Path) -> None:
    image = debian_file(f"/usr/lib/u-boot/{board}/uboot.elf")
    manifest = _manifest(image)
    assert manifest["layout"]["rwx"], "U-Boot is RWX by design"
    findings = scan_firmware(image, manifest=manifest)
    assert judge(findings).value == "pass", [f for f in findings if f.status is not Status.PASS]
    tampered = builders.flip_byte(image, tmp_path / "uboot.patched_text.elf", _section_offset(image, ".text"))
    assert _failed(scan_firmware(tampered, manifest=manifest), "firmware.changed-function")


def test_shim_has_two_microsoft_signatures_chaining_to_the_uefi_ca(tmp_path: Path) -> None:
    image = debian_file(SHIM)
    ca = builders.microsoft_uefi_ca()
    if ca is None:
        pytest.skip("OVMF_VARS.ms.fd (Debian ovmf) not installed: no independent copy of the Microsoft UEFI CA")
    anchor = tmp_path / "microsoft-uefi-ca-2011.der"
    anchor.write_bytes(ca)
    findings = scan_firmware(image, trust_anchors=[anchor])
    signatures = [f for f in findings if f.check == "firmware.authenticode"]
    assert [f.status for f in signatures] == [Status.PASS, Status.PASS]
    chain = [f for f in findings if f.check == "firmware.authenticode-chain"]
    assert chain[0].status is Status.PASS and "UEFI CA 2011" in chain[0].message
    _, other_ca = builders.self_signed_ca(tmp_path, "unrelated-ca")
    assert _failed(scan_firmware(image, trust_anchors=[other_ca]), "firmware.authenticode-chain")
    tampered = builders.flip_byte(image, tmp_path / "shim.patched_text.efi", _section_offset(image, ".text"))
    broken = _failed(scan_firmware(tampered, trust_anchors=[anchor]), "firmware.authenticode")
    assert len(broken) == 2 and "modified after signing" in broken[0].message


def test_grub_manifest_records_sbat_and_signer() -> None:
    image = debian_file(GRUB)
    manifest = _manifest(image)
    assert "grub," in manifest["sbat"]
    assert any("Debian Secure Boot Signer" in s["subject"] for s in manifest["authenticode"]["signers"])
    findings = scan_firmware(image, manifest=manifest)
    assert judge(findings).value == "pass"
    assert any(f.check == "firmware.authenticode-hash" and f.status is Status.PASS for f in findings)


def test_fwupd_signature_lief_cannot_parse_is_verified_not_unsigned(tmp_path: Path) -> None:
    import lief

    image = debian_file(FWUPD)
    lief.logging.disable()
    assert lief.PE.parse(str(image)).verify_signature() == lief.PE.Signature.VERIFICATION_FLAGS.NO_SIGNATURE
    findings = scan_firmware(image)
    signature = [f for f in findings if f.check == "firmware.authenticode"]
    assert [f.status for f in signature] == [Status.PASS]
    # Damage the PKCS#7 blob's outer header: the table is still there, so the answer is "unknown", never "unsigned".
    manifest = _manifest(image)
    table = int(manifest["authenticode"]["certificate_table"]["offset"], 16)
    data = bytearray(image.read_bytes())
    data[table + 8] = 0x05
    damaged = tmp_path / "fwupd.damaged_pkcs7.efi"
    damaged.write_bytes(bytes(data))
    findings = scan_firmware(damaged)
    verdicts = [(f.status, f.message) for f in findings if f.check == "firmware.authenticode"]
    assert verdicts[0][0] is Status.ERROR and "unsigned" not in verdicts[0][1]
    assert run_cli(["firmware", "scan", damaged]).returncode == 3


def test_sbsigned_pe_chains_to_our_ca_only(pe_build: PeBuild, tmp_path: Path) -> None:
    if shutil.which("sbsign") is None:
        pytest.skip("sbsign not installed (Debian sbsigntool)")
    key, cert = builders.self_signed_ca(tmp_path, "vendor-ca")
    signed = tmp_path / "clean.signed.exe"
    subprocess.run(["sbsign", "--key", key, "--cert", cert, "--output", signed, pe_build.clean], check=True,
                   capture_output=True)
    findings = scan_firmware(signed, trust_anchors=[cert])
    assert judge(findings).value == "pass", findings
    _, other = builders.self_signed_ca(tmp_path, "other-ca")
    assert _failed(scan_firmware(signed, trust_anchors=[other]), "firmware.authenticode-chain")


def test_ipxe_option_rom_exposes_the_efi_driver(tmp_path: Path) -> None:
    image = debian_file(IPXE)
    manifest = _manifest(image)
    efi = [e for e in manifest["embedded"] if e["image"]["format"] == "pe"]
    assert efi and efi[0]["vendor_id"] == "8086" and efi[0]["image"]["functions"]
    assert judge(scan_firmware(image, manifest=manifest)).value == "pass"
    offset = int(efi[0]["offset"], 16)
    code = offset + 0x38 + 0x1000 + 0x100  # inside the driver's .text
    tampered = builders.flip_byte(image, tmp_path / "efi-e1000.patched_driver.rom", code)
    findings = scan_firmware(tampered, manifest=manifest)
    assert judge(findings).value == "fail"
    assert _failed(findings, "firmware.changed-function")


def test_busybox_static_functions_come_from_eh_frame(tmp_path: Path) -> None:
    image = debian_file(BUSYBOX)
    manifest = _manifest(image)
    from_fde = [f for f in manifest["functions"] if "fde" in f["sources"]]
    assert len(from_fde) > 1000
    tampered = builders.flip_byte(image, tmp_path / "busybox.patched_text", _section_offset(image, ".text"))
    assert _failed(scan_firmware(tampered, manifest=manifest), "firmware.changed-function")


def test_kernel_module_signature_trailer_is_known_and_required(tmp_path: Path) -> None:
    module = _kernel_module()
    manifest = _manifest(module)
    assert manifest["module_signature"]["present"]
    assert manifest["overlay"]["size"] == 0 and manifest["overlay"]["known_trailers"] == ["module-signature"]
    assert judge(scan_firmware(module, manifest=manifest)).value == "pass"
    data = module.read_bytes()
    unsigned = tmp_path / "dummy.signature_removed.ko"
    unsigned.write_bytes(data[: len(data) - 40 - manifest["module_signature"]["length"]])
    assert _failed(scan_firmware(unsigned, manifest=manifest), "firmware.module-signature")


def test_vmlinux_physical_entry_point_maps_into_text(tmp_path: Path) -> None:
    import lzma

    kernels = sorted(Path("/boot").glob("vmlinuz-*"))
    if not kernels:
        pytest.skip("no /boot/vmlinuz (Debian linux-image-amd64)")
    data = kernels[-1].read_bytes()
    at = data.find(b"\xfd7zXZ\x00")
    if at < 0:
        pytest.skip("vmlinuz payload is not XZ-compressed")
    vmlinux = tmp_path / "vmlinux"
    vmlinux.write_bytes(lzma.LZMADecompressor().decompress(data[at:]))
    manifest = _manifest(vmlinux)
    assert manifest["entry_point_virtual"] and int(manifest["entry_point_virtual"], 16) > 1 << 63
    findings = scan_firmware(vmlinux, manifest=manifest)
    assert judge(findings).value == "pass", [f for f in findings if f.status is not Status.PASS]
    tampered = builders.flip_byte(vmlinux, tmp_path / "vmlinux.patched_text", _section_offset(vmlinux, ".text"))
    assert _failed(scan_firmware(tampered, manifest=manifest), "firmware.changed-function")
