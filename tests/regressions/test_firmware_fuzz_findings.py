"""Firmware inputs that once broke provcheck under fuzz/fuzz_firmware*.py, each kept with what its fix guarantees.

Every input goes through the CLI as a user would run it: ``firmware inventory`` and ``firmware scan`` against a
clean seed of the fuzz corpus as baseline. The contract: a documented exit code, no traceback, no "internal
error". Inputs that were too slow are checked by what bounds them now (a limit event), never by a timer.
"""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path

import pytest

from tests.helpers import Run, run_cli
from verifier.firmware import functions as fn

DATA = Path(__file__).parent / "data"
SEEDS = Path(__file__).resolve().parents[2] / "fuzz" / "corpus" / "firmware"
CLEAN_ELF = SEEDS / "elf-x86_64-stripped"
CLEAN_PE = SEEDS / "pe-x86_64-mingw.exe"

FINDINGS = {
    # OverflowError in _call_targets_numpy: executable sections near 0 and near 2**64 do not fit one int64 frame.
    "elf-code-sections-2-pow-64-apart.bin": CLEAN_ELF,
    # ValueError from the Authenticode reader: a carved PE whose optional header runs past the end of the image.
    "pe-optional-header-cut-off-by-end-of-file.bin": CLEAN_PE,
    # Over 1 s: thousands of section headers all pointing at the same large span made hashing quadratic.
    "elf-overlapping-section-headers.bin": CLEAN_ELF,
    # Made by hand after the fuzzer's timeouts pointed there (not found by it): 6 s for 40 KB, subtracting every
    # section from every executable segment, with one uncovered-code region per segment and gap.
    "elf-300-exec-segments-over-300-sections.bin": CLEAN_ELF,
    # Made by hand too: 600 section names that run to the end of the file; LIEF copied each one (a 480 KB
    # variant took 27 s and 2.9 GB).
    "elf-section-names-run-to-end-of-file.bin": CLEAN_ELF,
    # Made by hand: records with gaps between them; bincopy inserts each segment by a linear scan (8000 such
    # records, 376 KB, took 2.6 s) and every segment became an image of its own.
    "srec-1500-records-with-gaps-between.srec": SEEDS / "image.srec",
}


def _assert_handled(result: Run, codes: tuple[int, ...]) -> None:
    assert result.returncode in codes, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert "internal error" not in result.stderr.lower(), result.stderr


@pytest.mark.parametrize("name", sorted(FINDINGS))
def test_inventory_handles_fuzz_finding(name: str) -> None:
    result = run_cli(["firmware", "inventory", DATA / name])
    _assert_handled(result, (0,))
    assert json.loads(result.stdout)["file"]["size"] == (DATA / name).stat().st_size


@pytest.mark.parametrize("name", sorted(FINDINGS))
def test_scan_against_clean_baseline_handles_fuzz_finding(name: str) -> None:
    result = run_cli(["firmware", "scan", DATA / name, "--baseline", FINDINGS[name], "--format", "json"])
    # The mutated image differs from the clean seed: a failed check (1), or inconclusive when a limit hit (3).
    _assert_handled(result, (1, 3))
    assert json.loads(result.stdout)["verdict"] in ("fail", "inconclusive")


def test_overlapping_section_headers_are_reported_as_a_limit() -> None:
    result = run_cli(["firmware", "inventory", DATA / "elf-overlapping-section-headers.bin"])
    _assert_handled(result, (0,))
    limits = json.loads(result.stdout)["limits"]
    assert [entry["limit"] for entry in limits] == ["max-section-bytes"]
    scan = run_cli(["firmware", "scan", DATA / "elf-overlapping-section-headers.bin", "--format", "json"])
    errors = [f for f in json.loads(scan.stdout)["findings"] if f["check"] == "firmware.limit"]
    assert errors and errors[0]["status"] == "error"


def test_exec_segments_over_many_sections_are_bounded_by_the_section_budget() -> None:
    result = run_cli(["firmware", "inventory", DATA / "elf-300-exec-segments-over-300-sections.bin"])
    _assert_handled(result, (0,))
    manifest = json.loads(result.stdout)
    assert [entry["limit"] for entry in manifest["limits"]] == ["max-section-bytes"]
    # uncovered code is still reported, within the budget: 300 segments x 300 gaps would be 90000 entries
    assert 0 < len(manifest["layout"]["uncovered_code"]) < 2000


def test_section_names_running_to_the_end_of_the_file_are_not_read() -> None:
    result = run_cli(["firmware", "inventory", DATA / "elf-section-names-run-to-end-of-file.bin"])
    _assert_handled(result, (0,))
    assert [entry["limit"] for entry in json.loads(result.stdout)["limits"]] == ["max-name-bytes"]


def test_uncovered_code_gaps_match_subtracting_each_section() -> None:
    """The merged-and-bisected gaps that replaced per-segment subtraction give the same ranges."""
    from verifier.firmware.inventory_elf import _Gaps

    def subtract(start: int, end: int, covered: list[tuple[int, int]], header_end: int) -> list[tuple[int, int]]:
        pieces = [(max(start, header_end), end)]
        for c_start, c_end in covered:
            pieces = [piece for p_start, p_end in pieces
                      for piece in ((p_start, min(p_end, c_start)), (max(p_start, c_end), p_end))]
        return [(s, e) for s, e in sorted(set(pieces)) if e > s]

    rng = random.Random(3)
    for _ in range(2000):
        covered = [(a, a + rng.randrange(1, 60)) for a in (rng.randrange(0, 300) for _ in range(rng.randrange(12)))]
        header_end = rng.randrange(0, 100)
        gaps = _Gaps(covered, header_end)
        start = rng.randrange(0, 300)
        end = start + rng.randrange(0, 200)
        assert list(gaps.within(start, end)) == subtract(start, end, covered, header_end)


