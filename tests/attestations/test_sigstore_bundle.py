"""Sigstore bundles verified offline through sigstore-python, on the public vectors; each check has a failing twin."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from attestations.errors import InputError, UnsupportedError
from attestations.sigstore import (
    MAX_BUNDLE_BYTES,
    BundleVerificationError,
    IdentityPolicy,
    TrustConfigChoice,
    VerifiedBundle,
    load_trust_root,
    looks_like_sigstore_bundle,
    verify_bundle,
    verify_bundle_bytes,
)

pytestmark = pytest.mark.vectors

PROD = TrustConfigChoice.production()
STAGING = TrustConfigChoice.staging()
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
RFC8785_SAN = "https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2"
BCR_SAN = "https://github.com/bazel-contrib/publish-to-bcr/.github/workflows/publish.yaml@refs/tags/v0.0.1"


@pytest.fixture(scope="session")
def sp_assets(vectors: Path) -> Path:
    return vectors / "sigstore-python" / "test" / "assets"


@pytest.fixture(scope="session")
def conformance(vectors: Path) -> Path:
    return vectors / "sigstore-conformance" / "test" / "assets" / "bundle-verify"


@pytest.fixture(scope="session")
def bcr(vectors: Path) -> Path:
    return vectors / "slsa-verifier" / "cli" / "slsa-verifier" / "testdata" / "bcr"


def unsafe(bundle: Path, artifact: Path | None, trust: Any = PROD) -> VerifiedBundle:
    return verify_bundle(bundle, artifact=artifact, trust=trust, policy=None, unsafe_no_identity=True)


def rewrite(bundle: Path, tmp_path: Path, change: Any) -> Path:
    obj = json.loads(bundle.read_text())
    change(obj)
    out = tmp_path / "tampered.sigstore.json"
    out.write_text(json.dumps(obj))
    return out


# --- the production bundle: signature, identity and GitHub claims -------------------------------------------------


def test_production_bundle_verifies_with_identity_and_github_claims(sp_assets: Path) -> None:
    policy = IdentityPolicy(
        identity=RFC8785_SAN,
        issuer=GITHUB_ISSUER,
        github_repository="trailofbits/rfc8785.py",
        github_ref="refs/tags/v0.1.2",
        github_workflow_name="release",
        github_workflow_trigger="release",
        github_workflow_sha="d8b4a6445f38c48b9137a8099706d9b8073146e4",
    )
    fact = verify_bundle(
        sp_assets / "bundle_v3_github.whl.sigstore",
        artifact=sp_assets / "bundle_v3_github.whl",
        trust=PROD,
        policy=policy,
    )
    assert fact.kind == "message" and fact.payload is None
    assert fact.identity_checked
    assert fact.signer is not None and fact.signer.san == RFC8785_SAN and fact.signer.issuer == GITHUB_ISSUER
    assert fact.signer.extensions["github_workflow_repository"] == "trailofbits/rfc8785.py"
    assert fact.artifact_sha256 == "c4e92e9ecc828bef2aa7dba1de8ac983511f7532a0df11c770d39099a25cf201"
    assert (fact.log_entry_kind, fact.log_entry_version) == ("hashedrekord", "0.0.1")
    assert fact.integrated_time is not None and fact.integrated_time.year == 2024
    assert fact.trust_root.startswith("production") and fact.certificate_sha256
    assert json.dumps(fact.to_json())


def test_production_bundle_fails_for_a_flipped_artifact_byte(sp_assets: Path, tmp_path: Path) -> None:
    data = bytearray((sp_assets / "bundle_v3_github.whl").read_bytes())
    data[len(data) // 2] ^= 0x01
    flipped = tmp_path / "flipped.whl"
    flipped.write_bytes(bytes(data))
    with pytest.raises(BundleVerificationError) as err:
        unsafe(sp_assets / "bundle_v3_github.whl.sigstore", flipped)
    assert err.value.exit_code == 1


@pytest.mark.parametrize(
    "change",
    [
        {"identity": "https://github.com/someone/else/.github/workflows/release.yml@refs/tags/v0.1.2"},
        {"issuer": "https://accounts.google.com"},
        {"github_repository": "trailofbits/other"},
        {"github_ref": "refs/heads/main"},
        {"github_workflow_name": "nightly"},
        {"github_workflow_trigger": "push"},
        {"github_workflow_sha": "0" * 40},
    ],
    ids=lambda change: next(iter(change)),
)
def test_production_bundle_fails_a_wrong_identity_claim(sp_assets: Path, change: dict[str, str]) -> None:
    fields = {"identity": RFC8785_SAN, "issuer": GITHUB_ISSUER, **change}
    with pytest.raises(BundleVerificationError) as err:
        verify_bundle(
            sp_assets / "bundle_v3_github.whl.sigstore",
            artifact=sp_assets / "bundle_v3_github.whl",
            trust=PROD,
            policy=IdentityPolicy(**fields),
        )
    assert err.value.stage == "identity"
    assert "identity policy" in str(err.value)


def test_production_bundle_fails_against_the_staging_root(sp_assets: Path) -> None:
    with pytest.raises(BundleVerificationError):
        unsafe(sp_assets / "bundle_v3_github.whl.sigstore", sp_assets / "bundle_v3_github.whl", STAGING)


def test_production_bundle_fails_with_a_flipped_signature_byte(sp_assets: Path, tmp_path: Path) -> None:
    def flip(obj: dict[str, Any]) -> None:
        sig = bytearray(base64.b64decode(obj["messageSignature"]["signature"]))
        sig[10] ^= 0x01
        obj["messageSignature"]["signature"] = base64.b64encode(bytes(sig)).decode()

    tampered = rewrite(sp_assets / "bundle_v3_github.whl.sigstore", tmp_path, flip)
    with pytest.raises(BundleVerificationError):
        unsafe(tampered, sp_assets / "bundle_v3_github.whl")


def test_the_identity_policy_is_required_unless_explicitly_waived(sp_assets: Path) -> None:
    with pytest.raises(InputError, match="identity policy"):
        verify_bundle(
            sp_assets / "bundle_v3_github.whl.sigstore",
            artifact=sp_assets / "bundle_v3_github.whl",
            trust=PROD,
            policy=None,
        )
    with pytest.raises(InputError):
        IdentityPolicy(identity=RFC8785_SAN, issuer="")


def test_a_message_bundle_needs_its_artifact(sp_assets: Path) -> None:
    with pytest.raises(InputError, match="give the artifact"):
        unsafe(sp_assets / "bundle_v3_github.whl.sigstore", None)


# --- conformance happy paths, staging and private instances ---------------------------------------------------------


def test_conformance_message_bundle_v03(conformance: Path, vectors: Path) -> None:
    fact = unsafe(
        conformance / "happy-path-v0.3" / "bundle.sigstore.json", vectors / "sigstore-conformance/test/assets/a.txt"
    )
    assert fact.kind == "message" and fact.bundle_version == "0.3" and not fact.identity_checked


def test_conformance_dsse_bundle_returns_payload(conformance: Path) -> None:
    fact = unsafe(conformance / "happy-path-intoto-in-dsse-v3" / "bundle.sigstore.json", None)
    assert fact.kind == "dsse" and fact.payload_type == "application/vnd.in-toto+json"
    assert fact.payload is not None and json.loads(fact.payload)["_type"].startswith("https://in-toto.io/Statement/")


def test_conformance_dsse_fails_with_a_flipped_payload_byte(conformance: Path, tmp_path: Path) -> None:
    def flip(obj: dict[str, Any]) -> None:
        payload = bytearray(base64.b64decode(obj["dsseEnvelope"]["payload"]))
        payload[5] ^= 0x01
        obj["dsseEnvelope"]["payload"] = base64.b64encode(bytes(payload)).decode()

    tampered = rewrite(conformance / "happy-path-intoto-in-dsse-v3" / "bundle.sigstore.json", tmp_path, flip)
    with pytest.raises(BundleVerificationError):
        unsafe(tampered, None)


@pytest.mark.parametrize(
    ("case", "kind", "entry"),
    [
        ("bundle-with-sct-with-extensions", "message", "hashedrekord/0.0.2"),
        ("rekor2-happy-path", "message", "hashedrekord/0.0.2"),
        ("rekor2-dsse-happy-path", "dsse", "hashedrekord/0.0.2"),
    ],
)
def test_conformance_private_and_rekor2_roots(
    conformance: Path, vectors: Path, case: str, kind: str, entry: str
) -> None:
    root = TrustConfigChoice.from_file(conformance / case / "trusted_root.json")
    artifact = vectors / "sigstore-conformance/test/assets/a.txt"
    fact = unsafe(conformance / case / "bundle.sigstore.json", artifact, root)
    assert fact.kind == kind
    assert f"{fact.log_entry_kind}/{fact.log_entry_version}" == entry
    assert fact.trust_root == f"file {conformance / case / 'trusted_root.json'}"


def test_private_instance_bundle_fails_against_the_production_root(conformance: Path, vectors: Path) -> None:
    with pytest.raises(BundleVerificationError):
        unsafe(
            conformance / "bundle-with-sct-with-extensions" / "bundle.sigstore.json",
            vectors / "sigstore-conformance/test/assets/a.txt",
        )


def test_private_instance_root_given_as_a_client_trust_config(conformance: Path, vectors: Path, tmp_path: Path) -> None:
    config = json.loads((vectors / "sigstore-python/test/assets/trust_config/config.v1.json").read_text())
    config["trustedRoot"] = json.loads(
        (conformance / "bundle-with-sct-with-extensions" / "trusted_root.json").read_text()
    )
    path = tmp_path / "private.trustconfig.json"
    path.write_text(json.dumps(config))
    fact = unsafe(
        conformance / "bundle-with-sct-with-extensions" / "bundle.sigstore.json",
        vectors / "sigstore-conformance/test/assets/a.txt",
        TrustConfigChoice.from_file(path),
    )
    assert fact.kind == "message"


def test_staging_rekor_v2_bundles(sp_assets: Path) -> None:
    message = unsafe(sp_assets / "staging-rekor-v2.txt.sigstore.json", sp_assets / "staging-rekor-v2.txt", STAGING)
    assert message.kind == "message" and message.timestamp_count >= 1 and message.integrated_time is None
    dsse = unsafe(sp_assets / "a.dsse.staging-rekor-v2.txt.sigstore.json", None, STAGING)
    assert dsse.kind == "dsse" and dsse.trust_root.startswith("staging")
    with pytest.raises(BundleVerificationError):
        unsafe(sp_assets / "staging-rekor-v2.txt.sigstore.json", sp_assets / "staging-rekor-v2.txt", PROD)


# --- negative vectors -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "stage"),
    [
        ("checkpoint-wrong-roothash_fail", "log"),
        ("dsse-mismatch-sig_fail", None),
        ("wrong-material_fail", "artifact"),
        ("invalid-ct-key_fail", "certificate"),
        ("integrated-time-in-future_fail", None),
    ],
)
def test_conformance_negative_cases_fail(conformance: Path, vectors: Path, case: str, stage: str | None) -> None:
    directory = conformance / case
    root = directory / "trusted_root.json"
    artifact = (
        directory / "artifact"
        if (directory / "artifact").exists()
        else vectors / "sigstore-conformance/test/assets/a.txt"
    )
    with pytest.raises(BundleVerificationError) as err:
        unsafe(
            directory / "bundle.sigstore.json", artifact, TrustConfigChoice.from_file(root) if root.exists() else PROD
        )
    assert err.value.exit_code == 1
    if stage is not None:
        assert err.value.stage == stage, err.value


def test_cve_2022_36056_bundle_fails(sp_assets: Path) -> None:
    with pytest.raises(BundleVerificationError):
        unsafe(sp_assets / "bundle_cve_2022_36056.txt.sigstore", sp_assets / "bundle_cve_2022_36056.txt")


# --- slsa-verifier bcr: DSSE SLSA v1 provenance, right and wrong signer -------------------------------------------


def bcr_policy() -> IdentityPolicy:
    return IdentityPolicy(
        identity=BCR_SAN,
        issuer=GITHUB_ISSUER,
        github_repository="aspect-build/rules_lint",
        github_ref="refs/heads/publish-to-bcr",
    )


def test_bcr_provenance_bundle_verifies_with_policy(bcr: Path) -> None:
    line = (bcr / "MODULE.bazel.intoto.jsonl").read_bytes().strip()
    assert looks_like_sigstore_bundle(json.loads(line))
    fact = verify_bundle_bytes(
        line, source="MODULE.bazel.intoto.jsonl:1", artifact=None, trust=PROD, policy=bcr_policy()
    )
    assert fact.kind == "dsse" and fact.log_entry_kind == "dsse" and fact.identity_checked
    assert fact.payload is not None
    statement = json.loads(fact.payload)
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    assert (
        statement["subject"][0]["digest"]["sha256"]
        == "06ce330900a7d6403bc8d88e5dfad6aeeb8ae40179f66bb89e69c8bf6f6b1a0b"
    )


def test_bcr_wrong_signer_fails_the_identity_policy(bcr: Path) -> None:
    with pytest.raises(BundleVerificationError) as err:
        verify_bundle(bcr / "MODULE-wrong-signer.bazel.intoto.jsonl", artifact=None, trust=PROD, policy=bcr_policy())
    assert err.value.stage == "identity"
    # Its signature and log entry are genuine: only the signer is wrong.
    fact = unsafe(bcr / "MODULE-wrong-signer.bazel.intoto.jsonl", None)
    assert fact.signer is not None and "loosebazooka/aa-test" in fact.signer.san


# --- what sigstore-python cannot verify is said, never passed -------------------------------------------------------


def test_key_signed_bundle_without_a_key_is_unsupported(conformance: Path, vectors: Path) -> None:
    with pytest.raises(UnsupportedError, match="public key, not a Fulcio certificate"):
        unsafe(
            conformance / "managed-key-happy-path" / "bundle.sigstore.json",
            vectors / "sigstore-conformance/test/assets/a.txt",
        )


def test_rekor_intoto_entries_are_unsupported(conformance: Path, vectors: Path) -> None:
    directory = conformance / "intoto-with-custom-trust-root"
    with pytest.raises(UnsupportedError, match="'intoto'"):
        unsafe(
            directory / "bundle.sigstore.json",
            directory / "artifact",
            TrustConfigChoice.from_file(directory / "trusted_root.json"),
        )
    gradle = (
        vectors
        / "slsa-verifier/cli/slsa-verifier/testdata/gha_gradle/v2.1.0/binary-linux-amd64-workflow_dispatch.build.slsa"
    )
    with pytest.raises(UnsupportedError, match="slsa-github-generator"):
        unsafe(gradle, None)


def test_npm_attestation_bundles_are_unsupported(vectors: Path) -> None:
    npm = json.loads(
        (
            vectors / "slsa-verifier/cli/slsa-verifier/testdata/npm/gha/provenance-npm-test-cli-v1-prega.tgz.json"
        ).read_text()
    )
    for attestation in npm["attestations"]:
        raw = json.dumps(attestation["bundle"]).encode()
        with pytest.raises(UnsupportedError):
            verify_bundle_bytes(raw, source="npm", artifact=None, trust=PROD, policy=None, unsafe_no_identity=True)


def test_tsa_validity_end_inclusive_is_reported_as_a_sigstore_python_limitation(
    conformance: Path, vectors: Path
) -> None:
    directory = conformance / "trust-root-tsa-validity-end-inclusive"
    with pytest.raises(UnsupportedError, match="exclusive"):
        unsafe(
            directory / "bundle.sigstore.json",
            vectors / "sigstore-conformance/test/assets/a.txt",
            TrustConfigChoice.from_file(directory / "trusted_root.json"),
        )


def test_an_unknown_bundle_version_is_unsupported(conformance: Path, tmp_path: Path) -> None:
    def bump(obj: dict[str, Any]) -> None:
        obj["mediaType"] = "application/vnd.dev.sigstore.bundle.v0.9+json"

    with pytest.raises(UnsupportedError, match=r"v0\.9"):
        unsafe(rewrite(conformance / "happy-path-intoto-in-dsse-v3" / "bundle.sigstore.json", tmp_path, bump), None)


# --- offline: no socket is ever opened -------------------------------------------------------------------------------


def test_verification_opens_no_socket(
    sp_assets: Path, conformance: Path, vectors: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError("network is forbidden in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: refuse(None, a))  # type: ignore[arg-type]
    unsafe(sp_assets / "bundle_v3_github.whl.sigstore", sp_assets / "bundle_v3_github.whl")
    unsafe(sp_assets / "a.dsse.staging-rekor-v2.txt.sigstore.json", None, STAGING)
    case = conformance / "rekor2-happy-path"
    unsafe(
        case / "bundle.sigstore.json",
        vectors / "sigstore-conformance/test/assets/a.txt",
        TrustConfigChoice.from_file(case / "trusted_root.json"),
    )
    assert attempts == []


def test_importing_the_module_does_not_import_sigstore() -> None:
    code = (
        "import sys, attestations.sigstore; sys.exit('sigstore' in sys.modules or 'cryptography' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_a_loaded_root_is_reusable(sp_assets: Path, bcr: Path) -> None:
    pinned = load_trust_root(PROD)
    unsafe(sp_assets / "bundle_v3_github.whl.sigstore", sp_assets / "bundle_v3_github.whl", pinned)
    verify_bundle(bcr / "MODULE.bazel.intoto.jsonl", artifact=None, trust=pinned, policy=bcr_policy())


# --- bad input ------------------------------------------------------------------------------------------------------


def test_bad_inputs_are_input_errors(sp_assets: Path, tmp_path: Path) -> None:
    good = (sp_assets / "bundle_v3_github.whl.sigstore").read_bytes()
    artifact = sp_assets / "bundle_v3_github.whl"
    truncated = tmp_path / "truncated.sigstore"
    truncated.write_bytes(good[: len(good) // 2])
    malformed = tmp_path / "malformed.json"
    malformed.write_text("{not json")
    not_a_bundle = tmp_path / "envelope.json"
    not_a_bundle.write_text(json.dumps({"payload": "", "payloadType": "x", "signatures": []}))
    junk = tmp_path / "junk-200mb.sigstore"
    with junk.open("wb") as handle:
        handle.truncate(200 * 1024 * 1024)
    binary = tmp_path / "binary.sigstore"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    no_entries = tmp_path / "no-entries.sigstore"
    obj = json.loads(good)
    obj["verificationMaterial"]["tlogEntries"] = []
    no_entries.write_text(json.dumps(obj))
    for path, words in [
        (tmp_path / "missing.sigstore", "does not exist"),
        (tmp_path, "directory"),
        (truncated, "not valid JSON"),
        (malformed, "not valid JSON"),
        (not_a_bundle, "not a Sigstore bundle"),
        (junk, "limit"),
        (binary, "not valid JSON"),
        (no_entries, "exactly one"),
    ]:
        with pytest.raises(InputError, match=words):
            unsafe(path, artifact)
    with pytest.raises(InputError, match="limit"):
        verify_bundle_bytes(
            b" " * (MAX_BUNDLE_BYTES + 1), source="big", artifact=None, trust=PROD, policy=None, unsafe_no_identity=True
        )
    with pytest.raises(InputError, match="directory"):
        unsafe(sp_assets / "bundle_v3_github.whl.sigstore", tmp_path)


def test_bad_trust_roots_are_input_errors(sp_assets: Path, tmp_path: Path) -> None:
    bundle, artifact = sp_assets / "bundle_v3_github.whl.sigstore", sp_assets / "bundle_v3_github.whl"
    garbage = tmp_path / "root.json"
    garbage.write_text('{"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1", "tlogs": 5}')
    for path in (tmp_path / "absent.json", garbage, bundle):
        with pytest.raises(InputError, match="trusted root"):
            unsafe(bundle, artifact, TrustConfigChoice.from_file(path))


def test_looks_like_sigstore_bundle() -> None:
    assert looks_like_sigstore_bundle(
        {"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "verificationMaterial": {}}
    )
    assert not looks_like_sigstore_bundle(
        {"payloadType": "application/vnd.in-toto+json", "payload": "", "signatures": []}
    )
    assert not looks_like_sigstore_bundle(["not", "a", "dict"])
    assert not looks_like_sigstore_bundle({"mediaType": "application/json", "verificationMaterial": {}})


# --- key-signed ("managed key") bundles, verified without sigstore-python ------------------------------------------
#
# The conformance vector is a real production bundle; its failing twins alter one field each. A private log made here
# (a real ECDSA log key, a real Merkle tree, signed checkpoint and SET) covers DSSE, other key types and proof shapes.

MANAGED = "managed-key-happy-path"


@pytest.fixture(scope="session")
def managed(conformance: Path) -> Path:
    return conformance / MANAGED / "bundle.sigstore.json"


@pytest.fixture(scope="session")
def managed_keys(conformance: Path) -> list[Any]:
    from attestations.keys import load_public_keys

    return load_public_keys(conformance / MANAGED / "key.pub")


def key_signed(bundle: Path, artifact: Path | None, keys: Any, trust: Any = PROD, policy: Any = None) -> VerifiedBundle:
    return verify_bundle(
        bundle, artifact=artifact, trust=trust, policy=policy, unsafe_no_identity=policy is None, public_keys=keys
    )


def test_managed_key_bundle_verifies_with_its_key(managed: Path, managed_keys: list[Any], vectors: Path) -> None:
    fact = key_signed(managed, vectors / "sigstore-conformance/test/assets/a.txt", managed_keys)
    assert fact.kind == "message" and fact.signer is None and fact.certificate_sha256 is None
    assert fact.public_key_id == managed_keys[0].keyid and fact.identity_checked
    bare = key_signed(managed, vectors / "sigstore-conformance/test/assets/a.txt", [managed_keys[0].key])
    assert bare.public_key_id == fact.public_key_id
    assert fact.verified_by == "provcheck key-signed bundle verifier"
    assert fact.integrated_time is not None and fact.integrated_time.year == 2025
    assert (fact.log_entry_kind, fact.log_index) == ("hashedrekord", 771488337)


def test_managed_key_bundle_fails_with_a_wrong_key(managed: Path, vectors: Path) -> None:
    from attestations.keys import generate_private_key

    other = generate_private_key("ecdsa-p256").public
    with pytest.raises(BundleVerificationError) as err:
        key_signed(managed, vectors / "sigstore-conformance/test/assets/a.txt", [other])
    assert err.value.stage == "key"


def test_managed_key_bundle_fails_for_another_artifact(managed: Path, managed_keys: list[Any], tmp_path: Path) -> None:
    other = tmp_path / "a.txt"
    other.write_bytes(b"not the signed artifact\n")
    with pytest.raises(BundleVerificationError) as err:
        key_signed(managed, other, managed_keys)
    assert err.value.stage == "artifact"

    def drop_digest(obj: dict[str, Any]) -> None:
        del obj["messageSignature"]["messageDigest"]

    with pytest.raises(BundleVerificationError) as err:
        key_signed(rewrite(managed, tmp_path, drop_digest), other, managed_keys)
    assert err.value.stage == "key"


def test_managed_key_bundle_is_pinned_by_its_key_not_a_policy(
    managed: Path, managed_keys: list[Any], vectors: Path
) -> None:
    fact = key_signed(
        managed,
        vectors / "sigstore-conformance/test/assets/a.txt",
        managed_keys,
        policy=IdentityPolicy(identity=RFC8785_SAN, issuer=GITHUB_ISSUER),
    )
    assert fact.identity_checked and fact.signer is None and fact.public_key_id == managed_keys[0].keyid


def flip_b64(value: str, at: int = 10) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[at % len(raw)] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def entry_of(obj: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = obj["verificationMaterial"]["tlogEntries"][0]
    return entry


def _body_with_other_digest(obj: dict[str, Any]) -> None:
    body = json.loads(base64.b64decode(entry_of(obj)["canonicalizedBody"]))
    body["spec"]["data"]["hash"]["value"] = "0" * 64
    entry_of(obj)["canonicalizedBody"] = base64.b64encode(json.dumps(body).encode()).decode()


def _checkpoint_signature_flipped(obj: dict[str, Any]) -> None:
    proof = entry_of(obj)["inclusionProof"]
    text, sigs = proof["checkpoint"]["envelope"].split("\n\n")
    dash, name, sig = sigs.strip().split(" ")
    proof["checkpoint"]["envelope"] = f"{text}\n\n{dash} {name} {flip_b64(sig, 20)}\n"


def _checkpoint_for_another_size(obj: dict[str, Any]) -> None:
    proof = entry_of(obj)["inclusionProof"]
    lines = proof["checkpoint"]["envelope"].split("\n")
    lines[1] = str(int(lines[1]) + 1)
    proof["checkpoint"]["envelope"] = "\n".join(lines)


@pytest.mark.parametrize(
    ("tamper", "words"),
    [
        (lambda o: o["messageSignature"].update(signature=flip_b64(o["messageSignature"]["signature"])), "any of"),
        (_body_with_other_digest, "another artifact digest"),
        (
            lambda o: entry_of(o)["inclusionProof"]["hashes"].__setitem__(
                3, flip_b64(entry_of(o)["inclusionProof"]["hashes"][3])
            ),
            "inclusion proof",
        ),
        (
            lambda o: entry_of(o)["inclusionProof"].update(
                rootHash=flip_b64(entry_of(o)["inclusionProof"]["rootHash"])
            ),
            "inclusion proof",
        ),
        (
            lambda o: entry_of(o)["inclusionProof"].update(
                treeSize=str(int(entry_of(o)["inclusionProof"]["treeSize"]) * 2)
            ),
            "inclusion proof",
        ),
        (
            lambda o: entry_of(o)["inclusionProof"].update(
                logIndex=str(int(entry_of(o)["inclusionProof"]["logIndex"]) - 1)
            ),
            "inclusion proof",
        ),
        (_checkpoint_signature_flipped, "checkpoint"),
        (_checkpoint_for_another_size, "checkpoint"),
        (
            lambda o: entry_of(o)["inclusionPromise"].update(
                signedEntryTimestamp=flip_b64(entry_of(o)["inclusionPromise"]["signedEntryTimestamp"], 30)
            ),
            "SET",
        ),
        (lambda o: entry_of(o).update(integratedTime=str(int(entry_of(o)["integratedTime"]) + 1)), "SET"),
        (lambda o: entry_of(o).update(logIndex=str(int(entry_of(o)["logIndex"]) + 1)), "SET"),
    ],
    ids=[
        "signature-byte",
        "log-body-digest",
        "proof-hash",
        "root-hash",
        "tree-size",
        "proof-index",
        "checkpoint-signature",
        "checkpoint-size",
        "set-byte",
        "integrated-time",
        "log-index",
    ],
)
def test_managed_key_bundle_tampering_fails(
    managed: Path, managed_keys: list[Any], vectors: Path, tmp_path: Path, tamper: Any, words: str
) -> None:
    with pytest.raises(BundleVerificationError) as err:
        key_signed(rewrite(managed, tmp_path, tamper), vectors / "sigstore-conformance/test/assets/a.txt", managed_keys)
    assert words in str(err.value)
    assert err.value.exit_code == 1


def test_managed_key_bundle_fails_against_another_log(managed: Path, managed_keys: list[Any], vectors: Path) -> None:
    with pytest.raises(BundleVerificationError, match="does not list"):
        key_signed(managed, vectors / "sigstore-conformance/test/assets/a.txt", managed_keys, STAGING)


def test_managed_key_bundle_without_a_set_is_unsupported(
    managed: Path, managed_keys: list[Any], vectors: Path, tmp_path: Path
) -> None:
    def drop_set(obj: dict[str, Any]) -> None:
        del entry_of(obj)["inclusionPromise"]

    with pytest.raises(UnsupportedError, match="signed entry timestamp"):
        key_signed(
            rewrite(managed, tmp_path, drop_set), vectors / "sigstore-conformance/test/assets/a.txt", managed_keys
        )


# --- a private log made here: RFC 9162 proofs of every shape, DSSE and other key types -------------------------------


def _leaf(data: bytes) -> bytes:
    import hashlib

    return hashlib.sha256(b"\x00" + data).digest()


def _tree_hash(leaves: list[bytes]) -> bytes:
    """MTH from RFC 9162 section 2.1.1, written from its recursive definition."""
    import hashlib

    if len(leaves) == 1:
        return _leaf(leaves[0])
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + _tree_hash(leaves[:k]) + _tree_hash(leaves[k:])).digest()


def _audit_path(m: int, leaves: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) from RFC 9162 section 2.1.3.1."""
    if len(leaves) == 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if m < k:
        return [*_audit_path(m, leaves[:k]), _tree_hash(leaves[k:])]
    return [*_audit_path(m - k, leaves[k:]), _tree_hash(leaves[:k])]


