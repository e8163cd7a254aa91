"""Raw images (``objcopy -O binary``) judged byte for byte against the ELF they were made from.

Two sources: an x86-64 bare-metal-style ELF built here and objcopied (run_raw executes its raw form, so each
planted change is shown to run), and Debian's U-Boot, which ships both forms (``u-boot.bin`` and
``uboot.elf`` in u-boot-qemu, for qemu_arm64 and qemu_arm); the tampered U-Boot is booted in QEMU.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.firmware import builders
from tests.firmware.conftest import debian_file
from tests.helpers import assert_clean_error, run_cli
from verifier.firmware.inventory import build_manifest
from verifier.model import Finding, Status, judge
from verifier.workflows.firmware_scan import scan_firmware

LOAD_ADDRESS = 0x10000000
UBOOT = {"qemu_arm64": "qemu-system-aarch64", "qemu_arm": "qemu-system-arm"}
BOOTCMD = b"bootcmd=run distro_bootcmd\0"
PLANTED_BOOTCMD = b"bootcmd=echo PWNED;  reset\0"
# write(1, "PLANTED\n", 8); exit(42) -- position independent, for the zero-filled gap before .data
PLANTED_CODE = (bytes.fromhex("488d351d000000" "bf01000000" "ba08000000" "b801000000" "0f05" "bf2a000000"
                              "b83c000000" "0f05") + b"PLANTED\n")


@dataclass(frozen=True)
class RawBuild:
    elf: Path
    raw: Path
    runner: Path
    manifest: dict[str, Any]


@pytest.fixture(scope="module")
def raw_build(tmp_path_factory: pytest.TempPathFactory) -> RawBuild:
    if shutil.which("gcc") is None or shutil.which("objcopy") is None:
        pytest.skip("gcc and objcopy (Debian gcc, binutils) not installed")
    out = tmp_path_factory.mktemp("raw")
    elf = out / "firmware.elf"
    subprocess.run(["gcc", "-O1", "-nostdlib", "-static", "-fno-pie", "-no-pie", "-ffreestanding",
                    "-fno-asynchronous-unwind-tables", "-fcf-protection=none", "-Wl,--build-id=none",
                    "-T", str(builders.SRC / "raw_firmware.ld"), "-o", str(elf), str(builders.SRC / "raw_firmware.c")],
                   check=True)
    raw = out / "firmware.bin"
    subprocess.run(["objcopy", "-O", "binary", str(elf), str(raw)], check=True)
    runner = out / "run_raw"
    subprocess.run(["gcc", "-O2", "-o", str(runner), str(builders.SRC / "run_raw.c")], check=True)
    return RawBuild(elf, raw, runner, build_manifest(elf).to_predicate())


def _run(build: RawBuild, image: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(build.runner), str(image), hex(LOAD_ADDRESS)], capture_output=True, text=True,
                          timeout=60, check=False)


def _section(manifest: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in manifest["raw_image"]["sections"] if s["name"] == name)


def _failed(findings: list[Finding], check: str) -> Finding:
    failures = [f for f in findings if f.check == check and f.status is Status.FAIL]
    assert failures, [(f.check, f.status.value, f.message) for f in findings]
    return failures[0]


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# --- the built image ------------------------------------------------------------------------------------------

def test_clean_raw_image_is_its_elf_by_load_address(raw_build: RawBuild) -> None:
    assert _run(raw_build, raw_build.raw).stdout == "firmware: hello from the vendor\n"
    layout = raw_build.manifest["raw_image"]
    assert layout["base"] == hex(LOAD_ADDRESS)
    assert [s["name"] for s in layout["sections"]] == [".text", ".rodata", ".data"]
    assert _section(raw_build.manifest, ".data")["segment"].startswith("PT_LOAD[1]")
    findings = scan_firmware(raw_build.raw, manifest=raw_build.manifest)
    assert judge(findings).value == "pass", [f.message for f in findings if f.status is not Status.PASS]
    assert {f.check: f.status for f in findings}["firmware.raw-layout"] is Status.PASS


def test_planted_code_in_the_gap_runs_and_is_named(raw_build: RawBuild, tmp_path: Path) -> None:
    data = bytearray(raw_build.raw.read_bytes())
    data_offset = int(_section(raw_build.manifest, ".data")["offset"], 16)
    rodata = _section(raw_build.manifest, ".rodata")
    gap = int(rodata["offset"], 16) + rodata["size"] + 16
    assert not data[gap : gap + len(PLANTED_CODE)].strip(b"\0"), "objcopy zero-filled the gap"
    data[gap : gap + len(PLANTED_CODE)] = PLANTED_CODE
    gap_only = _write(tmp_path / "firmware.planted_code_in_gap.bin", bytes(data))
    data[data_offset : data_offset + 8] = (LOAD_ADDRESS + gap).to_bytes(8, "little")  # the boot hook
    hooked = _write(tmp_path / "firmware.planted_code_in_gap_hooked.bin", bytes(data))

    ran = _run(raw_build, hooked)
    assert (ran.returncode, ran.stdout) == (42, "PLANTED\n"), "the planted code executes"
    failure = _failed(scan_firmware(hooked, manifest=raw_build.manifest), "firmware.changed-code")
    assert failure.evidence["sections"][0]["section"] == ".data"
    assert failure.evidence["sections"][0]["raw_offset"] == hex(data_offset)
    assert failure.evidence["gaps"][0]["raw_offset"] == hex(gap)

    alone = _failed(scan_firmware(gap_only, manifest=raw_build.manifest), "firmware.changed-code")
    assert f"between .rodata and .data at raw offset {gap:#x}" in alone.message and not alone.evidence["sections"]


def test_changed_string_runs_and_names_section_and_offset(raw_build: RawBuild, tmp_path: Path) -> None:
    data = raw_build.raw.read_bytes()
    at = data.find(b"hello from the vendor")
    tampered = _write(tmp_path / "firmware.rodata_string_changed.bin",
                      data[:at] + b"PWNED from the attacker"[:21] + data[at + 21 :])
    assert "PWNED from the attack" in _run(raw_build, tampered).stdout
    failure = _failed(scan_firmware(tampered, manifest=raw_build.manifest), "firmware.changed-code")
    changed = failure.evidence["sections"][0]
    assert changed["section"] == ".rodata" and changed["segment"].startswith("PT_LOAD[0]")
    assert int(changed["raw_offset"], 16) <= at < int(changed["raw_offset"], 16) + changed["block_size"]
    assert ".rodata" in failure.message and changed["raw_offset"] in failure.message


@pytest.mark.parametrize(("name", "cut", "words"), [
    ("trailing_bytes", lambda d: d + b"\x90" * 4096, "4096 bytes after the last section"),
    ("truncated_inside_data", lambda d: d[:-4], "inside section .data"),
    ("truncated_inside_text", lambda d: d[:16], "inside section .text"),
])
def test_raw_image_length_must_be_the_mapped_extent(raw_build: RawBuild, tmp_path: Path, name: str, cut: Any,
                                                    words: str) -> None:
    tampered = _write(tmp_path / f"firmware.{name}.bin", cut(raw_build.raw.read_bytes()))
    assert words in _failed(scan_firmware(tampered, manifest=raw_build.manifest), "firmware.raw-layout").message


def test_dropped_data_section_warns_without_a_pin_and_fails_with_one(raw_build: RawBuild, tmp_path: Path) -> None:
    data_offset = int(_section(raw_build.manifest, ".data")["offset"], 16)
    rodata = _section(raw_build.manifest, ".rodata")
    shorter = _write(tmp_path / "firmware.without_data.bin",
                     raw_build.raw.read_bytes()[: int(rodata["offset"], 16) + rodata["size"]])
    assert data_offset > shorter.stat().st_size
    unpinned = [f for f in scan_firmware(shorter, manifest=raw_build.manifest) if f.check == "firmware.raw-layout"]
    assert [f.status for f in unpinned] == [Status.WARN] and ".data" in unpinned[0].message
    from verifier.workflows.release import firmware_manifest_predicate

    pinned = firmware_manifest_predicate(raw_build.elf, raw_build.raw)
    assert pinned["raw_image"]["image_size"] == raw_build.raw.stat().st_size
    assert "truncated" in _failed(scan_firmware(shorter, manifest=pinned), "firmware.raw-layout").message
    assert judge(scan_firmware(raw_build.raw, manifest=pinned)).value == "pass"


def test_release_refuses_a_raw_image_that_is_not_its_build(raw_build: RawBuild, tmp_path: Path) -> None:
    key = _vendor_key(tmp_path)
    data = raw_build.raw.read_bytes()
    at = data.find(b"hello")
    other = _write(tmp_path / "firmware.bin", data[:at] + b"HELLO" + data[at + 5 :])
    refused = run_cli(["release", "sign", "--firmware", other, "--build", raw_build.elf, "--key", key[0],
                       "-o", tmp_path / "release"])
    assert_clean_error(refused, 2)
    assert "section .rodata" in refused.stderr and "raw offset" in refused.stderr
    assert not (tmp_path / "release").exists()
    wrong_format = run_cli(["release", "sign", "--firmware", raw_build.raw, "--build", debian_file(
        "/usr/lib/shim/shimx64.efi.signed"), "--key", key[0], "-o", tmp_path / "release"])
    assert_clean_error(wrong_format, 2)
    assert "firmware.format" in wrong_format.stderr


def test_release_refuses_a_raw_build_for_another_raw_image(raw_build: RawBuild, tmp_path: Path) -> None:
    key, _ = _vendor_key(tmp_path)
    other = _write(tmp_path / "other.bin", raw_build.raw.read_bytes()[:-1] + b"\x01")
    refused = run_cli(["release", "sign", "--firmware", other, "--build", raw_build.raw, "--key", key,
                       "-o", tmp_path / "release"])
    assert_clean_error(refused, 2)
    assert "both raw images" in refused.stderr


@pytest.mark.parametrize(("name", "edit"), [
    ("offset_not_hex", lambda layout: layout["sections"][0].update(offset="zz")),
    ("sections_missing", lambda layout: layout.pop("sections")),
    ("block_size_zero", lambda layout: layout.update(block_size=0)),
    ("size_not_a_number", lambda layout: layout["sections"][0].update(size="big")),
])
def test_hand_edited_raw_layout_is_bad_input(raw_build: RawBuild, tmp_path: Path, name: str, edit: Any) -> None:
    manifest = json.loads(json.dumps(raw_build.manifest))
    edit(manifest["raw_image"])
    path = tmp_path / f"manifest.{name}.json"
    path.write_text(json.dumps(manifest))
    assert_clean_error(run_cli(["firmware", "scan", raw_build.raw, "--manifest", path]), 2)


# --- Debian's U-Boot ----------------------------------------------------------------------------------------------

def _vendor_key(directory: Path) -> tuple[Path, Path]:
    from attestations.files import write_atomic, write_private
    from attestations.keys import generate_private_key, private_pem, public_pem

    signer = generate_private_key("ed25519")
    key, pub = directory / "vendor.key", directory / "vendor.pub"
    if not key.exists():
        write_private(key, private_pem(signer), overwrite=True)
        write_atomic(pub, public_pem(signer.public))
    return key, pub


def _intake(release: Path, image: Path, pub: Path, directory: Path) -> tuple[int, dict[str, Any]]:
    policy = directory / "policy.toml"
    policy.write_text(f'version = 1\n[signers]\nkeys = ["{pub}"]\n'
                      '[attestations]\nrequired = ["https://provcheck.dev/firmware-manifest/v1"]\n'
                      "[firmware]\nrequired = true\n")
    result = run_cli(["intake", "--release", release, "--policy", policy, "--firmware", image, "--no-history",
                      "--format", "json"])
    return result.returncode, json.loads(result.stdout)


def _boot(board: str, image: Path) -> str:
    qemu = shutil.which(UBOOT[board])
    if qemu is None:
        pytest.skip(f"{UBOOT[board]} (Debian qemu-system-arm) not installed")
    cpu = ["-cpu", "cortex-a57"] if board == "qemu_arm64" else []
    result = subprocess.run([qemu, "-machine", "virt", *cpu, "-m", "256", "-nographic", "-monitor", "none",
                             "-no-reboot", "-bios", str(image)], stdin=subprocess.DEVNULL, capture_output=True,
                            timeout=300, check=False)
    return result.stdout.decode("utf-8", "replace")


@pytest.mark.parametrize("board", sorted(UBOOT))
def test_uboot_bin_against_the_manifest_of_uboot_elf(board: str, tmp_path: Path) -> None:
    raw = debian_file(f"/usr/lib/u-boot/{board}/u-boot.bin")
    elf = debian_file(f"/usr/lib/u-boot/{board}/uboot.elf")
    manifest = tmp_path / f"{board}.manifest.json"
    assert run_cli(["firmware", "inventory", elf, "-o", manifest]).returncode == 0
    scanned = run_cli(["firmware", "scan", raw, "--manifest", manifest, "--format", "json"])
    assert scanned.returncode == 0, scanned.stdout
    checks = {f["check"]: f for f in json.loads(scanned.stdout)["findings"]}
    assert checks["firmware.changed-code"]["status"] == "pass"
    # Debian's objcopy -j leaves sections out (.hash on arm64, the dynamic tables on arm): the ELF alone
    # cannot say which, so the scan says so; a signed release pins them.
    assert checks["firmware.raw-layout"]["status"] == "warn"
    assert checks["firmware.raw-layout"]["evidence"]["gap_fill"] == 0xFF


@pytest.mark.parametrize("board", sorted(UBOOT))
def test_uboot_release_passes_intake_and_planted_bootcmd_fails(board: str, tmp_path: Path) -> None:
    raw = debian_file(f"/usr/lib/u-boot/{board}/u-boot.bin")
    elf = debian_file(f"/usr/lib/u-boot/{board}/uboot.elf")
    key, pub = _vendor_key(tmp_path)
    shipped = tmp_path / "u-boot.bin"
    shutil.copyfile(raw, shipped)
    release = tmp_path / "release"
    signed = run_cli(["release", "sign", "--firmware", shipped, "--build", elf, "--key", key, "-o", release])
    assert signed.returncode == 0, signed.stderr
    code, report = _intake(release, shipped, pub, tmp_path)
    statuses = {f["check"]: f["status"] for f in report["findings"] if f["check"].startswith("firmware.")}
    assert code == 0, [f for f in report["findings"] if f["status"] != "pass"]
    assert statuses["firmware.changed-code"] == "pass" and statuses["firmware.raw-layout"] == "pass"

    data = raw.read_bytes()
    at = data.find(BOOTCMD)
    assert at > 0 and data.count(BOOTCMD) == 1
    planted = tmp_path / "tampered" / "u-boot.bin"
    planted.parent.mkdir()
    planted.write_bytes(data[:at] + PLANTED_BOOTCMD + data[at + len(BOOTCMD) :])
    assert "PWNED" in _boot(board, planted), "the rewritten bootcmd runs"
    code, report = _intake(release, planted, pub, tmp_path)
    assert code == 1
    failure = next(f for f in report["findings"] if f["check"] == "firmware.changed-code" and f["status"] == "fail")
    changed = failure["evidence"]["sections"][0]
    assert changed["section"] == ".rodata"
    assert int(changed["raw_offset"], 16) <= at < int(changed["raw_offset"], 16) + changed["block_size"]


def test_blanked_uboot_section_warns_without_a_pin_and_fails_in_a_release(tmp_path: Path) -> None:
    """objcopy -j and an attacker who fills a section with the gap byte look alike until the release pins it."""
    raw = debian_file("/usr/lib/u-boot/qemu_arm/u-boot.bin")
    elf = debian_file("/usr/lib/u-boot/qemu_arm/uboot.elf")
    manifest = build_manifest(elf).to_predicate()
    hash_section = next(s for s in manifest["raw_image"]["sections"] if s["name"] == ".hash")
    start = int(hash_section["offset"], 16)
    data = raw.read_bytes()
    blanked = _write(tmp_path / "u-boot.hash_blanked.bin",
                     data[:start] + b"\xff" * hash_section["size"] + data[start + hash_section["size"] :])
    unpinned = {f.check: f for f in scan_firmware(blanked, manifest=manifest)}
    assert unpinned["firmware.raw-layout"].status is Status.WARN and ".hash" in unpinned["firmware.raw-layout"].message
    from verifier.workflows.release import firmware_manifest_predicate

    pinned = firmware_manifest_predicate(elf, raw)
    failure = _failed(scan_firmware(blanked, manifest=pinned), "firmware.raw-layout")
    assert ".hash" in failure.message


MALFORMED_LAYOUT = [
    ("sections", "text"), ("sections", [".text"]), ("sections", None), ("base", None), ("block_size", None),
    ("block_size", [4096]), ("gap_fill", [0]), ("image_size", {"bytes": 1}), ("omitted", [1]), ("omitted", None),
]


@pytest.mark.parametrize(("field", "value"), MALFORMED_LAYOUT, ids=[f"{f}-{i}" for i, (f, _) in
                                                                    enumerate(MALFORMED_LAYOUT)])
def test_malformed_raw_image_layout_stays_bad_input(raw_build: RawBuild, field: str, value: object) -> None:
    """A hand-edited ``raw_image`` is bad input (exit 2 through the scan), as before the judge was typed."""
    from verifier.errors import BadInputError

    edited = {**raw_build.manifest, "raw_image": {**raw_build.manifest["raw_image"], field: value}}
    with pytest.raises(BadInputError, match="not a well-formed firmware manifest"):
        scan_firmware(raw_build.raw, manifest=edited)


@pytest.mark.parametrize(("field", "value"), [("size", None), ("size", [1]), ("offset", None)])
def test_malformed_raw_image_section_stays_bad_input(raw_build: RawBuild, field: str, value: object) -> None:
    from verifier.errors import BadInputError

    layout = raw_build.manifest["raw_image"]
    sections = [{**layout["sections"][0], field: value}, *layout["sections"][1:]]
    edited = {**raw_build.manifest, "raw_image": {**layout, "sections": sections}}
    with pytest.raises(BadInputError, match="not a well-formed firmware manifest"):
        scan_firmware(raw_build.raw, manifest=edited)
