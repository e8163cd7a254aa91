"""Operator intake: is this device, and its firmware, what the signed release declares, under this policy?

1. verify the release attestations with the policy's trusted signers and thresholds, then their age, the
   statements the policy requires and the builder and source (intake_release.py);
2. scan the firmware file, when given, against the firmware manifest the release declares for it (intake_firmware.py);
3. read the device on the port with a fresh nonce, compare it with the declared device manifest, and judge
   its TPM (intake_device.py);
4. judge the supplier rules;
5. write text, JSON, SARIF and HTML reports, sign a VSA, append the history record (intake_report.py).

A transport failure is never tampering: it becomes an ``error`` finding, so the verdict
is inconclusive. Every required step that could not run is a required ``skip``.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from attestations import predicates
from attestations.keys import load_signer
from attestations.statement import Subject, digest_file
from verifier.checks.attestations import Artifact, check_subjects, vouch_list
from verifier.checks.release_rules import check_release_rules
from verifier.checks.suppliers import check_suppliers, parties_from_cyclonedx, parties_from_device_manifest
from verifier.model import Finding, Report, skipped
from verifier.output.report_set import ReportSet
from verifier.workflows.guard import guard
from verifier.workflows.intake_device import (
    declared_device_manifest,
    device_metadata,
    device_serial,
    parsed_manifest,
    read_and_judge_device,
)
from verifier.workflows.intake_firmware import check_firmware
from verifier.workflows.intake_reference_values import judge_reference_values, read_reference_values
from verifier.workflows.intake_release import release_index, verify_release
from verifier.workflows.intake_report import inventory_metadata, publish, report_metadata
from verifier.workflows.intake_request import IntakeRequest, IntakeResult
from verifier.workflows.intake_reviews import intake_reviews
from verifier.workflows.intake_secureboot import judge_device_secureboot

__all__ = ["IntakeRequest", "IntakeResult", "run_intake"]

NONCE_BYTES = 32


def run_intake(request: IntakeRequest, *, now: datetime | None = None) -> IntakeResult:
    policy = request.policy
    started = now or datetime.now(UTC)
    # A VSA key that cannot be read is bad input: refuse before touching the device, not after.
    vsa_signer = load_signer(request.vsa_key, request.vsa_passphrase) if request.vsa_key is not None else None
    # The report directory is written as one set (verifier/output/report_set.py): staged, then renamed in.
    reports = ReportSet(request.report_dir) if request.report_dir is not None else None
    corims = read_reference_values(request.reference_values, policy)  # bad CBOR: bad input, before the device
    findings: list[Finding] = []
    firmware_subjects: list[Subject] = []
    artifacts: list[Artifact] = []
    digests: dict[str, str] = {}
    if request.firmware is not None:
        digests = digest_file(request.firmware, ("sha256", "sha384", "sha512"))
        artifacts.append(Artifact(request.firmware, digests))
        firmware_subjects.append(Subject(request.firmware.name, {"sha256": digests["sha256"]}))

    # 1. attestations. A release that cannot be read at all is bad input (exit 2), not a finding.
    attested = verify_release(request.release, policy, artifacts)
    vouched = attested.vouched
    findings += attested.findings
    findings += check_release_rules(vouched, artifacts, policy.attestations, started)

    # 2. firmware
    if request.firmware is not None:
        findings += check_subjects(artifacts, vouched, attested.covered)
        fw = request.firmware
        findings += guard("firmware.scan", fw.name, lambda: check_firmware(fw, digests, vouched, policy))
    elif policy.firmware.required:
        findings.append(skipped("firmware.scan", "the policy requires a firmware scan; give --firmware", "firmware"))
    findings += (reviewed := intake_reviews(request, digests, started)).findings

    # 3. device and TPM
    manifest = declared_device_manifest(vouched)
    device = read_and_judge_device(request, manifest, vouched, os.urandom(NONCE_BYTES), reports)
    findings += device.findings
    findings += judge_reference_values(corims, policy, request.firmware, digests, device.judged, manifest, started)
    findings += guard("secureboot", "device", lambda: judge_device_secureboot(device.judged, policy, started))

    # 4. suppliers
    if policy.suppliers:

        def suppliers() -> list[Finding]:
            parties = parties_from_device_manifest(parsed_manifest(manifest)) if manifest is not None else []
            for item in vouched:
                if item.statement.predicate_type.startswith(predicates.CYCLONEDX):
                    parties += parties_from_cyclonedx(item.statement.predicate)
            return check_suppliers(parties, policy.suppliers)

        findings += guard("supply.suppliers", "suppliers", suppliers)

    # 5. report, VSA, history
    findings += vouch_list(vouched)
    serial = device_serial(device.evidence)
    title = f"intake of {request.label or serial or (request.firmware.name if request.firmware else 'release')}"
    metadata: dict[str, Any] = report_metadata(request, started, release_index(vouched), vouched)
    metadata.update(device_metadata(manifest, device))
    metadata.update(reviewed.metadata)
    metadata.update(inventory_metadata(device.judged, request.firmware, digests))
    report = Report(
        title, tuple(findings), strict=policy.strict or request.strict, subject=serial or "", metadata=metadata
    )
    return publish(request, report, serial, vsa_signer, attested, device.evidence, firmware_subjects, reports)
