"""Real U-Boot (Debian's u-boot-qemu under qemu-system-aarch64) on a pty, and through ser2net RFC 2217.

Debian's QEMU U-Boot has crc32, md.b and tpm2 but no ``hash`` command, so the region is
measured twice: crc32 on the device (checked against zlib) and an md.b dump hashed here
(checked against hashlib).
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hw.evidence import DeviceEvidence
from hw.profile import RegionSpec
from hw.reader import read_device
from tests.helpers import run_cli
from tests.hw.conftest import PCR7_EXTEND, REGION_SIZE, BootedUBoot, Flash
from tests.hw.peers import start_ser2net
from verifier.checks.device import check_device
from verifier.declared.device_manifest import manifest_from_predicate
from verifier.model import Status, Verdict, judge

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def pause_qemu_after_module(qemu_uboot: BootedUBoot) -> Iterator[None]:
    """U-Boot busy-polls its console: once this module is done, pause the VM so it stops eating a core.

    The session fixture still stops QEMU by PID at the end.
    """
    yield
    qemu_uboot.qemu.qmp("stop")


def qemu_manifest(address: int, image: bytes) -> dict[str, Any]:
    """What a vendor of this 'board' would declare: QEMU's virt machine with two CFI flash banks."""
    flash = {"class": "flash", "manufacturer": "Intel", "model": "0x0018", "serial": None, "revision": None,
             "required": True}
    return {
        "manufacturer": "emulation",
        "model": "linux,dummy-virt",
        "components": [flash, flash],
        "firmware_regions": [
            {"name": "bootloader", "address": address, "size": len(image), "sha256": hashlib.sha256(image).hexdigest()}
        ],
    }


@pytest.fixture(scope="module")
def qemu_evidence(qemu_uboot: BootedUBoot, tmp_path_factory: pytest.TempPathFactory) -> DeviceEvidence:
    flash = qemu_uboot.flash
    return read_device(
        qemu_uboot.qemu.pty,
        profile="auto",
        timeout=180,
        read_timeout=15,
        regions=[RegionSpec("bootloader", flash.genuine_address, REGION_SIZE)],
        max_dump_bytes=REGION_SIZE,
        transcript_dir=tmp_path_factory.mktemp("transcripts"),
    )


def test_boot_output_is_not_lost(qemu_uboot: BootedUBoot) -> None:
    # QEMU started paused and ran only once the pty was open: the banner's first line is there.
    assert "U-Boot 2023.01" in qemu_uboot.boot_output
    assert "Hit any key to stop autoboot" in qemu_uboot.boot_output


def test_reads_identity(qemu_evidence: DeviceEvidence) -> None:
    assert qemu_evidence.profile == "uboot"  # detected, not given
    version = qemu_evidence.fact("firmware_version")
    assert version is not None and str(version.value).startswith("U-Boot 2023.01")
    model = qemu_evidence.fact("model")
    assert model is not None and model.value == "linux,dummy-virt" and model.strength == "reported"
    manufacturer = qemu_evidence.fact("manufacturer")
    assert manufacturer is not None and manufacturer.value == "emulation"
    assert [(c.cls, c.manufacturer, c.model) for c in qemu_evidence.components] == [("flash", "Intel", "0x0018")] * 2


def test_crc32_matches_zlib(qemu_evidence: DeviceEvidence, uboot_flash: Flash) -> None:
    crc = [r for r in qemu_evidence.regions if r.method == "crc32"]
    assert len(crc) == 1
    assert crc[0].digest == f"{zlib.crc32(uboot_flash.genuine):08x}"
    assert crc[0].weak and crc[0].strength == "measured"


def test_md_b_dump_matches_hashlib(qemu_evidence: DeviceEvidence, uboot_flash: Flash) -> None:
    dumped = [r for r in qemu_evidence.regions if r.method == "md.b"]
    assert len(dumped) == 1
    assert dumped[0].size == REGION_SIZE == 64 * 1024
    assert dumped[0].digest == hashlib.sha256(uboot_flash.genuine).hexdigest()
    assert not dumped[0].weak


