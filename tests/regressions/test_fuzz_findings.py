"""Inputs that once broke provcheck (found by fuzz/), each kept with the behaviour its fix guarantees."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import assert_clean_error, run_cli

DATA = Path(__file__).parent / "data"


def test_pe_declaring_fewer_data_directories_is_inventoried() -> None:
    """A PE whose optional header lists fewer than 5 data directories used to raise IndexError in the inventory."""
    result = run_cli(["firmware", "inventory", DATA / "pe-declares-fewer-data-directories.bin", "--format", "json"])
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "internal error" not in result.stderr


def test_bundle_whose_certificate_has_an_invalid_x509_version_is_bad_input() -> None:
    """sigstore-python raised cryptography's InvalidVersion while loading such a bundle; it is now exit 2."""
    bundle = DATA / "sigstore-bundle-certificate-with-invalid-x509-version.json"
    result = run_cli(["attest", "verify", "--bundle", bundle, "--insecure-skip-identity"])
    assert_clean_error(result, 2)
    assert "malformed" in result.stderr
