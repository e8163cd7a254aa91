"""``review verify``: read a short-form report, verify it with the accepted SRP keys, judge it, describe it.

The keys and the firmware file are read once; the report is read by ``attestations.ocp_safe.review`` whatever
its form (JWS, plain JSON, CoRIM), judged by ``verifier.checks.reviews``. ``intake --review`` runs the same
steps (verifier/workflows/intake_reviews.py) with the policy's ``[reviews]`` values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from attestations.keys import PublicKey, load_distinct_public_keys
from attestations.ocp_safe.facts import SignedReview
from attestations.ocp_safe.review import load_review
from attestations.statement import digest_file
from verifier.checks.reviews import FirmwareFile, ReviewLimits, judge_review
from verifier.model import Finding, Report
from verifier.policy.model import DEFAULT_MAX_CVSS


@dataclass(frozen=True)
class ReviewRequest:
    report: Path
    srp_keys: Sequence[Path]
    firmware: Path | None = None
    max_cvss: float = DEFAULT_MAX_CVSS
    max_age_days: int | None = None


def firmware_file(path: Path) -> FirmwareFile:
    """The file a review must cover, hashed once with the algorithms SFRs carry."""
    return FirmwareFile(path.name, digest_file(path, ("sha384", "sha512")))


def review_metadata(review: SignedReview) -> dict[str, Any]:
    """What the report says (exact values: renderers sanitise what they show), and whether it was verified."""
    report = review.report
    signer = review.signer
    return {
        "source": review.source,
        "form": review.form,
        "verified": signer is not None,
        "signer": {"key": signer.source, "keyid": signer.keyid, "algorithm": signer.algorithm} if signer else None,
        "label": review.label,
        "algorithm": review.algorithm,
        "review_framework_version": report.review_framework_version,
        "srp": report.audit.srp,
        "completion_date": report.audit.completion_date.isoformat() if report.audit.completion_date else None,
        "scope_number": report.audit.scope_number,
        "methodology": report.audit.methodology,
        "report_version": report.audit.report_version,
        "cvss_version": report.audit.cvss_version,
        "solid_version": report.audit.solid_version,
        "device": report.device.to_json(),
        "issues": [issue.to_json() for issue in report.audit.issues],
    }


def review_findings(
    path: Path,
    keys: Sequence[PublicKey],
    firmware: FirmwareFile | None,
    limits: ReviewLimits,
    now: datetime,
    *,
    coverage_required: bool = False,
) -> tuple[list[Finding], dict[str, Any]]:
    """Read, verify and judge one review: its findings and its description."""
    review = load_review(str(path), keys)
    findings = judge_review(review, limits, firmware, now, coverage_required=coverage_required)
    return findings, review_metadata(review)


def run_review(request: ReviewRequest, *, now: datetime | None = None) -> Report:
    started = now or datetime.now(UTC)
    keys = load_distinct_public_keys(request.srp_keys)
    firmware = firmware_file(request.firmware) if request.firmware is not None else None
    limits = ReviewLimits(max_cvss=request.max_cvss, max_age_days=request.max_age_days)
    findings, metadata = review_findings(request.report, keys, firmware, limits, started)
    return Report(
        f"review {request.report.name}",
        tuple(findings),
        subject=str(request.report),
        metadata={"review": metadata, "checked_at": started.isoformat()},
    )
