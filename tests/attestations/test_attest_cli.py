"""``provcheck attest sign`` / ``verify`` as a user runs them: every check passes, and fails when tampered."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from tests.helpers import assert_clean_error, run_cli

PREDICATE_TYPE = "https://example.com/test/v1"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three vendor keys of different types, generated through the CLI."""
    folder = tmp_path_factory.mktemp("keys")
    out: dict[str, Path] = {}
    for name, kind in (("alice", "ed25519"), ("bob", "ecdsa-p256"), ("carol", "rsa")):
        result = run_cli(["keys", "generate", "--out", folder / name, "--type", kind])
        assert result.returncode == 0, result.stderr
        out[name] = folder / name
    return out


def key(keys: dict[str, Path], name: str, suffix: str) -> Path:
    return keys[name].with_name(keys[name].name + suffix)


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    path = tmp_path / "firmware.bin"
    path.write_bytes(b"\x7fELF" + bytes(range(256)) * 8)
    return path


def sign(artifact: Path, keys: dict[str, Path], *names: str, out: Path | None = None) -> Path:
    out = out or artifact.with_name(artifact.name + ".intoto.jsonl")
    args: list[object] = ["attest", "sign", artifact, "--predicate-type", PREDICATE_TYPE, "-o", out]
    for name in names:
        args += ["--key", key(keys, name, ".key")]
    result = run_cli(args)
    assert result.returncode == 0, result.stderr
    return out


def verify(*args: object) -> tuple[int, dict[str, object]]:
    result = run_cli(["attest", "verify", "--format", "json", *args])
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode in (0, 1, 3), (result.returncode, result.stderr)
    return result.returncode, json.loads(result.stdout)


def statuses(report: dict[str, object], check: str) -> list[str]:
    findings = report["findings"]
    assert isinstance(findings, list)
    return [f["status"] for f in findings if f["check"] == check]


def test_keys_generate_writes_private_key_owner_only(keys: dict[str, Path]) -> None:
    private = key(keys, "alice", ".key")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in private.read_bytes()
    assert b"PUBLIC KEY" in key(keys, "alice", ".pub").read_bytes()


def test_keys_generate_refuses_to_overwrite(keys: dict[str, Path]) -> None:
    assert_clean_error(run_cli(["keys", "generate", "--out", keys["alice"]]), 2)


def test_signed_statement_verifies(artifact: Path, keys: dict[str, Path]) -> None:
    bundle = sign(artifact, keys, "alice")
    code, report = verify(artifact, "--bundle", bundle, "--key", key(keys, "alice", ".pub"))
    assert code == 0
    assert report["verdict"] == "pass"
    assert statuses(report, "attest.signature") == ["pass"]
    assert statuses(report, "attest.subject") == ["pass"]
    line = json.loads(bundle.read_text().splitlines()[0])
    statement = json.loads(base64.b64decode(line["payload"]))
    assert set(statement["subject"][0]["digest"]) == {"sha256", "sha512"}


def test_signing_output_never_contains_the_private_key(artifact: Path, keys: dict[str, Path]) -> None:
    result = run_cli(["-vv", "attest", "sign", artifact, "--predicate-type", PREDICATE_TYPE,
                      "--key", key(keys, "alice", ".key"), "--format", "json"])
    assert result.returncode == 0, result.stderr
    secret = key(keys, "alice", ".key").read_text().splitlines()[1]
    assert secret not in result.stdout + result.stderr
    bundle = artifact.with_name(artifact.name + ".intoto.jsonl")
    assert secret not in bundle.read_text()


def test_flipped_payload_byte_fails(artifact: Path, keys: dict[str, Path], tmp_path: Path) -> None:
    bundle = sign(artifact, keys, "alice")
    envelope = json.loads(bundle.read_text())
    payload = bytearray(base64.b64decode(envelope["payload"]))
    payload[payload.index(b"firmware")] ^= 0x20  # "Firmware": still valid JSON, different bytes
    envelope["payload"] = base64.b64encode(bytes(payload)).decode()
    tampered = tmp_path / "flipped-payload-byte.intoto.jsonl"
    tampered.write_text(json.dumps(envelope))
    code, report = verify(artifact, "--bundle", tampered, "--key", key(keys, "alice", ".pub"))
    assert code == 1
    assert statuses(report, "attest.signature") == ["fail"]


