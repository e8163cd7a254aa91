"""``attest verify`` end to end: read inputs once, verify every document, then judge the set.

Artifacts and keys are read once, before any document, so a release of
thousands of statements costs one key parse and one hash per artifact. The signatures are judged by
the release judge intake uses too (verifier/checks/signers.py), with one rule: the given keys,
threshold and Sigstore identity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from attestations.documents import Document, read_documents
from attestations.keys import load_distinct_public_keys
from attestations.sigstore import IdentityPolicy
from attestations.statement import digest_file
from verifier.checks import attestations as judge
from verifier.checks.layout import check_layout
from verifier.checks.signers import TrustedSigners, judge_release
from verifier.errors import UsageError
from verifier.model import Finding, Status, failed, skipped


@dataclass(frozen=True)
class VerifyRequest:
    artifacts: Sequence[Path] = ()
    bundles: Sequence[Path] = ()
    keys: Sequence[Path] = ()
    threshold: int = 1
    trusted_root: Path | None = None
    staging: bool = False
    identity: str | None = None
    issuer: str | None = None
    github_claims: Mapping[str, str | None] = field(default_factory=dict)
    insecure_skip_identity: bool = False
    builder_id: str | None = None
    source_uri: str | None = None
    layout: Path | None = None
    layout_keys: Sequence[Path] = ()
    link_dir: Path | None = None
    allow_inspections: bool = False
    #: Only statements of this predicate type count; others are failures (``attest.predicate-type``).
    predicate_type: str | None = None


def _identity_policy(request: VerifyRequest) -> IdentityPolicy | None:
    """Who must have signed the Sigstore bundles, or ``None`` when no --identity was given."""
    claims = {k: v for k, v in request.github_claims.items() if v}
    if request.identity and request.issuer:
        return IdentityPolicy(identity=request.identity, issuer=request.issuer, **claims)
    if claims:
        raise UsageError("GitHub workflow claims need --identity and --issuer too")
    return None


def run_verify(request: VerifyRequest) -> list[Finding]:
    if request.predicate_type is not None and not request.bundles:
        raise UsageError("--predicate-type selects statements of the --bundle files; give at least one --bundle")
    keys = tuple(load_distinct_public_keys(request.keys))
    artifacts = [judge.Artifact(path, digest_file(path, ("sha256", "sha384", "sha512"))) for path in request.artifacts]
    documents: list[Document] = []
    for path in request.bundles:
        documents.extend(read_documents(path))
    envelopes, bundles, metablocks = judge.split_documents(documents)
    if envelopes and not keys:
        raise UsageError("DSSE envelopes need at least one trusted --key to verify against")
    sigstore: tuple[judge.SigstoreOptions, ...] = ()
    if bundles:
        sigstore = (
            judge.SigstoreOptions.for_instance(
                request.trusted_root,
                request.staging,
                _identity_policy(request),
                unsafe_no_identity=request.insecure_skip_identity,
            ),
        )
    # One rule: the --key set signs envelopes (and key-signed bundles), the Sigstore options sign bundles.
    signed = judge_release(
        envelopes,
        bundles,
        artifacts,
        [TrustedSigners(keys=keys, threshold=request.threshold, sigstore=sigstore, bundle_keys=keys)],
    )
    findings = list(signed.findings)
    vouched = signed.vouched
    covered = signed.covered
    if request.predicate_type is not None:
        unverified = sum(1 for f in findings if f.status is Status.ERROR)
        vouched, typed = judge.check_predicate_type(vouched, request.predicate_type, unverified)
        findings += typed
        covered = set()  # a bundle that signs the artifact itself carries no statement, so no type: it does not count
    for block in metablocks:
        findings.append(
            failed(
                "attest.format",
                "an in-toto link or layout (Metablock) cannot stand alone; verify it with --layout and --link-dir",
                block.source,
            )
        )
    if request.layout is not None:
        findings += _verify_layout(request)
    if documents:
        unverified = sum(1 for f in findings if f.status is Status.ERROR)
        findings += judge.check_subjects(artifacts, vouched, covered, unverified)
        findings += judge.check_build_policy(
            vouched,
            artifacts,
            judge.AttestPolicy(
                threshold=request.threshold, builder_id=request.builder_id, source_uri=request.source_uri
            ),
        )
        findings += judge.check_vsas(vouched)
        findings += judge.check_test_results(vouched)
        findings += judge.check_chain(vouched, artifacts)
        findings += judge.vouch_list(vouched)
    elif request.builder_id or request.source_uri:
        findings.append(skipped("attest.provenance", "no --bundle given, so no SLSA provenance was checked"))
    return findings


def _verify_layout(request: VerifyRequest) -> list[Finding]:
    assert request.layout is not None and request.link_dir is not None
    return check_layout(
        request.layout,
        layout_keys=request.layout_keys,
        link_dir=request.link_dir,
        allow_inspections=request.allow_inspections,
        artifacts=request.artifacts,
    )
