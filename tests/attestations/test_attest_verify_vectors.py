"""``provcheck attest verify`` on the public vectors, end to end through the CLI (Sigstore bundles and layouts).

The modules' own tests cover each vector in depth; these check what the operator sees: the exit code and the check
that decided it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.attestations.test_layout import Demo, in_toto_vectors, make_demo, replace_product  # noqa: F401
from tests.helpers import assert_clean_error, run_cli

pytestmark = pytest.mark.vectors

GITHUB = "https://token.actions.githubusercontent.com"
RFC8785_SAN = "https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2"
BCR_SAN = "https://github.com/bazel-contrib/publish-to-bcr/.github/workflows/publish.yaml@refs/tags/v0.0.1"
BCR_BUILDER = "https://github.com/bazel-contrib/publish-to-bcr/.github/workflows/publish.yaml"


def verify(*args: object) -> tuple[int, dict[str, object]]:
    result = run_cli(["attest", "verify", "--format", "json", *args])
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)


def checks(report: dict[str, object], status: str) -> set[str]:
    findings = report["findings"]
    assert isinstance(findings, list)
    return {f["check"] for f in findings if f["status"] == status}


def test_production_bundle_with_identity(vectors: Path) -> None:
    assets = vectors / "sigstore-python/test/assets"
    code, report = verify(
        assets / "bundle_v3_github.whl",
        "--bundle",
        assets / "bundle_v3_github.whl.sigstore",
        "--identity",
        RFC8785_SAN,
        "--issuer",
        GITHUB,
        "--github-repository",
        "trailofbits/rfc8785.py",
    )
    assert code == 0, report
    assert {"attest.sigstore", "attest.subject"} <= checks(report, "pass")


def test_production_bundle_with_another_identity_fails(vectors: Path) -> None:
    assets = vectors / "sigstore-python/test/assets"
    code, report = verify(
        assets / "bundle_v3_github.whl",
        "--bundle",
        assets / "bundle_v3_github.whl.sigstore",
        "--identity",
        RFC8785_SAN.replace("v0.1.2", "v9.9.9"),
        "--issuer",
        GITHUB,
    )
    assert code == 1
    assert "attest.sigstore.identity" in checks(report, "fail")


def test_bundle_without_identity_policy_is_a_usage_error(vectors: Path) -> None:
    assets = vectors / "sigstore-python/test/assets"
    result = run_cli(
        ["attest", "verify", assets / "bundle_v3_github.whl", "--bundle", assets / "bundle_v3_github.whl.sigstore"]
    )
    assert_clean_error(result, 2)
    assert "--identity" in result.stderr


def test_insecure_skip_identity_is_a_warning(vectors: Path) -> None:
    assets = vectors / "sigstore-python/test/assets"
    code, report = verify(
        assets / "bundle_v3_github.whl",
        "--bundle",
        assets / "bundle_v3_github.whl.sigstore",
        "--insecure-skip-identity",
    )
    assert code == 0
    assert "attest.sigstore.identity" in checks(report, "warn")
    code, _ = verify(
        assets / "bundle_v3_github.whl",
        "--bundle",
        assets / "bundle_v3_github.whl.sigstore",
        "--insecure-skip-identity",
        "--strict",
    )
    assert code == 1


def test_bcr_slsa_provenance_with_builder_and_source(vectors: Path) -> None:
    bcr = vectors / "slsa-verifier/cli/slsa-verifier/testdata/bcr"
    code, report = verify(
        bcr / "MODULE.bazel",
        "--bundle",
        bcr / "MODULE.bazel.intoto.jsonl",
        "--identity",
        BCR_SAN,
        "--issuer",
        GITHUB,
        "--builder-id",
        BCR_BUILDER,
        "--source-uri",
        "github.com/aspect-build/rules_lint@refs/heads/publish-to-bcr",
    )
    assert code == 0, report
    assert {"attest.sigstore", "attest.subject", "attest.builder-id", "attest.source"} <= checks(report, "pass")


def test_a_threshold_of_two_is_not_met_by_a_sigstore_bundle_with_one_signature(vectors: Path) -> None:
    """attest verify once ignored --threshold for Sigstore bundles; intake never did. Both now share one judge."""
    bcr = vectors / "slsa-verifier/cli/slsa-verifier/testdata/bcr"
    args = [bcr / "MODULE.bazel", "--bundle", bcr / "MODULE.bazel.intoto.jsonl", "--identity", BCR_SAN]
    code, report = verify(*args, "--issuer", GITHUB, "--threshold", "1")
    assert code == 0, report
    code, report = verify(*args, "--issuer", GITHUB, "--threshold", "2")
    assert code == 1, report
    assert "attest.signature" in checks(report, "fail")
    assert "attest.vouch" not in checks(report, "pass")


def test_bcr_wrong_signer_fails_the_identity_policy(vectors: Path) -> None:
    bcr = vectors / "slsa-verifier/cli/slsa-verifier/testdata/bcr"
    code, report = verify(
        bcr / "MODULE-wrong-signer.bazel",
        "--bundle",
        bcr / "MODULE-wrong-signer.bazel.intoto.jsonl",
        "--identity",
        BCR_SAN,
        "--issuer",
        GITHUB,
        "--builder-id",
        BCR_BUILDER,
    )
    assert code == 1
    assert "attest.sigstore.identity" in checks(report, "fail")


def test_private_instance_trusted_root(vectors: Path) -> None:
    case = vectors / "sigstore-conformance/test/assets/bundle-verify/bundle-with-sct-with-extensions"
    code, report = verify(
        vectors / "sigstore-conformance/test/assets/a.txt",
        "--bundle",
        case / "bundle.sigstore.json",
        "--trusted-root",
        case / "trusted_root.json",
        "--insecure-skip-identity",
    )
    assert code == 0, report
    code, _ = verify(
        vectors / "sigstore-conformance/test/assets/a.txt",
        "--bundle",
        case / "bundle.sigstore.json",
        "--insecure-skip-identity",
    )
    assert code == 1


@pytest.mark.parametrize("case", ["checkpoint-wrong-roothash_fail", "dsse-mismatch-sig_fail", "wrong-material_fail"])
def test_conformance_negative_cases_fail(vectors: Path, case: str) -> None:
    folder = vectors / "sigstore-conformance/test/assets/bundle-verify" / case
    artifact = (
        folder / "artifact" if (folder / "artifact").exists() else vectors / "sigstore-conformance/test/assets/a.txt"
    )
    code, report = verify(artifact, "--bundle", folder / "bundle.sigstore.json", "--insecure-skip-identity")
    assert code == 1, report


def test_rekor_intoto_entry_is_inconclusive_not_a_pass_or_fail(vectors: Path) -> None:
    case = vectors / "sigstore-conformance/test/assets/bundle-verify/intoto-with-custom-trust-root"
    code, report = verify(
        case / "artifact",
        "--bundle",
        case / "bundle.sigstore.json",
        "--trusted-root",
        case / "trusted_root.json",
        "--insecure-skip-identity",
    )
    assert code == 3, report
    assert "attest.sigstore" in checks(report, "error")


def test_key_signed_bundle_with_its_key(vectors: Path, tmp_path: Path) -> None:
    case = vectors / "sigstore-conformance/test/assets/bundle-verify/managed-key-happy-path"
    artifact = vectors / "sigstore-conformance/test/assets/a.txt"
    code, report = verify(artifact, "--bundle", case / "bundle.sigstore.json", "--key", case / "key.pub")
    assert code == 0, report
    assert run_cli(["keys", "generate", "--out", tmp_path / "other", "--type", "ecdsa-p256"]).returncode == 0
    code, report = verify(artifact, "--bundle", case / "bundle.sigstore.json", "--key", tmp_path / "other.pub")
    assert code == 1


def test_key_signed_bundle_without_key_is_inconclusive(vectors: Path) -> None:
    case = vectors / "sigstore-conformance/test/assets/bundle-verify/managed-key-happy-path"
    code, report = verify(
        vectors / "sigstore-conformance/test/assets/a.txt",
        "--bundle",
        case / "bundle.sigstore.json",
        "--insecure-skip-identity",
    )
    assert code == 3
    findings = report["findings"]
    assert isinstance(findings, list)
    assert any("public key" in f["message"] for f in findings if f["check"] == "attest.sigstore")


# --- in-toto layouts through the CLI ---------------------------------------------------------------------------------


def layout_args(demo: Demo) -> list[object]:
    return ["--layout", demo.layout, "--layout-key", demo.alice_pub, "--link-dir", demo.links]


def test_layout_verifies_with_inspections_allowed(make_demo: Callable[..., Demo]) -> None:  # noqa: F811
    demo = make_demo("metablock")
    code, report = verify(*layout_args(demo), "--allow-inspections")
    assert code == 0, report
    assert "attest.layout" in checks(report, "pass")


def test_layout_with_inspections_without_the_flag_runs_nothing(make_demo: Callable[..., Demo]) -> None:  # noqa: F811
    demo = make_demo("dsse")
    code, report = verify(*layout_args(demo))
    assert code == 3
    assert "attest.layout" in checks(report, "skip")
    assert not (demo.workdir / "foo.py").exists(), "the untar inspection must not have run"


def test_layout_tampered_product_fails(make_demo: Callable[..., Demo]) -> None:  # noqa: F811
    demo = make_demo("metablock")
    replace_product(demo.workdir)
    code, report = verify(*layout_args(demo), "--allow-inspections")
    assert code == 1
    findings = report["findings"]
    assert isinstance(findings, list)
    failure = next(f for f in findings if f["check"] == "attest.layout")
    assert "foo.tar.gz" in failure["message"] or "untar" in failure["message"]


def test_layout_expired_fails(make_demo: Callable[..., Demo]) -> None:  # noqa: F811
    demo = make_demo("metablock", expires="2001-01-01T00:00:00Z", inspections=False)
    code, report = verify(*layout_args(demo))
    assert code == 1
    assert "attest.layout" in checks(report, "fail")


@pytest.mark.parametrize("target", ["layout", "link"])
def test_layout_or_link_with_a_second_unsigned_reading_is_bad_input(
    make_demo: Callable[..., Demo], target: str  # noqa: F811
) -> None:
    """A Metablock's signature covers "signed" as the parser kept it: with "signed" holding a key twice, Python
    keeps the last (the signed one) and the signature verifies, while a first-wins reader sees the planted value.
    provcheck refuses the file instead of choosing."""
    demo = make_demo("metablock", inspections=False)
    code, report = verify(*layout_args(demo))
    assert code == 0, report
    path = demo.layout if target == "layout" else demo.links / "package.2f89b927.link"
    text = path.read_text()
    planted = '"expires": "2099-12-31T00:00:00Z", ' if target == "layout" else '"products": {"foo.tar.gz": {}}, '
    key = planted.split(":")[0]
    forged = text.replace('"signed": {', '"signed": {' + planted, 1)
    assert forged != text and forged.count(key) >= 2
    path.write_text(forged)
    result = run_cli(["attest", "verify", *layout_args(demo)])
    assert_clean_error(result, 2)
    assert "appears twice" in result.stderr, result.stderr
