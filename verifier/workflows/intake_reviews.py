"""Intake's review step: the third-party security reviews (``--review``) of the firmware image taken in.

Each review is read and judged as ``review verify`` does (verifier/workflows/review.py), with the policy's
``[reviews]`` values: only its ``srp_keys`` are trusted, its ``max_cvss`` and ``max_age_days`` are the limits,
and the file the review must cover is ``--firmware``. A policy that requires a review makes a missing
``--review``, or a missing ``--firmware`` to compare it with, a required skip (inconclusive). The report's
metadata lists every review: who reviewed, when, what, and the open issues.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from attestations.keys import load_distinct_public_keys
from verifier.checks.reviews import FirmwareFile, ReviewLimits
from verifier.model import Finding, skipped
from verifier.workflows.intake_request import IntakeRequest
from verifier.workflows.review import review_findings


@dataclass(frozen=True)
class ReviewsOutcome:
    """The findings of every review, and the metadata that describes them (empty when none was given)."""

    findings: list[Finding] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)


def intake_reviews(request: IntakeRequest, digests: Mapping[str, str], now: datetime) -> ReviewsOutcome:
    rules = request.policy.reviews
    if not request.reviews:
        if rules.required:
            return ReviewsOutcome([skipped(
                "review.signature",
                "the policy requires a security review of the firmware; give --review REPORT",
                "reviews",
            )])
        return ReviewsOutcome()
    keys = load_distinct_public_keys(rules.srp_keys)
    firmware = FirmwareFile(request.firmware.name, dict(digests)) if request.firmware is not None else None
    limits = ReviewLimits(max_cvss=rules.cvss_limit, max_age_days=rules.max_age_days)
    findings: list[Finding] = []
    described: list[dict[str, Any]] = []
    for path in request.reviews:
        judged, metadata = review_findings(path, keys, firmware, limits, now, coverage_required=rules.required)
        findings += judged
        described.append(metadata)
    return ReviewsOutcome(findings, {"reviews": described})
