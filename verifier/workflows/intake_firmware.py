"""Intake step 2: scan the firmware image against the firmware manifest the release declares for it, under the policy.

The policy raises, lowers or allows the scan's findings (its ``[firmware]`` fail, warn and allowed deviations);
each change is recorded in the finding's evidence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from attestations import predicates
from attestations.statement import subject_matches
from verifier.checks.attestations import VouchedStatement
from verifier.checks.firmware_policy import apply_firmware_policy
from verifier.declared.fields import JsonObject
from verifier.model import Finding, failed
from verifier.policy.model import Policy
from verifier.workflows.firmware_scan import scan_firmware
from verifier.workflows.secureboot import policy_rules


def _declared_manifest(
    name: str, digests: Mapping[str, str], vouched: Sequence[VouchedStatement]
) -> JsonObject | None:
    """The verified firmware manifest for this image: by digest, else by the image's name.

    Matching by name lets a swapped image be scanned against what the vendor declared under that
    name, so the report says what changed; its digest mismatch is already an ``attest.subject`` failure.
    """
    manifests = [v for v in vouched if v.statement.predicate_type == predicates.FIRMWARE_MANIFEST]
    for item in manifests:
        if any(subject_matches(s, digests) for s in item.statement.subjects):
            return item.statement.predicate
    for item in manifests:
        if any(Path(s.name).name == name for s in item.statement.subjects):
            return item.statement.predicate
    return None


def check_firmware(
    path: Path, digests: Mapping[str, str], vouched: Sequence[VouchedStatement], policy: Policy
) -> list[Finding]:
    manifest = _declared_manifest(path.name, digests, vouched)
    subject = path.name
    if manifest is None:
        return [
            failed(
                "firmware.manifest",
                f"no verified firmware manifest in the release declares {path.name} "
                f"(sha256 {digests.get('sha256', '')[:16]}…)",
                subject,
            )
        ]
    findings = scan_firmware(path, manifest=manifest, baseline=None, rules=None, trust_anchors=(),
                             secureboot=policy_rules(policy.secureboot))
    return apply_firmware_policy(findings, policy)
