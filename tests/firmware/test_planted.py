"""Planted backdoors, each built here with gcc / mingw / LIEF, each detected against the clean build's manifest;
and the clean build, stripped, scanning clean against its own manifest."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from tests.firmware import builders
from tests.firmware.conftest import ElfBuild, PeBuild
from tests.helpers import run_cli
from verifier.model import Finding, Status, judge
from verifier.workflows.firmware_scan import load_manifest, scan_firmware


def _failed(findings: list[Finding], check: str) -> list[Finding]:
    return [f for f in findings if f.check == check and f.status is Status.FAIL]


def _scan(image: Path, manifest: Path | None = None, **kwargs: object) -> list[Finding]:
    declared = load_manifest(manifest) if manifest else None
    return scan_firmware(image, manifest=declared, **kwargs)  # type: ignore[arg-type]


def test_clean_stripped_build_scans_clean_against_its_manifest(elf_build: ElfBuild) -> None:
    findings = _scan(elf_build.stripped, elf_build.manifest)
    assert judge(findings).value == "pass", [f for f in findings if f.status is not Status.PASS]
    checks = {f.check for f in findings if f.status is Status.PASS}
    assert {"firmware.functions", "firmware.constructor", "firmware.export", "firmware.uncovered-code"} <= checks


def test_clean_build_cli_exit_zero(elf_build: ElfBuild) -> None:
    result = run_cli(["firmware", "scan", elf_build.stripped, "--manifest", elf_build.manifest])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS" in result.stdout


def test_hidden_constructor_calling_shell_is_detected(elf_build: ElfBuild) -> None:
    findings = _scan(elf_build.hidden_constructor_stripped, elf_build.manifest)
    planted = builders.symbol_address(elf_build.hidden_constructor, "hidden_init")
    constructors = _failed(findings, "firmware.constructor")
    assert constructors, findings
    assert f"{planted:#x}" in {c["address"] for c in constructors[0].evidence["constructors"]}
    assert _failed(findings, "firmware.import")[0].evidence["imports"] == ["system"]
    assert any(m["value"] == "/bin/sh" for m in _failed(findings, "firmware.capability")[0].evidence["matches"])
    result = run_cli(["firmware", "scan", elf_build.hidden_constructor_stripped, "--manifest", elf_build.manifest])
    assert result.returncode == 1


def test_injected_rwx_segment_with_uncovered_code_is_detected(elf_build: ElfBuild, tmp_path: Path) -> None:
    planted = tmp_path / "rwx_segment"
    builders.inject_rwx_segment(elf_build.stripped, planted)
    findings = _scan(planted, elf_build.manifest)
    assert _failed(findings, "firmware.rwx"), findings
    uncovered = _failed(findings, "firmware.uncovered-code")
    assert uncovered and uncovered[0].evidence["regions"][0]["size"] >= 41
    # the same binary without a reference still fails on code outside every section
    assert _failed(_scan(planted), "firmware.uncovered-code")


def test_added_export_is_detected(elf_build: ElfBuild, tmp_path: Path) -> None:
    planted = tmp_path / "added_export"
    builders.add_export(elf_build.clean, planted, "parse_level", "debug_backdoor")
    findings = _scan(planted, elf_build.manifest)
    exports = _failed(findings, "firmware.export")
    assert exports and exports[0].evidence["exports"] == ["debug_backdoor"]


def test_appended_payload_is_detected(elf_build: ElfBuild, tmp_path: Path) -> None:
    planted = tmp_path / "appended_payload"
    builders.append_payload(elf_build.stripped, planted)
    findings = _scan(planted, elf_build.manifest)
    overlay = _failed(findings, "firmware.overlay")
    assert overlay and overlay[0].evidence["size"] == 4104
    assert not _failed(findings, "firmware.changed-function")


def test_patched_function_in_stripped_binary_is_detected(elf_build: ElfBuild, tmp_path: Path) -> None:
    planted = tmp_path / "patched_checksum"
    address = builders.patch_function(elf_build.clean, elf_build.stripped, "checksum", planted)
    findings = _scan(planted, elf_build.manifest)
    changed = _failed(findings, "firmware.changed-function")
    assert changed, findings
    assert changed[0].evidence["functions"] == [
        {"name": "checksum", "address": f"{address:#x}", "size": changed[0].evidence["functions"][0]["size"]}]


def test_baseline_works_like_a_manifest(elf_build: ElfBuild, tmp_path: Path) -> None:
    planted = tmp_path / "patched_parse_level"
    builders.patch_function(elf_build.clean, elf_build.stripped, "parse_level", planted)
    assert judge(scan_firmware(elf_build.stripped, manifest=None, baseline=elf_build.clean)).value == "pass"
    assert _failed(scan_firmware(planted, manifest=None, baseline=elf_build.clean), "firmware.changed-function")


def test_manifest_inside_an_in_toto_statement(elf_build: ElfBuild, tmp_path: Path) -> None:
    predicate = json.loads(elf_build.manifest.read_bytes())
    statement = {"_type": "https://in-toto.io/Statement/v1", "subject": [{"name": "clean", "digest": {}}],
                 "predicateType": "https://provcheck.dev/firmware-manifest/v1", "predicate": predicate}
    path = tmp_path / "statement.json"
    path.write_text(json.dumps(statement))
    assert judge(_scan(elf_build.stripped, path)).value == "pass"
    wrong = tmp_path / "wrong-type.json"
    wrong.write_text(json.dumps({**statement, "predicateType": "https://slsa.dev/provenance/v1"}))
    result = run_cli(["firmware", "scan", elf_build.stripped, "--manifest", wrong])
    assert result.returncode == 2 and "predicateType" in result.stderr


def test_pe_clean_build_scans_clean(pe_build: PeBuild) -> None:
    findings = _scan(pe_build.clean, pe_build.manifest)
    assert judge(findings).value == "pass", [f for f in findings if f.status is not Status.PASS]


def test_pe_tls_callback_is_detected(pe_build: PeBuild) -> None:
    findings = _scan(pe_build.tls_callback, pe_build.manifest)
    tls = _failed(findings, "firmware.constructor")
    assert tls and any(c["kind"] == "tls_callback" for c in tls[0].evidence["constructors"])
    assert "WinExec" in _failed(findings, "firmware.import")[0].evidence["imports"]


def test_patched_module_in_a_built_volume_is_detected(pe_build: PeBuild, tmp_path: Path) -> None:
    from verifier.firmware.inventory import build_manifest

    guid = uuid.UUID("5e1ec7ed-0000-4000-8000-00000000f00d")
    ui = "VendorDxe".encode("utf-16-le") + b"\0\0"
    driver = pe_build.clean.read_bytes()
    clean = tmp_path / "clean.fv"
    clean.write_bytes(builders.firmware_volume(
        [(guid, 0x07, builders.lzma_section(builders.section(0x10, driver) + builders.section(0x15, ui)))]))
    import lief

    binary = lief.PE.parse(str(pe_build.clean))
    entry = binary.rva_to_offset(binary.optional_header.addressof_entrypoint)
    patched = bytearray(driver)
    patched[entry + 2] ^= 0xFF
    tampered = tmp_path / "patched_module.fv"
    tampered.write_bytes(builders.firmware_volume(
        [(guid, 0x07, builders.lzma_section(builders.section(0x10, bytes(patched)) + builders.section(0x15, ui)))]))
    manifest = tmp_path / "clean.fv.json"
    manifest.write_bytes(build_manifest(clean).canonical_bytes())
    assert judge(_scan(clean, manifest)).value == "pass"
    findings = _scan(tampered, manifest)
    module = _failed(findings, "firmware.module")
    assert module and module[0].evidence["changed"][0]["name"] == "VendorDxe"
    deeper = _failed(findings, "firmware.changed-function")
    assert deeper and deeper[0].subject.endswith(":VendorDxe")
