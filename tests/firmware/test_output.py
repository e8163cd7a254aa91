"""Output contract of the firmware commands: SARIF 2.1.0 that validates, JSON, text, atomic manifests, lazy imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema

from tests.firmware.conftest import ElfBuild
from tests.helpers import run_cli
from verifier.firmware.inventory import build_manifest

SCHEMA = Path(__file__).resolve().parent / "data" / "sarif-schema-2.1.0.json"


def _validate_sarif(text: str) -> dict[str, object]:
    document = json.loads(text)
    schema = json.loads(SCHEMA.read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    errors = sorted(validator_class(schema).iter_errors(document), key=str)
    assert not errors, [e.message for e in errors[:5]]
    return document  # type: ignore[no-any-return]


def test_sarif_of_a_failing_scan_validates(elf_build: ElfBuild) -> None:
    result = run_cli(["firmware", "scan", elf_build.hidden_constructor_stripped, "--manifest", elf_build.manifest,
                      "--format", "sarif"])
    assert result.returncode == 1, result.stderr
    document = _validate_sarif(result.stdout)
    results = document["runs"][0]["results"]  # type: ignore[index]
    constructor = [r for r in results if r["ruleId"] == "firmware.constructor"]
    assert constructor[0]["kind"] == "fail" and constructor[0]["level"] == "error"
    assert all(r["level"] == "none" for r in results if r["kind"] != "fail")


def test_sarif_of_a_clean_scan_and_a_diff_validate(elf_build: ElfBuild) -> None:
    clean = run_cli(["firmware", "scan", elf_build.stripped, "--manifest", elf_build.manifest, "--format", "sarif"])
    assert clean.returncode == 0
    assert _validate_sarif(clean.stdout)["runs"][0]["properties"]["verdict"] == "pass"  # type: ignore[index]
    diff = run_cli(["firmware", "diff", elf_build.clean, elf_build.hidden_constructor, "--format", "sarif"])
    assert diff.returncode == 1
    _validate_sarif(diff.stdout)


def test_sarif_renderer_rejects_nothing_the_schema_forbids() -> None:
    # A failing twin for the validator itself: a result without a message must not validate.
    schema = json.loads(SCHEMA.read_text())
    bad = {"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"ruleId": "a"}]}]}
    validator_class = jsonschema.validators.validator_for(schema)
    assert list(validator_class(schema).iter_errors(bad))


def test_json_and_text_output(elf_build: ElfBuild) -> None:
    result = run_cli(["firmware", "scan", elf_build.hidden_constructor_stripped, "--manifest", elf_build.manifest,
                      "--format", "json"])
    report = json.loads(result.stdout)
    assert report["verdict"] == "fail" and report["exit_code"] == 1
    text = run_cli(["firmware", "scan", elf_build.hidden_constructor_stripped, "--manifest", elf_build.manifest])
    assert "verdict: FAIL" in text.stdout and "firmware.constructor" in text.stdout


def test_diff_names_the_added_constructor_and_function(elf_build: ElfBuild) -> None:
    result = run_cli(["firmware", "diff", elf_build.clean, elf_build.hidden_constructor, "--format", "json"])
    findings = {f["check"]: f for f in json.loads(result.stdout)["findings"]}
    assert "hidden_init" in findings["firmware.diff.functions"]["evidence"]["added"]
    assert findings["firmware.diff.constructors"]["status"] == "warn"
    assert "*!system" in findings["firmware.diff.imports"]["evidence"]["added"]
    same = run_cli(["firmware", "diff", elf_build.clean, elf_build.clean])
    assert same.returncode == 0 and "byte-identical" in same.stdout


def test_inventory_writes_the_canonical_manifest_atomically(elf_build: ElfBuild, tmp_path: Path) -> None:
    out = tmp_path / "manifest.json"
    result = run_cli(["firmware", "inventory", elf_build.clean, "-o", out])
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == build_manifest(elf_build.clean).canonical_bytes() + b"\n"
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]
    again = run_cli(["firmware", "inventory", elf_build.clean])
    assert again.stdout.encode() == out.read_bytes()
    predicate = json.loads(out.read_bytes())
    assert predicate["schema_version"] == 1 and predicate["format"] == "elf"
    assert {"checksum", "parse_level", "main"} <= {f["name"] for f in predicate["functions"]}
    summary = run_cli(["firmware", "inventory", elf_build.clean, "--format", "text"])
    assert "functions:" in summary.stdout


def test_firmware_help_imports_no_heavy_library() -> None:
    probe = (
        "import sys\n"
        "from verifier.cli import main\n"
        "try:\n"
        "    main(['firmware', 'scan', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "names = ('lief', 'yara', 'capstone', 'cryptography', 'uefi_firmware', 'numpy', 'rich')\n"
        "print('HEAVY=' + ','.join(m for m in names if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "HEAVY=", out
    assert "attest verify" in out
