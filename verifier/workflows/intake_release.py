"""Intake step 1: verify the release with the policy's trusted signers, then judge its age and what it must carry.

The signatures are judged by the release judge ``attest verify`` uses too (verifier/checks/signers.py); this
step reads the release and the key files, and turns each ``[signers]`` rule of the policy into trusted signers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from attestations import predicates
from attestations.documents import read_documents
from attestations.dsse import Envelope
from attestations.keys import load_distinct_public_keys
from verifier.checks.attestations import (
    Artifact,
    AttestPolicy,
    SigstoreOptions,
    VouchedStatement,
    check_build_policy,
    split_documents,
)
from verifier.checks.signers import TrustedSigners, envelopes_by_type, judge_release
from verifier.errors import PolicyError
from verifier.model import Finding, failed, passed, skipped
from verifier.policy.model import AttestationRules, Policy, SignerRule
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
    from attestations.sigstore import IdentityPolicy

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


def check_release_rules(
    vouched: Sequence[VouchedStatement], artifacts: Sequence[Artifact], rules: AttestationRules, now: datetime
) -> list[Finding]:
    """The policy's [attestations] rules: required statements, their age, and the builder and source."""
    findings = check_required(vouched, rules.required)
    findings += check_age(vouched, rules.max_age_days, now)
    if rules.builder_id or rules.source_uri:
        findings += check_build_policy(
            vouched, artifacts, AttestPolicy(builder_id=rules.builder_id, source_uri=rules.source_uri)
        )
    return findings


def check_required(vouched: Sequence[VouchedStatement], required: frozenset[str]) -> list[Finding]:
    findings = []
    present = {v.statement.predicate_type for v in vouched}
    for ptype in sorted(required):
        name = predicates.describe(ptype)
        if ptype in present:
            findings.append(passed("policy.required-attestation", f"the release carries a verified {name}", name))
        else:
            findings.append(
                failed(
                    "policy.required-attestation",
                    f"the policy requires a {name} signed by a trusted key, and the release has none that verifies",
                    name,
                    predicate_type=ptype,
                )
            )
    return findings


def _statement_time(item: VouchedStatement) -> datetime | None:
    predicate = item.statement.predicate
    candidates: list[Any] = []
    if item.statement.predicate_type == predicates.RELEASE_INDEX:
        candidates.append(predicate.get("created"))
    elif item.statement.predicate_type == predicates.SLSA_VSA_V1:
        candidates.append(predicate.get("timeVerified"))
    elif item.statement.predicate_type == predicates.SLSA_PROVENANCE_V1:
        run = predicate.get("runDetails")
        metadata = run.get("metadata") if isinstance(run, Mapping) else None
        if isinstance(metadata, Mapping):
            candidates += [metadata.get("finishedOn"), metadata.get("startedOn")]
    for value in candidates:
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                continue
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def check_age(vouched: Sequence[VouchedStatement], max_age_days: int | None, now: datetime) -> list[Finding]:
    limit = max_age_days
    if limit is None:
        return []
    dated = [(item, when) for item in vouched if (when := _statement_time(item)) is not None]
    if not dated:
        return [
            skipped(
                "attest.age",
                f"the policy limits attestations to {limit} days, but no verified statement carries a time",
                "release",
            )
        ]
    findings = []
    for item, when in dated:
        age = now - when
        name = predicates.describe(item.statement.predicate_type)
        if when - now > timedelta(minutes=5):
            findings.append(failed("attest.age", f"{name} is dated in the future ({when.isoformat()})", item.source))
        elif age > timedelta(days=limit):
            findings.append(
                failed(
                    "attest.age",
                    f"{name} is {age.days} days old; the policy allows {limit}",
                    item.source,
                    created=when.isoformat(),
                )
            )
        else:
            findings.append(passed("attest.age", f"{name} is {age.days} days old (limit {limit})", item.source))
    return findings
