"""Intake step 1: verify the release with the policy's trusted signers, then judge its age and what it must carry.

The signatures are judged by the release judge ``attest verify`` uses too (verifier/checks/signers.py); this
step reads the release and the key files, and turns each ``[signers]`` rule of the policy into trusted signers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attestations import predicates
from attestations.documents import read_documents
from attestations.dsse import Envelope
from attestations.keys import load_distinct_public_keys
from attestations.sigstore import IdentityPolicy
from verifier.checks.attestations import (
    Artifact,
    SigstoreOptions,
    VouchedStatement,
    split_documents,
)
from verifier.checks.signers import TrustedSigners, envelopes_by_type, judge_release
from verifier.errors import PolicyError
from verifier.model import Finding, failed
from verifier.policy.model import Policy, SignerRule
from verifier.workflows.release import locate_release


@dataclass(frozen=True)
class AttestedRelease:
    """What the release's signatures showed: findings, the statements vouched for, and where they came from."""

    findings: list[Finding]
    vouched: list[VouchedStatement]
    envelopes: list[Envelope]
    bundle: Path
    index: Mapping[str, Any]
    covered: set[str]


def _no_signers_error(policy: Policy) -> PolicyError:
    return PolicyError(
        f"{policy.name}: the policy reads a release but names no trusted signer: add a [signers] table with "
        "keys = [...] or a [[signers.sigstore]] identity; without one no statement can be vouched for"
    )


def _trusted_signers(rule: SignerRule, policy: Policy, envelopes: Sequence[Envelope]) -> TrustedSigners:
    """One signer rule of the policy with its key files read; a threshold its keys cannot meet is a bad policy."""
    keys = tuple(load_distinct_public_keys(rule.keys)) if rule.keys else ()
    if keys:
        for ptype in sorted(envelopes_by_type(envelopes)):
            threshold = rule.threshold_for(ptype)
            if threshold > len(keys):
                raise PolicyError(
                    f"{policy.name}: the signers threshold for {predicates.describe(ptype or 'statements')} is "
                    f"{threshold}, but the trusted key files hold only {len(keys)} distinct key(s)"
                )
    identities = tuple(
        SigstoreOptions.for_instance(
            identity.trusted_root, identity.staging, IdentityPolicy(identity=identity.identity, issuer=identity.issuer)
        )
        for identity in rule.sigstore
    )
    return TrustedSigners(keys=keys, threshold=rule.threshold, thresholds=rule.thresholds, sigstore=identities)


def verify_release(release: Path, policy: Policy, artifacts: Sequence[Artifact]) -> AttestedRelease:
    """Verify every statement of the release against every signer rule of the policy (all must hold).

    Nothing is vouched for by default: a statement is used only after each signer rule of the policy
    was met by a signature that verified with a trusted key (or a bundle a trusted identity signed).
    """
    if not policy.signers:
        raise _no_signers_error(policy)
    files = locate_release(release)
    documents = list(read_documents(files.bundle))
    for extra in files.sigstore_bundles:
        documents += read_documents(extra)
    envelopes, bundles, metablocks = split_documents(documents)
    findings: list[Finding] = []
    for block in metablocks:
        findings.append(failed("attest.format", "an in-toto Metablock cannot stand alone in a release", block.source))
    if not envelopes and not bundles:
        findings.append(failed("attest.release", "the release holds no signed statement", str(files.bundle)))
    rules = [_trusted_signers(rule, policy, envelopes) for rule in policy.signers]
    identities = any(rule.sigstore for rule in rules)
    signed = judge_release(envelopes, bundles if identities else [], artifacts, rules)
    findings += signed.envelope_findings
    if bundles and not identities:
        findings.append(
            failed(
                "attest.sigstore",
                "the release carries Sigstore bundles but the policy names no [[signers.sigstore]] identity",
                str(files.directory),
            )
        )
    findings += signed.bundle_findings
    return AttestedRelease(findings, signed.vouched, envelopes, files.bundle, files.index, signed.covered)


def release_index(vouched: Sequence[VouchedStatement]) -> Mapping[str, Any]:
    """The signed release index (name, version, creation time), or an empty mapping when none was vouched for."""
    return next((v.statement.predicate for v in vouched if v.statement.predicate_type == predicates.RELEASE_INDEX), {})
