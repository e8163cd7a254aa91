"""The policy's ``[attestations]`` rules over the statements a trusted key vouched for: which must be there, how old
they may be, and which builder and source they must name."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from attestations import predicates
from verifier.checks.attestations import Artifact, AttestPolicy, VouchedStatement, check_build_policy
from verifier.model import Finding, failed, passed, skipped
from verifier.policy.model import AttestationRules


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
