"""Inputs that once broke provcheck (found by fuzz/), each kept with the behaviour its fix guarantees."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import run_cli

DATA = Path(__file__).parent / "data"


def test_pe_declaring_fewer_data_directories_is_inventoried() -> None:
    """A PE whose optional header lists fewer than 5 data directories used to raise IndexError in the inventory."""
    result = run_cli(["firmware", "inventory", DATA / "pe-declares-fewer-data-directories.bin", "--format", "json"])
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "internal error" not in result.stderr