def test_wrong_key_fails(artifact: Path, keys: dict[str, Path]) -> None:
    bundle = sign(artifact, keys, "alice")
    code, report = verify(artifact, "--bundle", bundle, "--key", key(keys, "bob", ".pub"))
    assert code == 1
    assert statuses(report, "attest.signature") == ["fail"]


def test_threshold_met_and_not_met(artifact: Path, keys: dict[str, Path]) -> None:
    bundle = sign(artifact, keys, "alice", "bob")
    pubs = ["--key", key(keys, "alice", ".pub"), "--key", key(keys, "bob", ".pub"), "--key", key(keys, "carol", ".pub")]
    code, _ = verify(artifact, "--bundle", bundle, *pubs, "--threshold", "2")
    assert code == 0
    code, report = verify(artifact, "--bundle", bundle, *pubs, "--threshold", "3")
    assert code == 1
    assert statuses(report, "attest.signature") == ["fail"]


def test_duplicate_signature_is_not_counted_twice(artifact: Path, keys: dict[str, Path]) -> None:
    bundle = sign(artifact, keys, "alice", "alice")
    pubs = ["--key", key(keys, "alice", ".pub"), "--key", key(keys, "bob", ".pub")]
    code, report = verify(artifact, "--bundle", bundle, *pubs, "--threshold", "2")
    assert code == 1
    finding = next(f for f in report["findings"] if f["check"] == "attest.signature")  # type: ignore[union-attr]
    assert finding["evidence"]["signatures"] == 2
    assert "counts once" in finding["message"]


def test_subject_mismatch_names_the_subject(artifact: Path, keys: dict[str, Path], tmp_path: Path) -> None:
    bundle = sign(artifact, keys, "alice")
    swapped = tmp_path / "swapped"
    swapped.mkdir()
    impostor = swapped / artifact.name
    impostor.write_bytes(artifact.read_bytes() + b"\x00")
    code, report = verify(impostor, "--bundle", bundle, "--key", key(keys, "alice", ".pub"))
    assert code == 1
    finding = next(f for f in report["findings"] if f["check"] == "attest.subject")  # type: ignore[union-attr]
    assert finding["status"] == "fail"
    assert "'firmware.bin'" in finding["message"]


def test_text_output_names_what_failed(artifact: Path, keys: dict[str, Path]) -> None:
    bundle = sign(artifact, keys, "alice")
    result = run_cli(["attest", "verify", artifact, "--bundle", bundle, "--key", key(keys, "bob", ".pub")])
    assert result.returncode == 1
    assert "verdict: FAIL" in result.stdout
    assert "attest.signature" in result.stdout


