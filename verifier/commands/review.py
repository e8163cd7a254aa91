"""``provcheck review``: verify and show an OCP S.A.F.E. short-form report (a third-party security review)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from verifier.commands.common import emit, format_option

_path = click.Path(path_type=Path)


@click.group()
def review() -> None:
    """Verify OCP S.A.F.E. short-form reports: who reviewed the firmware, and what they found."""


@review.command("verify")
@click.argument("report", type=_path)
@click.option(
    "--srp-key",
    "srp_keys",
    multiple=True,
    type=_path,
    help="An accepted security review provider's public key (PEM); repeatable. Only these keys are trusted: "
    "the report's kid is a label.",
)
@click.option("--firmware", type=_path, help="The firmware file the review must cover (its sha384 / sha512).")
@click.option(
    "--max-cvss",
    type=click.FloatRange(0.0, 10.0),
    default=7.0,
    show_default=True,
    help="An open issue with a CVSS score at or above this fails; below it warns.",
)
@click.option("--max-age-days", type=click.IntRange(min=1), default=None,
              help="Fail a review completed more than this many days ago.")
@format_option()
def verify(
    report: Path,
    srp_keys: tuple[Path, ...],
    firmware: Path | None,
    max_cvss: float,
    max_age_days: int | None,
    output_format: str,
) -> int:
    """Verify REPORT (a compact JWS, its JSON payload, or the CoRIM form) and print the review.

    Exit 0 when an accepted SRP key signed it, it covers --firmware and no open issue reaches --max-cvss;
    1 on a definite failure; 2 on bad input; 3 when it could not be decided.
    """
    from verifier.workflows.review import ReviewRequest, run_review

    result = run_review(
        ReviewRequest(
            report=report, srp_keys=srp_keys, firmware=firmware, max_cvss=max_cvss, max_age_days=max_age_days
        )
    )
    if output_format == "text":
        sys.stdout.write(describe(result.metadata["review"]))
    return emit(result, output_format)


def describe(review: Mapping[str, Any]) -> str:
    """The review as text, every value the report wrote escaped (it is the SRP's, or an attacker's, text)."""
    from verifier.output.sanitize import display

    def show(value: object) -> str:
        return display("" if value is None else value, limit=500)

    device = review.get("device") or {}
    status = "verified" if review.get("verified") else "NOT VERIFIED: what it claims"
    lines = [
        f"review {show(review.get('source'))} ({status})",
        f"  framework version  {show(review.get('review_framework_version'))}",
        f"  SRP                {show(review.get('srp'))}",
        f"  completion date    {show(review.get('completion_date') or 'not given')}",
        f"  scope              {show(review.get('scope_number') or 'not given')}",
        f"  methodology        {show(review.get('methodology'))}",
        f"  report version     {show(review.get('report_version'))}",
        f"  vendor             {show(device.get('vendor'))}",
        f"  product            {show(device.get('product'))}",
        f"  category           {show(device.get('category'))}",
        f"  repo tag           {show(device.get('repo_tag'))}",
        f"  firmware version   {show(device.get('fw_version'))}",
        f"  firmware sha384    {show(device.get('fw_hash_sha2_384') or 'not given')}",
        f"  firmware sha512    {show(device.get('fw_hash_sha2_512') or 'not given')}",
    ]
    if review.get("solid_version"):
        lines.append(f"  SOLID version      {show(review.get('solid_version'))}")
    for entry in device.get("manifest") or []:
        lines.append(f"  manifest file      {show(entry.get('file_name'))} {show(entry.get('file_hash'))}")
    issues = review.get("issues") or []
    lines.append(f"  open issues        {len(issues)}")
    for number, issue in enumerate(issues, 1):
        score = issue.get("cvss_score")
        lines.append(f"  {number}. {show(issue.get('title'))}")
        lines.append(f"     CVSS {show('not given' if score is None else score)} {show(issue.get('cvss_vector'))}")
        lines.append(f"     {show(issue.get('cwe') or 'no CWE')}, {show(issue.get('cve') or 'no CVE')}")
        if issue.get("description"):
            lines.append(f"     {show(issue.get('description'))}")
    return "\n".join(lines) + "\n\n"
