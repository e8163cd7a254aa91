"""The review judge: is a security review provider's short-form report (OCP S.A.F.E. SFR) one to rely on?

Facts in (``attestations.ocp_safe.review.SignedReview``, the firmware file's digests), limits in (the highest
CVSS score tolerated for an open issue, the oldest review accepted), findings out:

- ``review.signature``: one of the accepted SRP keys verifies the report. An unsigned form (plain JSON, an
  unsigned CoRIM) never passes: anyone can write one. Nothing else is judged on a report that fails here:
  its content is only what somebody claims.
- ``review.not-covered``: the firmware file is the one reviewed. Every digest the report gives must be the
  file's: a report giving sha384 and sha512 covers a file only when both match (a report whose two digests
  name two different files covers neither). An empty digest says nothing, so a report with no digest (a ROM
  audit identified only by its repository tag) covers no file. With a file manifest (the SDK form), the
  report's own digests are of the manifest, and the file is covered when its digest is a manifest entry's.
- ``review.issue``: one finding per open issue, naming its title, CVSS score and vector, CWE and CVE: at or
  above the limit fails, below warns; an issue without a score fails (it cannot be shown to be below).
- ``review.age``: the completion date is no more than ``max_age_days`` old and not in the future.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from attestations.ocp_safe.facts import FORM_JSON, SignedReview
from attestations.ocp_safe.report import DIGEST_LENGTHS, Issue, ShortFormReport
from verifier.model import Finding, Status, failed, passed, skipped, warned


@dataclass(frozen=True)
class ReviewLimits:
    """What a review must meet: the CVSS score at which an open issue fails, and its greatest age in days."""

    max_cvss: float = 7.0
    max_age_days: int | None = None


@dataclass(frozen=True)
class FirmwareFile:
    """The file a review must cover: its name (for messages) and its digests by algorithm (hex, lower case)."""

    name: str
    digests: Mapping[str, str]


def judge_review(
    review: SignedReview,
    limits: ReviewLimits,
    firmware: FirmwareFile | None,
    now: datetime,
    *,
    coverage_required: bool = False,
) -> list[Finding]:
    """Every finding about one review; only the signature's when that fails."""
    signature = check_signature(review)
    if signature.status is not Status.PASS:
        return [signature]
    findings = [signature]
    if firmware is not None:
        findings.append(check_coverage(review, firmware))
    else:
        findings.append(
            skipped(
                "review.not-covered",
                "no firmware file was given, so whether this review covers it was not checked",
                review.source,
                required=coverage_required,
            )
        )
    findings += check_issues(review, limits.max_cvss)
    findings.append(check_age(review, now, limits.max_age_days))
    return findings


def check_signature(review: SignedReview) -> Finding:
    label = f" (its header names the key {review.label!r}, a label only)" if review.label else ""
    if not review.signed:
        form = "plain JSON" if review.form == FORM_JSON else "an unsigned CoRIM"
        return failed(
            "review.signature",
            f"the report is {form}, not signed: anyone can write one, so it cannot be trusted",
            review.source,
            form=review.form,
        )
    if review.refused:
        return failed("review.signature", f"refused: {review.refused}", review.source, form=review.form,
                      algorithm=review.algorithm)
    if review.signer is not None:
        key = review.signer
        return passed(
            "review.signature",
            f"signed by the accepted SRP key {key.source or key.short_id} ({key.algorithm}, {review.algorithm})"
            f"{label}",
            review.source,
            form=review.form,
            algorithm=review.algorithm,
            keyid=key.keyid,
            key=key.source,
            label=review.label,
        )
    if not review.keys_given:
        message = "no SRP key is accepted (give --srp-key, or [reviews] srp_keys in the policy)"
    elif not review.fitting:
        message = f"none of the {review.keys_given} accepted SRP keys is a key for {review.algorithm}"
    else:
        message = f"no accepted SRP key verifies it ({review.fitting} tried){label}"
    return failed("review.signature", message, review.source, form=review.form, algorithm=review.algorithm,
                  label=review.label)