def test_many_envelopes_in_one_jsonl(artifact: Path, keys: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "release.intoto.jsonl"
    for name in ("alice", "bob"):
        result = run_cli(["attest", "sign", artifact, "--predicate-type", PREDICATE_TYPE, "--append", "-o", out,
                          "--key", key(keys, name, ".key")])
        assert result.returncode == 0, result.stderr
    assert len(out.read_text().splitlines()) == 2
    code, report = verify(artifact, "--bundle", out, "--key", key(keys, "alice", ".pub"), "--key",
                          key(keys, "bob", ".pub"))
    assert code == 0
    assert statuses(report, "attest.signature") == ["pass", "pass"]


def test_no_artifact_is_an_optional_skip(artifact: Path, keys: dict[str, Path]) -> None:
    bundle = sign(artifact, keys, "alice")
    code, report = verify("--bundle", bundle, "--key", key(keys, "alice", ".pub"))
    assert code == 0
    assert statuses(report, "attest.subject") == ["skip"]
    code, _ = verify("--bundle", bundle, "--key", key(keys, "alice", ".pub"), "--strict")
    assert code == 1


# -- bad input: one line, exit 2, never a traceback ---------------------------------------------------------------

def bad_input_cases(tmp_path: Path, keys: dict[str, Path], artifact: Path) -> dict[str, list[object]]:
    good = sign(artifact, keys, "alice")
    envelope = json.loads(good.read_text())
    files = {
        "malformed-json.json": b'{"payload": ',
        "bad-base64.json": json.dumps(envelope | {"payload": "!!!not base64!!!"}).encode(),
        "unknown-payload-type.json": json.dumps(envelope | {"payloadType": "application/x-unknown"}).encode(),
        "no-signatures.json": json.dumps(envelope | {"signatures": []}).encode(),
        "truncated-bundle.sigstore.json": b'{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "verif',
        "wrong-key-format.pub": b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG4 someone@example",
        "empty.json": b"",
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    junk = tmp_path / "junk-200mb.bin"
    with junk.open("wb") as handle:
        handle.truncate(200 * 1024 * 1024)
    pub = key(keys, "alice", ".pub")
    return {
        "malformed JSON": [artifact, "--bundle", tmp_path / "malformed-json.json", "--key", pub],
        "bad base64": [artifact, "--bundle", tmp_path / "bad-base64.json", "--key", pub],
        "unknown payloadType": [artifact, "--bundle", tmp_path / "unknown-payload-type.json", "--key", pub],
        "no signatures": [artifact, "--bundle", tmp_path / "no-signatures.json", "--key", pub],
        "truncated bundle": [artifact, "--bundle", tmp_path / "truncated-bundle.sigstore.json", "--key", pub],
        "200 MB junk": [artifact, "--bundle", junk, "--key", pub],
        "missing file": [artifact, "--bundle", tmp_path / "does-not-exist.json", "--key", pub],
        "directory": [artifact, "--bundle", tmp_path, "--key", pub],
        "wrong key format": [artifact, "--bundle", good, "--key", tmp_path / "wrong-key-format.pub"],
        "missing key": [artifact, "--bundle", good, "--key", tmp_path / "nope.pub"],
        "missing artifact": [tmp_path / "nope.bin", "--bundle", good, "--key", pub],
        "empty file": [artifact, "--bundle", tmp_path / "empty.json", "--key", pub],
        "threshold above keys": [artifact, "--bundle", good, "--key", pub, "--threshold", "2"],
        "envelope without key": [artifact, "--bundle", good],
    }


@pytest.mark.parametrize(
    "case",
    ["malformed JSON", "bad base64", "unknown payloadType", "no signatures", "truncated bundle", "200 MB junk",
     "missing file", "directory", "wrong key format", "missing key", "missing artifact", "empty file",
     "threshold above keys", "envelope without key"],
)
def test_bad_input_is_one_line_and_exit_2(case: str, tmp_path: Path, keys: dict[str, Path], artifact: Path) -> None:
    args = bad_input_cases(tmp_path, keys, artifact)[case]
    assert_clean_error(run_cli(["attest", "verify", *args]), 2)


def test_sign_bad_inputs(tmp_path: Path, keys: dict[str, Path], artifact: Path) -> None:
    assert_clean_error(run_cli(["attest", "sign", artifact, "--predicate-type", "not-a-uri",
                                "--key", key(keys, "alice", ".key")]), 2)
    assert_clean_error(run_cli(["attest", "sign", artifact, "--predicate-type", PREDICATE_TYPE,
                                "--key", key(keys, "alice", ".pub")]), 2)
    bad = tmp_path / "predicate.json"
    bad.write_text("[1,")
    assert_clean_error(run_cli(["attest", "sign", artifact, "--predicate-type", PREDICATE_TYPE,
                                "--key", key(keys, "alice", ".key"), "--predicate", bad]), 2)


def test_gce_vsa_vector_verifies_with_its_key(vectors: Path) -> None:
    folder = vectors / "slsa-verifier/cli/slsa-verifier/testdata/vsa/gce/v1"
    vsa, pub = folder / "gke-gce-pre.bcid-vsa.jsonl", folder / "vsa_signing_public_key.pem"
    code, report = verify("--bundle", vsa, "--key", pub)
    assert code == 0, report
    assert statuses(report, "attest.vsa") == ["pass"]


def test_gce_vsa_vector_fails_with_another_key(vectors: Path, keys: dict[str, Path]) -> None:
    folder = vectors / "slsa-verifier/cli/slsa-verifier/testdata/vsa/gce/v1"
    code, report = verify("--bundle", folder / "gke-gce-pre.bcid-vsa.jsonl", "--key", key(keys, "bob", ".pub"))
    assert code == 1
    assert statuses(report, "attest.signature") == ["fail"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads unreadable files")
def test_unreadable_file(tmp_path: Path, keys: dict[str, Path], artifact: Path) -> None:  # pragma: no cover
    path = tmp_path / "secret.json"
    path.write_text("{}")
    path.chmod(0)
    assert_clean_error(run_cli(["attest", "verify", "--bundle", path, "--key", key(keys, "alice", ".pub")]), 2)
