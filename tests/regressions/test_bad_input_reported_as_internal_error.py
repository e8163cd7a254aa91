"""Bad input that ended in "internal error", exit 3: it is bad input, exit 2, one line naming the file.

- a 5000-digit integer in a DeviceEvidence file: ``json.loads`` raises ``ValueError`` (Python's limit of
  4300 digits for int conversion), which is not a ``JSONDecodeError``;
- a deeply nested TOML policy and a deeply nested firmware manifest: the parsers recurse, ``RecursionError``.

Each runs the real CLI as a user would.
"""

from __future__ import annotations

from pathlib import Path

from tests.helpers import assert_clean_error, run_cli

FIRMWARE = Path("/usr/lib/ipxe/qemu/efi-e1000.rom")


def test_evidence_with_a_5000_digit_integer(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence.json"
    evidence.write_text('{"schema": "provcheck/device-evidence", "version": 1, "nonce": ' + "7" * 5000 + "}")
    result = run_cli(["device", "verify", "--evidence", evidence, "--manifest", evidence])
    assert_clean_error(result, 2)
    assert str(evidence) in result.stderr and "too many digits" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_policy_nested_too_deeply(tmp_path: Path) -> None:
    for name, text in (
        ("arrays.toml", "version = 1\nx = " + "[" * 3000 + "]" * 3000 + "\n"),
        ("inline-tables.toml", "version = 1\nx = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n"),
    ):
        policy = tmp_path / name
        policy.write_text(text)
        result = run_cli(["intake", "--release", tmp_path, "--policy", policy])
        assert_clean_error(result, 2)
        assert str(policy) in result.stderr and "nested too deeply" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_firmware_manifest_nested_too_deeply(tmp_path: Path) -> None:
    for name, text in (
        ("arrays.json", "[" * 100_000 + "]" * 100_000),
        ("objects.json", '{"a":' * 100_000 + "1" + "}" * 100_000),
        ("long-integer.json", '{"format": "elf", "schema_version": ' + "9" * 5000 + "}"),
    ):
        manifest = tmp_path / name
        manifest.write_text(text)
        result = run_cli(["firmware", "scan", "--manifest", manifest, FIRMWARE])
        assert_clean_error(result, 2)
        assert str(manifest) in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_policy_with_a_5000_digit_integer(tmp_path: Path) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("version = " + "7" * 5000 + "\n")
    result = run_cli(["intake", "--release", tmp_path, "--policy", policy])
    assert_clean_error(result, 2)
    assert str(policy) in result.stderr and "too many digits" in result.stderr


def test_device_manifest_and_layout_with_a_5000_digit_integer(tmp_path: Path) -> None:
    # The same class in two more JSON readers: the device manifest (plain and .intoto.jsonl) and an in-toto layout.
    import pytest

    from attestations.errors import InputError
    from attestations.layout import layout_inspections
    from verifier.declared.device_manifest import load_device_manifest
    from verifier.errors import BadInputError

    number = "7" * 5000
    for name, text in (("plain.json", '{"predicateType": "x", "n": ' + number + "}"),
                       ("lines.intoto.jsonl", '{"a": 1}\n{"n": ' + number + "}\n")):
        manifest = tmp_path / name
        manifest.write_text(text)
        with pytest.raises(BadInputError, match=str(manifest)):
            load_device_manifest(manifest)
    layout = tmp_path / "root.layout"
    layout.write_text('{"signed": {"n": ' + number + "}}")
    with pytest.raises(InputError, match=r"not valid JSON|ambiguous JSON"):
        layout_inspections(layout, tmp_path)
