"""Intake step 5: the report's metadata, the signed VSA, the report set on disk and the history record.

The report directory is written as one set (verifier/output/report_set.py): staged, then renamed in.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attestations import predicates
from attestations.keys import Signer
from attestations.statement import Subject
from verifier.checks.attestations import VouchedStatement
from verifier.model import Report, Verdict
from verifier.output.report_set import ReportSet
from verifier.output.sanitize import storable
from verifier.policy.model import Policy
from verifier.workflows.history import History
from verifier.workflows.intake_release import AttestedRelease
from verifier.workflows.intake_request import IntakeRequest, IntakeResult
from verifier.workflows.vsa import DeviceIdentity, build_vsa, input_attestations, sign_vsa

if TYPE_CHECKING:
    from hw.evidence import DeviceEvidence

VSA_FILE = "vsa.intoto.jsonl"


def evidence_chain(vouched: Sequence[VouchedStatement]) -> list[dict[str, Any]]:
    return [
        {
            "predicate_type": item.statement.predicate_type,
            "kind": predicates.describe(item.statement.predicate_type),
            "subject": ", ".join(s.name for s in item.statement.subjects),
            "digests": {"sha256": ", ".join(s.digests.get("sha256", "?")[:16] for s in item.statement.subjects)},
            "signers": list(item.signers),
            "status": "pass",
            "source": item.source,
        }
        for item in vouched
    ]


def report_metadata(
    request: IntakeRequest, started: datetime, index: Mapping[str, Any], vouched: Sequence[VouchedStatement]
) -> dict[str, Any]:
    """When, which release (as its signed index names it), under which policy, and the chain of evidence."""
    policy = request.policy
    return {
        "generated_at": started.isoformat(timespec="seconds"),
        "release": {
            # Only the signed release index names the release; index.json is an unsigned convenience file.
            "name": index.get("name") or request.release.name,
            "version": index.get("version", ""),
            "created": index.get("created", ""),
            "path": str(request.release),
        },
        "policy": {"sources": [str(p) for p in policy.sources], "sha256": policy.digest},
        "evidence_chain": evidence_chain(vouched),
    }


def inventory_metadata(
    evidence: DeviceEvidence | None, firmware: Path | None, digests: Mapping[str, str]
) -> dict[str, Any]:
    """The report's ``inventory``: the device and its parts as seen (with the strengths provcheck derived), the
    regions it measured, and the firmware file with its digests. The values are kept exact (report.json, the
    CycloneDX BOM); what a person reads is escaped by the renderers."""
    out: dict[str, Any] = {}
    if evidence is not None:
        device = {name: {"value": fact.value, "strength": fact.strength} for name, fact in evidence.identity.items()}
        if evidence.identity_key is not None:
            key = evidence.identity_key
            device["identity_key_sha256"] = {"value": key.fingerprint_sha256, "strength": key.strength}
        out["device"] = device
        out["components"] = [component.to_json() for component in evidence.components]
        out["regions"] = [region.to_json() for region in evidence.regions]
    if firmware is not None and digests:
        out["firmware"] = [{"name": firmware.name, "digests": dict(digests)}]
    return {"inventory": out} if out else {}


def publish(
    request: IntakeRequest,
    report: Report,
    serial: str | None,
    vsa_signer: Signer | None,
    attested: AttestedRelease,
    evidence: DeviceEvidence | None,
    firmware: Sequence[Subject],
    reports: ReportSet | None,
) -> IntakeResult:
    """Sign the VSA, write the report set, and append the history record."""
    vsa_json: dict[str, Any] | None = None
    files: dict[str, Path] = {}
    if vsa_signer is not None:
        vsa_json = _sign_vsa(request.policy, vsa_signer, report.verdict, attested, evidence, firmware)
        if reports is not None:
            vsa_line = json.dumps(vsa_json, sort_keys=True, separators=(",", ":")).encode() + b"\n"
            files["vsa"] = reports.add(VSA_FILE, vsa_line)
        report = Report(
            report.title,
            report.findings,
            report.strict,
            report.subject,
            {
                **report.metadata,
                "vsa": {"file": VSA_FILE, "result": "PASSED" if report.verdict is Verdict.PASS else "FAILED"},
            },
        )
    if reports is not None:
        files.update(reports.commit(report))
    seq = None
    if request.record_history:
        record = History(request.history_db).append(
            serial=storable(serial or "unknown"), verdict=report.verdict.value, report=report.to_json(), vsa=vsa_json
        )
        seq = record.seq
    return IntakeResult(report, files, vsa_json, seq)


def _sign_vsa(
    policy: Policy,
    signer: Signer,
    verdict: Verdict,
    attested: AttestedRelease,
    evidence: DeviceEvidence | None,
    firmware: Sequence[Subject],
) -> dict[str, Any]:
    device = None
    if evidence is not None:

        def value(name: str) -> str:
            fact = evidence.fact(name)
            return str(fact.value) if fact is not None and fact.value else ""

        device = DeviceIdentity(
            value("manufacturer"), value("model"), value("serial"), hashlib.sha256(evidence.to_bytes()).hexdigest()
        )
    sources = policy.sources
    subjects, predicate = build_vsa(
        verdict=verdict,
        policy_uri=sources[0].resolve().as_uri() if len(sources) == 1 else "urn:provcheck:policy:all-of",
        policy_sha256=policy.digest,
        inputs=input_attestations(attested.bundle, attested.envelopes),
        device=device,
        firmware=firmware,
    )
    return sign_vsa(subjects, predicate, signer).to_json()
