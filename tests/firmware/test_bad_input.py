"""Hostile and broken input: every case ends in a clean finding (exit 1 or 3) or exit 2, never a traceback."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.firmware import builders
from tests.firmware.conftest import ElfBuild
from tests.helpers import assert_clean_error, run_cli
from verifier.errors import BadInputError
from verifier.firmware.inventory import analyse
from verifier.firmware.limits import Limits
from verifier.firmware.loader import load_bytes


def _json_findings(stdout: str) -> dict[str, list[dict[str, object]]]:
    out: dict[str, list[dict[str, object]]] = {}
    for finding in json.loads(stdout)["findings"]:
        out.setdefault(str(finding["check"]), []).append(finding)
    return out


def test_zero_length_file_is_bad_input(tmp_path: Path) -> None:
    empty = tmp_path / "zero_length.bin"
    empty.write_bytes(b"")
    assert_clean_error(run_cli(["firmware", "scan", empty]), 2)
    assert_clean_error(run_cli(["firmware", "inventory", empty]), 2)


def test_truncated_elf_gives_a_finding(elf_build: ElfBuild, tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.elf"
    truncated.write_bytes(elf_build.stripped.read_bytes()[:700])
    result = run_cli(["firmware", "scan", truncated, "--manifest", elf_build.manifest, "--format", "json"])
    assert result.returncode in (1, 3), result.stderr
    assert "Traceback" not in result.stderr
    assert json.loads(result.stdout)["verdict"] != "pass"


def test_truncated_pe_gives_a_finding(tmp_path: Path) -> None:
    shim = Path("/usr/lib/shim/shimx64.efi.signed")
    if not shim.is_file():
        pytest.skip("shim-signed not installed")
    truncated = tmp_path / "truncated_shim.efi"
    truncated.write_bytes(shim.read_bytes()[:65536])
    result = run_cli(["firmware", "scan", truncated, "--format", "json"])
    assert result.returncode in (1, 3), result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_random_bytes_are_inconclusive_on_their_own(tmp_path: Path) -> None:
    blob = builders.random_bytes(tmp_path / "random_bytes.bin", 65536)
    result = run_cli(["firmware", "scan", blob, "--format", "json"])
    assert result.returncode == 3, result.stderr
    assert _json_findings(result.stdout)["firmware.reference"][0]["status"] == "skip"
    assert run_cli(["firmware", "inventory", blob]).returncode == 0


def test_two_gigabyte_sparse_file_hits_the_size_limit(tmp_path: Path) -> None:
    sparse = builders.sparse_file(tmp_path / "sparse_2g.bin", 2 * 1024**3)
    result = run_cli(["firmware", "scan", sparse, "--format", "json"])
    assert result.returncode == 3, result.stderr
    limit = _json_findings(result.stdout)["firmware.limit"][0]
    assert limit["status"] == "error" and limit["evidence"]["limit"] == "max-file-size"
    assert_clean_error(run_cli(["firmware", "inventory", sparse]), 2)


def test_lzma_bomb_in_a_volume_is_refused_before_decompression(tmp_path: Path) -> None:
    import uuid

    bomb = tmp_path / "lzma_bomb.fv"
    bomb.write_bytes(builders.firmware_volume(
        [(uuid.UUID("b0b0b0b0-0000-4000-8000-000000000001"), 0x07, builders.lzma_bomb_section(320 << 20))]))
    assert bomb.stat().st_size < 1 << 20
    result = run_cli(["firmware", "scan", bomb, "--format", "json"])
    assert result.returncode == 3, result.stderr
    limit = _json_findings(result.stdout)["firmware.limit"][0]
    assert limit["evidence"]["limit"] == "max-decompressed"


def test_nesting_deeper_than_the_limit_is_reported() -> None:
    import uuid

    inner = builders.firmware_volume([(uuid.UUID(int=1), 0x07, builders.section(0x19, b"raw payload"))])
    outer = b"\x00" * 64 + inner
    image = load_bytes("nested.bin", outer, Limits(max_depth=0))
    assert [e.limit for e in image.events] == ["max-depth"]


def test_malformed_intel_hex_is_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "bad_checksum.hex"
    bad.write_text(":10000000000102030405060708090A0B0C0D0E0FFF\n:00000001FF\n")
    assert_clean_error(run_cli(["firmware", "inventory", bad]), 2)


def test_bad_manifest_rules_and_anchor_are_bad_input(elf_build: ElfBuild, tmp_path: Path) -> None:
    not_json = tmp_path / "not_json.json"
    not_json.write_text("{nope")
    assert_clean_error(run_cli(["firmware", "scan", elf_build.stripped, "--manifest", not_json]), 2)
    no_format = tmp_path / "no_format.json"
    no_format.write_text("{}")
    assert_clean_error(run_cli(["firmware", "scan", elf_build.stripped, "--manifest", no_format]), 2)
    broken = json.loads(elf_build.manifest.read_bytes())
    broken["functions"] = [{"name": 1}]
    malformed = tmp_path / "malformed_functions.json"
    malformed.write_text(json.dumps(broken))
    assert_clean_error(run_cli(["firmware", "scan", elf_build.stripped, "--manifest", malformed]), 2)
    bad_rules = tmp_path / "bad_rules.yar"
    bad_rules.write_text("rule broken { condition: nonsense }")
    assert_clean_error(run_cli(["firmware", "scan", elf_build.stripped, "--rules", bad_rules]), 2)
    bad_anchor = tmp_path / "not_a_cert.pem"
    bad_anchor.write_text("hello")
    assert_clean_error(run_cli(["firmware", "scan", elf_build.stripped, "--trust-anchor", bad_anchor]), 2)
    assert_clean_error(run_cli(["firmware", "scan", tmp_path / "missing.bin"]), 2)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.tuples(st.integers(0, 20000), st.integers(0, 255)), min_size=1, max_size=8),
       length=st.integers(1, 20000))
def test_mutated_elf_never_crashes_the_analysis(elf_build: ElfBuild, cuts: list[tuple[int, int]],
                                               length: int) -> None:
    data = bytearray(elf_build.stripped.read_bytes())[:length]
    for offset, value in cuts:
        if offset < len(data):
            data[offset] = value
    with contextlib.suppress(BadInputError):
        analyse(load_bytes("mutated", bytes(data)))