def check_coverage(review: SignedReview, firmware: FirmwareFile) -> Finding:
    device = review.report.device
    name = firmware.name
    if device.manifest:
        return _manifest_coverage(review, firmware)
    given = device.digests
    if not given:
        tag = f" (it identifies the firmware only as {device.repo_tag!r})" if device.repo_tag else ""
        return failed(
            "review.not-covered",
            f"the report gives no firmware digest{tag}, so it covers no file: {name} is not shown to be reviewed",
            review.source,
            firmware=name,
        )
    matched = sorted(alg for alg, value in given.items() if firmware.digests.get(alg) == value)
    differ = sorted(alg for alg in given if alg not in matched)
    evidence = {"firmware": name, "report": dict(given), "file": {a: firmware.digests.get(a, "") for a in given}}
    if not differ:
        return passed(
            "review.not-covered",
            f"{name} is the reviewed image: its {' and '.join(matched)} are the report's",
            review.source,
            matched=matched,
            **evidence,
        )
    if matched:
        return failed(
            "review.not-covered",
            f"{name}'s {' and '.join(matched)} matches the report but its {' and '.join(differ)} does not: every "
            "digest a report gives must be the file's, so it does not cover this file",
            review.source,
            matched=matched,
            **evidence,
        )
    return failed(
        "review.not-covered",
        f"{name} is not the reviewed image: its {' and '.join(differ)} differs from the report's",
        review.source,
        **evidence,
    )


def _manifest_coverage(review: SignedReview, firmware: FirmwareFile) -> Finding:
    by_length = {length: alg for alg, length in DIGEST_LENGTHS.items()}
    for entry in review.report.device.manifest:
        alg = by_length.get(len(entry.file_hash))
        if alg is not None and firmware.digests.get(alg) == entry.file_hash:
            return passed(
                "review.not-covered",
                f"{firmware.name} is the file {entry.file_name!r} of the reviewed package (its {alg})",
                review.source,
                firmware=firmware.name,
                manifest_entry=entry.file_name,
            )
    return failed(
        "review.not-covered",
        f"{firmware.name} is none of the {len(review.report.device.manifest)} files of the reviewed package",
        review.source,
        firmware=firmware.name,
    )


def describe_issue(issue: Issue) -> str:
    """Title, CVSS score and vector, CWE and CVE, as one phrase."""
    score = "no CVSS score" if issue.cvss_score is None else f"CVSS {issue.cvss_score:.1f}"
    vector = f" ({issue.cvss_vector})" if issue.cvss_vector else ""
    cwe = issue.cwe or "no CWE"
    cve = issue.cve or "no CVE"
    return f"{issue.title!r}: {score}{vector}, {cwe}, {cve}"


def check_issues(review: SignedReview, max_cvss: float) -> list[Finding]:
    report: ShortFormReport = review.report
    if not report.audit.issues:
        return [passed("review.issue", "the review lists no open issue", review.source)]
    findings = []
    for index, issue in enumerate(report.audit.issues):
        evidence = {"index": index, **issue.to_json(), "max_cvss": max_cvss}
        text = describe_issue(issue)
        if issue.cvss_score is None:
            findings.append(failed("review.issue", f"open issue {text}: without a score it cannot be shown to be "
                                   f"below {max_cvss:.1f}", review.source, **evidence))
        elif issue.cvss_score >= max_cvss:
            findings.append(failed("review.issue", f"open issue {text}, at or above the limit {max_cvss:.1f}",
                                   review.source, **evidence))
        else:
            findings.append(warned("review.issue", f"open issue {text}, below the limit {max_cvss:.1f}",
                                   review.source, **evidence))
    return findings


def check_age(review: SignedReview, now: datetime, max_age_days: int | None) -> Finding:
    completed = review.report.audit.completion_date
    if completed is None:
        if max_age_days is not None:
            return failed("review.age", f"the report gives no completion date, so it cannot be shown to be at most "
                          f"{max_age_days} days old", review.source)
        return warned("review.age", "the report gives no completion date", review.source)
    today = now.date()
    age = (today - completed).days
    evidence = {"completion_date": completed.isoformat(), "age_days": age, "max_age_days": max_age_days}
    if age < 0:
        return failed("review.age", f"the review is dated {completed.isoformat()}, in the future", review.source,
                      **evidence)
    if max_age_days is not None and age > max_age_days:
        return failed("review.age", f"the review was completed on {completed.isoformat()}, {age} days ago; the "
                      f"limit is {max_age_days}", review.source, **evidence)
    limit = f" (limit {max_age_days})" if max_age_days is not None else ""
    return passed("review.age", f"the review was completed on {completed.isoformat()}, {age} days ago{limit}",
                  review.source, **evidence)