def test_inclusion_proofs_of_every_shape_verify_and_a_wrong_index_fails() -> None:
    from attestations.sigstore.transparency.merkle import merkle_root_from_proof as _merkle_root_from_proof

    for size in range(1, 18):
        leaves = [b"entry %d" % i for i in range(size)]
        root = _tree_hash(leaves)
        for index in range(size):
            path = _audit_path(index, leaves)
            assert _merkle_root_from_proof(leaves[index], index, size, path) == root
            if size > 1:
                wrong = (index + 1) % size
                with contextlib.suppress(BundleVerificationError):
                    assert _merkle_root_from_proof(leaves[index], wrong, size, path) != root
        with pytest.raises(BundleVerificationError):
            _merkle_root_from_proof(leaves[0], size, size, _audit_path(0, leaves))


@dataclass(frozen=True)
class PrivateLog:
    """A transparency log run by the test: its key, its trusted root file, and a way to log an entry."""

    key: Any
    log_id: bytes
    root_file: Path

    def entry(
        self, body: dict[str, Any], *, index: int = 5, size: int = 11, integrated: int = 1_700_000_000
    ) -> dict[str, Any]:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        leaves = [b"other entry %d" % i for i in range(size)]
        leaves[index] = canonical
        root = _tree_hash(leaves)
        note = f"rekor.test - 42\n{size}\n{base64.b64encode(root).decode()}\n"
        note_sig = self.key.sign(note.encode(), ec.ECDSA(hashes.SHA256()))
        checkpoint = f"{note}\n\u2014 rekor.test {base64.b64encode(self.log_id[:4] + note_sig).decode()}\n"
        log_index = 1000 + index
        set_payload = json.dumps(
            {
                "body": base64.b64encode(canonical).decode(),
                "integratedTime": integrated,
                "logID": self.log_id.hex(),
                "logIndex": log_index,
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode()
        return {
            "logIndex": str(log_index),
            "logId": {"keyId": base64.b64encode(self.log_id).decode()},
            "kindVersion": {"kind": body["kind"], "version": body["apiVersion"]},
            "integratedTime": str(integrated),
            "inclusionPromise": {
                "signedEntryTimestamp": base64.b64encode(self.key.sign(set_payload, ec.ECDSA(hashes.SHA256()))).decode()
            },
            "inclusionProof": {
                "logIndex": str(index),
                "rootHash": base64.b64encode(root).decode(),
                "treeSize": str(size),
                "hashes": [base64.b64encode(h).decode() for h in _audit_path(index, leaves)],
                "checkpoint": {"envelope": checkpoint},
            },
            "canonicalizedBody": base64.b64encode(canonical).decode(),
        }


@pytest.fixture
def private_log(tmp_path: Path) -> PrivateLog:
    import hashlib

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    log_id = hashlib.sha256(spki).digest()
    root = {
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [
            {
                "baseUrl": "https://rekor.test",
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": base64.b64encode(spki).decode(),
                    "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                    "validFor": {"start": "2020-01-01T00:00:00Z"},
                },
                "logId": {"keyId": base64.b64encode(log_id).decode()},
            }
        ],
        "certificateAuthorities": [],
        "ctlogs": [],
        "timestampAuthorities": [],
    }
    path = tmp_path / "private-log.trusted_root.json"
    path.write_text(json.dumps(root))
    return PrivateLog(key, log_id, path)


def _pem(public: Any) -> bytes:
    from attestations.keys import public_pem

    return public_pem(public)


def dsse_bundle(log: PrivateLog, signer: Any, payload: bytes, **entry_args: Any) -> dict[str, Any]:
    import hashlib

    payload_type = "application/vnd.in-toto+json"
    pae = b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type.encode(), len(payload), payload)
    sig = signer.sign(pae)
    body = {
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "envelopeHash": {"algorithm": "sha256", "value": "0" * 64},
            "payloadHash": {"algorithm": "sha256", "value": hashlib.sha256(payload).hexdigest()},
            "signatures": [
                {
                    "signature": base64.b64encode(sig).decode(),
                    "verifier": base64.b64encode(_pem(signer.public)).decode(),
                }
            ],
        },
    }
    return {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {
            "publicKey": {"hint": signer.public.keyid},
            "tlogEntries": [log.entry(body, **entry_args)],
        },
        "dsseEnvelope": {
            "payload": base64.b64encode(payload).decode(),
            "payloadType": payload_type,
            "signatures": [{"sig": base64.b64encode(sig).decode(), "keyid": ""}],
        },
    }