def test_hex_segments_past_the_limit_are_reported_not_opened() -> None:
    result = run_cli(["firmware", "inventory", DATA / "srec-1500-records-with-gaps-between.srec"])
    _assert_handled(result, (0,))
    manifest = json.loads(result.stdout)
    assert [entry["limit"] for entry in manifest["limits"]] == ["max-hex-segments"]
    assert len(manifest["embedded"]) == 1024


def test_hex_segments_are_the_segments_bincopy_assembles() -> None:
    """The twin of the sorted assembly that replaced bincopy's: same segments, addresses and bytes."""
    import bincopy

    from verifier.firmware.containers import hex_segments
    from verifier.firmware.limits import DEFAULT_LIMITS

    rng = random.Random(5)
    for _ in range(40):
        binfile = bincopy.BinFile()
        address = rng.randrange(0, 1 << 20)
        for _ in range(rng.randrange(1, 6)):
            address += rng.randrange(1, 1 << 18)
            binfile.add_binary(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))), address)
            address += 400
        expected = [(segment.minimum_address, bytes(segment.data)) for segment in binfile.segments]
        for kind, text in (("intel-hex", binfile.as_ihex()), ("srec", binfile.as_srec())):
            members = hex_segments(text.encode(), kind, "generated", DEFAULT_LIMITS)
            assert [(m.attributes["address"], m.data) for m in members] == expected, kind


def test_overlapping_hex_records_are_bad_input() -> None:
    from verifier.errors import BadInputError
    from verifier.firmware.containers import hex_segments
    from verifier.firmware.limits import DEFAULT_LIMITS

    record = ":0400100001020304E2\n"
    with pytest.raises(BadInputError, match="overlap"):
        hex_segments((record + record).encode(), "intel-hex", "twice.hex", DEFAULT_LIMITS)


def test_a_clean_binary_reaches_no_section_limit() -> None:
    """The twin: an ordinary ELF is hashed in full, every section with a digest."""
    result = run_cli(["firmware", "inventory", CLEAN_ELF])
    _assert_handled(result, (0,))
    manifest = json.loads(result.stdout)
    assert manifest["limits"] == []
    assert all(s["sha256"] for s in manifest["sections"] if s["type"] != "nobits")


def test_pe_with_optional_header_cut_off_reads_as_unsigned() -> None:
    result = run_cli(["firmware", "inventory", DATA / "pe-optional-header-cut-off-by-end-of-file.bin"])
    _assert_handled(result, (0,))
    [embedded] = json.loads(result.stdout)["embedded"]
    assert embedded["image"]["format"] == "pe"
    assert embedded["image"]["authenticode"]["certificate_table"]["size"] == 0


def _call_site(target_offset: int) -> bytes:
    """x86 code: a call to ``target_offset`` from offset 0, then NOP padding (so the target is corroborated)."""
    body = bytearray(b"\x90" * 64)
    body[0:5] = b"\xe8" + struct.pack("<i", target_offset - 5)
    return bytes(body)


def test_call_targets_in_code_regions_2_pow_64_apart() -> None:
    low = fn.CodeRegion("low", 0x1000, _call_site(0x20))
    high = fn.CodeRegion("high", 0xFF00_0000_0000_1000, _call_site(0x30))
    assert fn.call_targets([low, high], "x86_64") == {0x1020, 0xFF00_0000_0000_1030}


def test_call_targets_past_2_pow_64_from_a_hostile_pe_base() -> None:
    """PE image base plus section RVA can exceed 64 bits; the targets are still found, never an overflow."""
    low = fn.CodeRegion("low", 0x1000, _call_site(0x20))
    beyond = fn.CodeRegion("beyond", (1 << 64) + 0x1000, _call_site(0x20))
    assert fn.call_targets([low, beyond], "x86_64") == {0x1020, (1 << 64) + 0x1020}


def test_region_index_finds_the_first_region_holding_an_address() -> None:
    """The index that replaced a linear scan per lookup (quadratic on thousands of sections) answers the same."""
    rng = random.Random(7)
    regions = [fn.CodeRegion(f"r{i}", rng.randrange(0, 4096), bytes(rng.randrange(0, 300))) for i in range(200)]
    index = fn.RegionIndex(regions)
    for address in range(-5, 4500):
        expected = next((r for r in regions if r.contains(address)), None)
        assert index.find(address) is expected, address


_INSTRUMENTED_CALL_TARGETS = """
import resource, sys
import atheris
with atheris.instrument_imports(include=["verifier.firmware.functions"]):
    from verifier.firmware import functions as fn
code = fn.CodeRegion("code", 0x1000, bytes(range(256)) * 1024)
fn.call_targets([code], "x86_64")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
for _ in range(200):
    fn.call_targets([code], "x86_64")
    fn.call_targets([code], "aarch64")
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def test_call_targets_under_atheris_instrumentation_keep_memory_flat() -> None:
    """atheris 3.0 leaks the array an instrumented numpy ``==`` returns; the fuzz harness grew to its 1 GB limit.

    400 decodes of 256 KiB leaked about 65 MiB with operators; with ufuncs the peak does not move.
    """
    import subprocess
    import sys

    pytest.importorskip("atheris")
    proc = subprocess.run([sys.executable, "-c", _INSTRUMENTED_CALL_TARGETS], capture_output=True, text=True,
                          timeout=300, cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr
    grown_kib = int(proc.stdout.split()[-1])
    assert grown_kib < 16 * 1024, f"peak RSS grew by {grown_kib} KiB over 400 instrumented decodes"