def test_transcript_hash_is_the_file(qemu_evidence: DeviceEvidence) -> None:
    path = Path(str(qemu_evidence.transcript["path"]))
    assert hashlib.sha256(path.read_bytes()).hexdigest() == qemu_evidence.transcript["sha256"]
    assert qemu_evidence.transcript["bytes_received"] > REGION_SIZE * 3  # the md.b dump crossed the line


def test_verifies_against_manifest(qemu_evidence: DeviceEvidence, uboot_flash: Flash, tmp_path: Path) -> None:
    manifest = qemu_manifest(uboot_flash.genuine_address, uboot_flash.genuine)
    findings = check_device(qemu_evidence, manifest_from_predicate(manifest))
    assert judge(findings) is Verdict.PASS, [f.to_json() for f in findings if f.status is not Status.PASS]
    # The same through the command line.
    (tmp_path / "ev.json").write_bytes(qemu_evidence.to_bytes())
    (tmp_path / "m.json").write_text(json.dumps(manifest))
    result = run_cli(["device", "verify", "--evidence", tmp_path / "ev.json", "--manifest", tmp_path / "m.json"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "only self-reported" in result.stdout


def test_swapped_pflash_fails(qemu_uboot: BootedUBoot, uboot_flash: Flash) -> None:
    # The vendor declared the genuine image at this address; the flash there holds the swapped one.
    manifest = manifest_from_predicate(qemu_manifest(uboot_flash.swapped_address, uboot_flash.genuine))
    evidence = read_device(
        qemu_uboot.qemu.pty, profile="uboot", timeout=180, read_timeout=15,
        regions=manifest.region_specs(), max_dump_bytes=REGION_SIZE,
    )
    findings = check_device(evidence, manifest)
    assert judge(findings) is Verdict.FAIL
    assert {f.check for f in findings if f.status is Status.FAIL} == {"hw.region"}
    crc = next(r for r in evidence.regions if r.method == "crc32")
    assert crc.digest == f"{zlib.crc32(uboot_flash.swapped):08x}" != f"{zlib.crc32(uboot_flash.genuine):08x}"


def test_cli_read_then_verify(qemu_uboot: BootedUBoot, uboot_flash: Flash, tmp_path: Path) -> None:
    small = uboot_flash.genuine[:4096]
    (tmp_path / "m.json").write_text(json.dumps(qemu_manifest(uboot_flash.genuine_address, small)))
    (tmp_path / "swapped.json").write_text(json.dumps(qemu_manifest(uboot_flash.swapped_address, small)))
    ev = tmp_path / "ev.json"
    result = run_cli(["device", "read", "--port", qemu_uboot.qemu.pty, "--profile", "uboot", "--manifest",
                      tmp_path / "m.json", "--max-dump", "4096", "--read-timeout", "15", "-o", ev])
    assert result.returncode == 0, result.stderr
    assert json.loads(ev.read_text())["profile"] == "uboot"
    ok = run_cli(["device", "verify", "--evidence", ev, "--manifest", tmp_path / "m.json", "--format", "json"])
    assert ok.returncode == 0, ok.stdout
    assert json.loads(ok.stdout)["verdict"] == "pass"


def test_through_ser2net_rfc2217(qemu_uboot: BootedUBoot, uboot_flash: Flash, tmp_path: Path) -> None:
    small = uboot_flash.genuine[:4096]
    manifest = manifest_from_predicate(qemu_manifest(uboot_flash.genuine_address, small))
    ser2net = start_ser2net(tmp_path, qemu_uboot.qemu.pty)
    try:
        evidence = read_device(ser2net.url, profile="auto", timeout=180, read_timeout=15,
                               regions=manifest.region_specs(), max_dump_bytes=4096)
    finally:
        ser2net.stop()
    assert ser2net.process.returncode is not None  # stopped by PID
    assert evidence.port == f"{ser2net.url}?ign_set_control"  # added for ser2net
    assert evidence.profile == "uboot"
    assert next(r for r in evidence.regions if r.method == "md.b").digest == hashlib.sha256(small).hexdigest()
    assert judge(check_device(evidence, manifest)) is Verdict.PASS


def test_reads_tpm_pcrs_through_uboot(qemu_uboot: BootedUBoot, qemu_evidence: DeviceEvidence) -> None:
    """swtpm as the board's TPM (tpm-tis-device): PCR 7 was extended once from the console before the read."""
    if not qemu_uboot.has_tpm:
        pytest.skip("swtpm is not installed (Debian swtpm)")
    assert qemu_evidence.tpm is not None
    pcrs = qemu_evidence.tpm.pcrs["sha256"]
    assert sorted(pcrs, key=int) == [str(i) for i in range(8)]
    assert pcrs["0"] == "00" * 32
    assert pcrs["7"] == hashlib.sha256(bytes(32) + PCR7_EXTEND).hexdigest()
    assert qemu_evidence.tpm.strength == "measured" and qemu_evidence.tpm.quote is None


def test_reads_whole_debian_uboot_bin_with_md_b(qemu_uboot: BootedUBoot, uboot_flash: Flash) -> None:
    """Debian's own u-boot.bin, dumped whole through the real U-Boot console and hashed here.

    The image has 16-byte runs of spaces (0x20): an md.b line of them once parsed as 15 bytes,
    so reading this image was always inconclusive.
    """
    image = uboot_flash.real_image
    assert image.count(b" " * 16) > 0  # the lines that broke the old parser are in it
    manifest = manifest_from_predicate({
        "firmware_regions": [{"name": "u-boot.bin", "address": uboot_flash.real_image_address, "size": len(image),
                              "sha256": hashlib.sha256(image).hexdigest()}],
    })
    evidence = read_device(
        qemu_uboot.qemu.pty, profile="uboot", timeout=900, read_timeout=30,
        regions=manifest.region_specs(), max_dump_bytes=len(image),
    )
    dumped = next(r for r in evidence.regions if r.method == "md.b")
    assert (dumped.address, dumped.size) == (uboot_flash.real_image_address, len(image))
    assert dumped.digest == hashlib.sha256(image).hexdigest()
    crc = next(r for r in evidence.regions if r.method == "crc32")
    assert crc.digest == f"{zlib.crc32(image):08x}"
    findings = check_device(evidence, manifest)
    assert [f.status for f in findings if f.check == "hw.region"] == [Status.PASS]
    # Its failing twin: the same digest declared one line further on is not this region.
    moved = manifest_from_predicate({
        "firmware_regions": [{"name": "u-boot.bin", "address": uboot_flash.real_image_address + 16,
                              "size": len(image), "sha256": hashlib.sha256(image).hexdigest()}],
    })
    assert [f.status for f in check_device(evidence, moved) if f.check == "hw.region"] == [Status.FAIL]


@pytest.mark.parametrize(("quantity", "status"), [("2", Status.PASS), ("1", Status.FAIL), ("3", Status.FAIL)])
def test_hbom_quantity_of_identical_flash_chips(qemu_evidence: DeviceEvidence, quantity: str, status: Status) -> None:
    """QEMU's virt board has two identical CFI flash banks: an HBOM declares them once with quantity 2."""
    from verifier.declared.device_manifest import manifest_from_cyclonedx

    bom = {
        "bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
        "metadata": {"component": {"type": "device", "name": "linux,dummy-virt",
                                   "manufacturer": {"name": "emulation"}}},
        "components": [{"type": "device", "name": "0x0018", "manufacturer": {"name": "Intel"},
                        "properties": [{"name": "cdx:device:function", "value": "flash"},
                                       {"name": "cdx:device:quantity", "value": quantity}]}],
    }
    findings = [f for f in check_device(qemu_evidence, manifest_from_cyclonedx(bom)) if f.check == "hw.components"]
    assert [f.status for f in findings] == [status], [f.message for f in findings]
    if quantity == "1":
        assert "+ flash Intel 0x0018" in findings[0].message