def message_bundle(log: PrivateLog, signer: Any, artifact: bytes) -> dict[str, Any]:
    import hashlib

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    digest = hashlib.sha256(artifact).digest()
    key = signer.private_key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        sig = key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    else:
        sig = key.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    body = {
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "data": {"hash": {"algorithm": "sha256", "value": digest.hex()}},
            "signature": {
                "content": base64.b64encode(sig).decode(),
                "publicKey": {"content": base64.b64encode(_pem(signer.public)).decode()},
            },
        },
    }
    return {
        "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
        "verificationMaterial": {"publicKey": {"hint": ""}, "tlogEntries": [log.entry(body)]},
        "messageSignature": {
            "messageDigest": {"algorithm": "SHA2_256", "digest": base64.b64encode(digest).decode()},
            "signature": base64.b64encode(sig).decode(),
        },
    }


def verify_private(
    log: PrivateLog, bundle: dict[str, Any], keys: list[Any], artifact: Path | None = None
) -> VerifiedBundle:
    return verify_bundle_bytes(
        json.dumps(bundle).encode(),
        source="private",
        artifact=artifact,
        trust=TrustConfigChoice.from_file(log.root_file),
        policy=None,
        public_keys=keys,
    )


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa-p256", "ecdsa-p384", "rsa"])
def test_key_signed_dsse_bundle_on_a_private_log(private_log: PrivateLog, kind: str) -> None:
    from attestations.keys import generate_private_key

    signer = generate_private_key(kind)
    statement = b'{"_type":"https://in-toto.io/Statement/v1","subject":[],"predicateType":"x","predicate":{}}'
    fact = verify_private(private_log, dsse_bundle(private_log, signer, statement), [signer.public])
    assert fact.kind == "dsse" and fact.payload == statement and fact.public_key_id == signer.public.keyid
    assert fact.trust_root == f"file {private_log.root_file}"


