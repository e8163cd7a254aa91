"""Inputs that once broke provcheck (found by fuzz/), each kept with the behaviour its fix guarantees."""

from __future__ import annotations

from pathlib import Path

import pytest

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


def test_policy_naming_a_key_file_whose_name_is_too_long_is_a_policy_error(tmp_path: Path) -> None:
    """pathlib's is_file() raised ENAMETOOLONG through the policy parser; now it is a PolicyError naming the key."""
    from verifier.errors import PolicyError
    from verifier.policy.loading import parse_policy

    text = (DATA / "policy-key-file-name-too-long.toml").read_bytes().decode("utf-8", errors="replace")
    with pytest.raises(PolicyError, match="not a readable file"):
        parse_policy(text, tmp_path / "policy.toml")
    nul = 'version = 1\n[signers.vendor]\nkeys = ["a\\u0000b.pub"]\n'
    with pytest.raises(PolicyError):
        parse_policy(nul, tmp_path / "policy.toml")


def test_device_manifest_with_an_overflowing_regex_repetition_is_bad_input(tmp_path: Path) -> None:
    """re.compile raised OverflowError (not re.error) for a repetition count too large; now exit 2."""
    evidence = tmp_path / "evidence.json"
    evidence.write_text("{}")
    manifest = DATA / "device-manifest-serial-pattern-repetition-overflow.json"
    result = run_cli(["device", "verify", "--evidence", evidence, "--manifest", manifest])
    assert_clean_error(result, 2)
    from verifier.declared.device_manifest import load_device_manifest
    from verifier.errors import BadInputError

    with pytest.raises(BadInputError, match="not a valid regular expression"):
        load_device_manifest(manifest)


def test_tpm_public_area_with_an_rsa_modulus_below_3_is_bad_input(tmp_path: Path) -> None:
    """An AK public area whose RSA modulus is < 3 made cryptography raise ValueError out of load_attestation_key."""
    from hw.errors import EvidenceInputError
    from hw.tpm.quote import load_attestation_key

    body = (DATA / "tpm-public-rsa-modulus-below-3.bin").read_bytes()[1:]  # the harness's first byte selects
    with pytest.raises(EvidenceInputError, match="RSA public key"):
        load_attestation_key(body)
    ak = tmp_path / "ak.pub"
    ak.write_bytes(body)
    junk = tmp_path / "quote.msg"
    junk.write_bytes(b"\x00" * 8)
    result = run_cli(["tpm", "verify-quote", "--message", junk, "--signature", junk, "--pcrs", junk,
                      "--ak", ak, "--nonce", "00" * 32])
    assert_clean_error(result, 2)
