"""``attest verify`` end to end: read inputs once, verify every document, then judge the set.

Artifacts and keys are read once, before any document, so a release of
thousands of statements costs one key parse and one hash per artifact.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from attestations.documents import Document, read_documents
from attestations.keys import PublicKey, load_public_keys
from attestations.statement import digest_file
from verifier.checks import attestations as judge
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


def load_keys(paths: Sequence[Path]) -> list[PublicKey]:
    keys: dict[str, PublicKey] = {}
    for path in paths:
        for key in load_public_keys(path):
            keys.setdefault(key.keyid, key)
    return list(keys.values())


def _sigstore_options(request: VerifyRequest) -> judge.SigstoreOptions:
    from attestations.sigstore import IdentityPolicy, TrustConfigChoice

    if request.trusted_root is not None:
        trust = TrustConfigChoice.from_file(request.trusted_root)
    elif request.staging:
        trust = TrustConfigChoice.staging()
    else:
        trust = TrustConfigChoice.production()
    claims = {k: v for k, v in request.github_claims.items() if v}
    policy = None
    if request.identity and request.issuer:
        policy = IdentityPolicy(identity=request.identity, issuer=request.issuer, **claims)
    elif claims:
        raise UsageError("GitHub workflow claims need --identity and --issuer too")
    return judge.SigstoreOptions(trust=trust, policy=policy, unsafe_no_identity=request.insecure_skip_identity)


def run_verify(request: VerifyRequest) -> list[Finding]:
    keys = load_keys(request.keys)
    artifacts = [judge.Artifact(path, digest_file(path, ("sha256", "sha384", "sha512"))) for path in request.artifacts]
    documents: list[Document] = []
    for path in request.bundles:
        documents.extend(read_documents(path))
    envelopes, bundles, metablocks = judge.split_documents(documents)

    findings: list[Finding] = []
    vouched: list[judge.VouchedStatement] = []
    covered: set[str] = set()
    if envelopes:
        if not keys:
            raise UsageError("DSSE envelopes need at least one trusted --key to verify against")
        envelope_findings, envelope_vouched = judge.verify_envelopes(envelopes, keys, request.threshold)
        findings += envelope_findings
        vouched += envelope_vouched
    if bundles:
        bundle_findings, bundle_vouched, covered = judge.verify_sigstore_bundles(
            bundles, artifacts, _sigstore_options(request), keys
        )
        findings += bundle_findings
        vouched += bundle_vouched
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
        findings += judge.check_chain(vouched, artifacts)
        findings += judge.vouch_list(vouched)
    elif request.builder_id or request.source_uri:
        findings.append(skipped("attest.provenance", "no --bundle given, so no SLSA provenance was checked"))
    return findings


def _verify_layout(request: VerifyRequest) -> list[Finding]:
    from verifier.checks.layout import check_layout

    assert request.layout is not None and request.link_dir is not None
    return check_layout(
        request.layout,
        layout_keys=request.layout_keys,
        link_dir=request.link_dir,
        allow_inspections=request.allow_inspections,
        artifacts=request.artifacts,
    )