@pytest.mark.parametrize(("index", "size"), [(0, 1), (0, 2), (6, 7), (12, 13), (63, 64)])
def test_key_signed_bundle_proof_positions(private_log: PrivateLog, index: int, size: int) -> None:
    from attestations.keys import generate_private_key

    signer = generate_private_key("ed25519")
    verify_private(private_log, dsse_bundle(private_log, signer, b"{}", index=index, size=size), [signer.public])


def test_key_signed_dsse_bundle_twins(private_log: PrivateLog) -> None:
    from attestations.keys import generate_private_key

    signer = generate_private_key("ecdsa-p256")
    good = dsse_bundle(private_log, signer, b'{"a":1}')
    verify_private(private_log, good, [signer.public])

    flipped = json.loads(json.dumps(good))
    flipped["dsseEnvelope"]["payload"] = base64.b64encode(b'{"a":2}').decode()
    with pytest.raises(BundleVerificationError) as err:
        verify_private(private_log, flipped, [signer.public])
    assert err.value.stage == "key"

    with pytest.raises(BundleVerificationError) as err:
        verify_private(private_log, good, [generate_private_key("ecdsa-p256").public])
    assert err.value.stage == "key"

    # A validly signed envelope whose log entry records another envelope: the log proves nothing about this one.
    other = dsse_bundle(private_log, signer, b'{"a":3}')
    spliced = json.loads(json.dumps(good))
    spliced["verificationMaterial"] = other["verificationMaterial"]
    with pytest.raises(BundleVerificationError, match="payload digest") as err:
        verify_private(private_log, spliced, [signer.public])
    assert err.value.stage == "log"

    # The same envelope logged by a log the trusted root does not list.
    from cryptography.hazmat.primitives.asymmetric import ec

    rogue = PrivateLog(ec.generate_private_key(ec.SECP256R1()), private_log.log_id, private_log.root_file)
    with pytest.raises(BundleVerificationError, match="checkpoint"):
        verify_private(private_log, dsse_bundle(rogue, signer, b'{"a":1}'), [signer.public])

    future = dsse_bundle(private_log, signer, b"{}", integrated=4_000_000_000)
    with pytest.raises(BundleVerificationError, match="future"):
        verify_private(private_log, future, [signer.public])
    before = dsse_bundle(private_log, signer, b"{}", integrated=1_000_000_000)
    with pytest.raises(BundleVerificationError, match="validity"):
        verify_private(private_log, before, [signer.public])


