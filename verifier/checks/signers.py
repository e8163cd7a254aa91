"""The release judge: which statements trusted signers vouch for, when every signer rule must hold.

``attest verify`` gives it one rule (its ``--key``, ``--threshold`` and Sigstore options), ``intake`` one rule
per ``[signers]`` table of its policies. Nothing is vouched for by default: a statement counts only after each
rule was met, by envelope signatures that verified with the rule's keys or by a Sigstore bundle one of the
rule's identities signed. Reading the documents and the key files is the caller's step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from attestations import predicates
from attestations.documents import SigstoreBundleDocument
from attestations.dsse import Envelope
from attestations.errors import AttestationError
from attestations.keys import PublicKey
from attestations.statement import parse_statement
from verifier.checks.attestations import (
    Artifact,
    SigstoreOptions,
    TrustRoots,
    VouchedStatement,
    verify_envelopes,
    verify_sigstore_bundles_with,
)
from verifier.model import Finding, Status, failed


@dataclass(frozen=True)
class TrustedSigners:
    """One signer rule: ``threshold`` distinct ``keys`` must sign each envelope, or one ``sigstore`` identity a bundle.

    ``thresholds`` raises (or lowers) the count for one predicate type. A Sigstore bundle carries one signature, so
    it cannot meet a count above one. ``bundle_keys`` are the keys a key-signed Sigstore bundle may be signed with.
    """

    keys: tuple[PublicKey, ...] = ()
    threshold: int = 1
    thresholds: Mapping[str, int] = field(default_factory=dict)
    sigstore: tuple[SigstoreOptions, ...] = ()
    bundle_keys: tuple[PublicKey, ...] = ()

    def threshold_for(self, predicate_type: str) -> int:
        return self.thresholds.get(predicate_type, self.threshold)


@dataclass(frozen=True)
class Vouching:
    """Findings about every envelope and bundle, the statements all rules vouch for, the artifacts bundles signed."""

    envelope_findings: list[Finding]
    bundle_findings: list[Finding]
    vouched: list[VouchedStatement]
    covered: set[str]

    @property
    def findings(self) -> list[Finding]:
        return self.envelope_findings + self.bundle_findings


def route_type(envelope: Envelope) -> str:
    """The predicate type an envelope claims, used only to pick its threshold before verifying it."""
    try:
        return parse_statement(envelope.payload).predicate_type
    except AttestationError:
        return ""


def envelopes_by_type(envelopes: Sequence[Envelope]) -> dict[str, list[int]]:
    """The positions of the envelopes of each claimed predicate type, in order."""
    by_type: dict[str, list[int]] = {}
    for i, envelope in enumerate(envelopes):
        by_type.setdefault(route_type(envelope), []).append(i)
    return by_type


def judge_release(
    envelopes: Sequence[Envelope],
    bundles: Sequence[SigstoreBundleDocument],
    artifacts: Sequence[Artifact],
    rules: Sequence[TrustedSigners],
) -> Vouching:
    """Verify every envelope and bundle against every rule; a statement is vouched for when it met them all.

    Envelope findings come per rule, grouped by predicate type (each type may have its own threshold).
    """
    findings: list[Finding] = []
    # For each envelope, the signers of every rule it met so far; an envelope missing from the map met none.
    met: dict[int, list[tuple[str, ...]]] = {}
    by_type = envelopes_by_type(envelopes)
    for rule in rules:
        if not rule.keys:
            findings += [
                failed(
                    "attest.signature",
                    "signed with a key, but the policy trusts only Sigstore identities for this release",
                    envelope.source,
                )
                for envelope in envelopes
            ]
            continue
        for ptype, indexes in sorted(by_type.items()):
            rule_findings, rule_vouched = verify_envelopes(
                [envelopes[i] for i in indexes], rule.keys, rule.threshold_for(ptype)
            )
            findings += rule_findings
            # One finding per envelope, in order; the vouched statements are those whose finding passed.
            passing = [i for i, f in zip(indexes, rule_findings, strict=True) if f.status is Status.PASS]
            for i, item in zip(passing, rule_vouched, strict=True):
                if item.signers:
                    met.setdefault(i, []).append(item.signers)
    vouched: list[VouchedStatement] = []
    for i, rules_met in sorted(met.items()):
        if len(rules_met) != len(rules):
            continue  # a rule this envelope did not meet already has its failing attest.signature finding
        names = tuple(dict.fromkeys(name for signers in rules_met for name in signers))
        vouched.append(VouchedStatement(parse_statement(envelopes[i].payload), envelopes[i].source, names))

    covered: set[str] = set()
    bundle_findings: list[Finding] = []
    roots = TrustRoots()
    for bundle in bundles:
        judged, bundle_vouched, bundle_covered = _judge_bundle(bundle, artifacts, rules, roots)
        bundle_findings += judged
        vouched += bundle_vouched
        covered |= bundle_covered
    return Vouching(findings, bundle_findings, [v for v in vouched if v.signers], covered)


def _judge_bundle(
    bundle: SigstoreBundleDocument, artifacts: Sequence[Artifact], rules: Sequence[TrustedSigners], roots: TrustRoots
) -> tuple[list[Finding], list[VouchedStatement], set[str]]:
    """A Sigstore bundle counts when, for every rule, one of the rule's identities verifies it."""
    findings: list[Finding] = []
    signers: list[str] = []
    statement: VouchedStatement | None = None
    covered: set[str] = set()
    for rule in rules:
        if not rule.sigstore:
            findings.append(
                failed(
                    "attest.sigstore",
                    "a Sigstore bundle, but a signer rule of the policy trusts only keys",
                    bundle.source,
                )
            )
            return findings, [], set()
        first: tuple[list[Finding], list[VouchedStatement], set[str]] | None = None
        for options in rule.sigstore:
            attempt = verify_sigstore_bundles_with([bundle], artifacts, options, rule.bundle_keys, roots)
            if first is None:
                first = attempt
            if _verified(attempt[0]):
                first = attempt
                break
        assert first is not None
        findings += first[0]
        if not _verified(first[0]):
            return findings, [], set()
        for item in first[1]:
            threshold = rule.threshold_for(item.statement.predicate_type)
            if threshold > 1:
                findings.append(
                    failed(
                        "attest.signature",
                        f"a Sigstore bundle carries one signature; the policy asks for {threshold} signers for "
                        f"{predicates.describe(item.statement.predicate_type)}",
                        bundle.source,
                    )
                )
                return findings, [], set()
            statement = item
            signers += item.signers
        covered |= first[2]
    vouched = [replace(statement, signers=tuple(dict.fromkeys(signers)))] if statement is not None else []
    return findings, vouched, covered


def _verified(findings: Sequence[Finding]) -> bool:
    """The bundle verified: it has findings, and none failed or could not be decided (a warning still verified)."""
    return bool(findings) and all(f.status in (Status.PASS, Status.WARN) for f in findings)