@pytest.mark.parametrize("kind", ["ecdsa-p256", "rsa"])
def test_key_signed_message_bundle_on_a_private_log(private_log: PrivateLog, tmp_path: Path, kind: str) -> None:
    from attestations.keys import generate_private_key

    signer = generate_private_key(kind)
    artifact = tmp_path / "firmware.bin"
    artifact.write_bytes(b"\x7fELF firmware image")
    bundle = message_bundle(private_log, signer, artifact.read_bytes())
    fact = verify_private(private_log, bundle, [signer.public], artifact)
    assert fact.kind == "message" and fact.public_key_id == signer.public.keyid

    # The log entry records a different key than the one given (both the bundle and the entry are otherwise valid).
    impostor = generate_private_key(kind)
    other_key = message_bundle(private_log, impostor, artifact.read_bytes())
    other_key["messageSignature"] = bundle["messageSignature"]
    with pytest.raises(BundleVerificationError, match=r"another (signature|key)"):
        verify_private(private_log, other_key, [signer.public], artifact)


def test_key_signed_message_bundle_with_only_ed25519_keys_is_unsupported(
    private_log: PrivateLog, tmp_path: Path
) -> None:
    from attestations.keys import generate_private_key

    artifact = tmp_path / "firmware.bin"
    artifact.write_bytes(b"image")
    bundle = message_bundle(private_log, generate_private_key("ecdsa-p256"), artifact.read_bytes())
    with pytest.raises(UnsupportedError, match="Ed25519"):
        verify_private(private_log, bundle, [generate_private_key("ed25519").public], artifact)


def test_hostile_fields_are_input_errors(
    sp_assets: Path, managed: Path, managed_keys: list[Any], tmp_path: Path, vectors: Path
) -> None:
    def corrupt_timestamp(obj: dict[str, Any]) -> None:
        obj["verificationMaterial"]["timestampVerificationData"]["rfc3161Timestamps"][0]["signedTimestamp"] = "AAAA"

    with pytest.raises(InputError):
        unsafe(
            rewrite(sp_assets / "a.dsse.staging-rekor-v2.txt.sigstore.json", tmp_path, corrupt_timestamp), None, STAGING
        )

    def far_future(obj: dict[str, Any]) -> None:
        entry_of(obj)["integratedTime"] = str(10**30)

    with pytest.raises(InputError, match="out of range"):
        key_signed(
            rewrite(managed, tmp_path, far_future), vectors / "sigstore-conformance/test/assets/a.txt", managed_keys
        )
    with pytest.raises(InputError):
        unsafe(
            rewrite(sp_assets / "bundle_v3_github.whl.sigstore", tmp_path, far_future),
            sp_assets / "bundle_v3_github.whl",
        )
