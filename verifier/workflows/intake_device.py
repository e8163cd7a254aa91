"""Intake step 3: read the device with a fresh nonce (or load evidence read earlier), gate the TPM, and judge both.

Every check sees the strengths provcheck itself verified, not those the evidence states. A read from an
evidence file cannot show freshness: its facts and its quote are bound to the nonce the file records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from attestations import predicates
from hw.evidence import DeviceEvidence
from hw.reader import read_device
from verifier.checks.attestations import VouchedStatement
from verifier.checks.components import component_diff
from verifier.checks.device import DerivedEvidence, check_device, derive_strengths, recorded_nonce
from verifier.checks.measured_boot import check_measured_boot, declared_authenticode, tpm_inputs
from verifier.checks.spdm import spdm_rules
from verifier.declared.device_manifest import DeviceManifest, manifest_from_predicate
from verifier.errors import BadInputError
from verifier.model import Finding, Status, failed, passed, skipped
from verifier.output.report_set import ReportSet
from verifier.policy.model import Policy
from verifier.workflows.guard import guard
from verifier.workflows.intake_request import IntakeRequest

EVIDENCE_FILE = "evidence.json"


@dataclass(frozen=True)
class DeviceRead:
    """The device step's findings, the evidence as read, and the same evidence with the strengths provcheck verified."""

    findings: list[Finding]
    evidence: DeviceEvidence | None = None
    judged: DeviceEvidence | None = None


def read_and_judge_device(
    request: IntakeRequest,
    manifest: DeviceManifest | BadInputError | None,
    vouched: Sequence[VouchedStatement],
    nonce: bytes,
    reports: ReportSet | None,
) -> DeviceRead:
    """Read the device (or its evidence file), judge it against the declared manifest, and judge its TPM."""
    policy = request.policy
    findings: list[Finding] = []
    evidence: DeviceEvidence | None = None
    judged: DeviceEvidence | None = None
    from_file = request.evidence is not None
    if request.port is not None or request.evidence is not None:
        where = request.port or str(request.evidence)
        holder: list[DeviceEvidence] = []

        def read() -> list[Finding]:
            holder.append(read_evidence(request, manifest, nonce, reports.staging if reports else None))
            return []

        findings += guard("hw.read", where, read)
        if holder:
            evidence = holder[0]
            if reports is not None:
                evidence = reports.adopt(evidence)
                reports.add(EVIDENCE_FILE, evidence.to_bytes())
            # Every check below sees the strengths provcheck verified, not those the evidence states.
            derived: list[DeviceEvidence] = []
            raw = evidence

            def derive() -> list[Finding]:
                result = _derived(raw, manifest, policy, nonce, from_file)
                derived.append(result.evidence)
                # The signature findings come with the comparison; here, only what the evidence overstated.
                return [f for f in result.findings if f.check == "hw.strength"]

            findings += guard("hw.strength", where, derive)
            judged = derived[0] if derived else _unverified(evidence)
            findings.append(
                passed(
                    "hw.read",
                    f"read the device over {evidence.profile} profile",
                    where,
                    transcript_sha256=evidence.transcript.get("sha256"),
                )
            )
            if manifest is None:
                findings.append(
                    failed("hw.manifest", "the release declares no verified device manifest to compare with", "device")
                )
            else:
                seen, declared = judged, manifest
                findings += guard(
                    "hw.compare", "device", lambda: _check_device(seen, declared, policy, nonce, from_file)
                )
            findings += check_required_fields(judged, policy)
            read_ok = judged
            # A quote in an evidence file was made earlier: it must carry the nonce the file records (the same
            # binding its signed facts have); whether that read was fresh is hw.nonce's finding, not the quote's.
            quote_nonce = nonce
            if from_file:
                quote_nonce = recorded_nonce(judged) or nonce
            findings += guard("tpm", "tpm", lambda: _check_tpm(read_ok, manifest, vouched, policy, quote_nonce))
    elif policy.device.required:
        findings.append(skipped("hw.read", "the policy requires reading the device; give --port", "device"))
    if evidence is None and (policy.tpm.require_quote or policy.tpm.require_secure_boot) and not policy.device.required:
        findings.append(skipped("tpm.quote", "the policy requires TPM evidence, but no device was read", "tpm"))
    return DeviceRead(findings, evidence, judged)


def device_metadata(manifest: DeviceManifest | BadInputError | None, device: DeviceRead) -> dict[str, Any]:
    """The report's ``device`` and ``component_diff`` sections, when a device was read (no diff against a
    manifest that could not be read)."""
    if device.evidence is None or device.judged is None:
        return {}
    out: dict[str, Any] = {"device": device_identity(device.judged)}
    if not isinstance(manifest, BadInputError):
        out["component_diff"] = component_diff(manifest, device.judged.components)
    return out


def declared_device_manifest(vouched: Sequence[VouchedStatement]) -> DeviceManifest | BadInputError | None:
    """The release's device manifest, parsed once. A malformed one is kept as its error: each step that needs
    the manifest reports it as that step's bad input (``parsed_manifest``)."""
    for item in vouched:
        if item.statement.predicate_type == predicates.DEVICE_MANIFEST:
            try:
                return manifest_from_predicate(item.statement.predicate)
            except BadInputError as exc:
                return exc
    return None


def parsed_manifest(declared: DeviceManifest | BadInputError) -> DeviceManifest:
    """The manifest, or its bad input raised again for the step that needs it."""
    if isinstance(declared, BadInputError):
        raise BadInputError(str(declared))
    return declared


def read_evidence(
    request: IntakeRequest, manifest: DeviceManifest | BadInputError | None, nonce: bytes, transcript_dir: Path | None
) -> DeviceEvidence:
    if request.evidence is not None:
        return DeviceEvidence.load(request.evidence)
    assert request.port is not None
    return read_device(
        request.port,
        profile=request.profile,
        baud=request.baud,
        timeout=request.timeout,
        nonce=nonce,
        transcript_dir=transcript_dir,
        regions=parsed_manifest(manifest).region_specs() if manifest is not None else [],
        username=request.username,
        password=request.password,
        read_timeout=request.read_timeout,
        max_dump_bytes=request.max_dump,
        prompt=request.prompt,
    )


def check_required_fields(evidence: DeviceEvidence, policy: Policy) -> list[Finding]:
    findings = []
    for name in sorted(policy.device.required_fields):
        if name == "components":
            present = bool(evidence.components)
        elif name == "firmware_regions":
            present = bool(evidence.regions)
        elif name == "identity_key":
            present = evidence.identity_key is not None
        elif name == "tpm":
            present = evidence.tpm is not None
        else:
            fact = evidence.fact(name)
            present = fact is not None and fact.value not in (None, "", [])
        if present:
            findings.append(passed("policy.device-field", f"the device reported its {name}", name))
        else:
            findings.append(
                failed("policy.device-field", f"the policy requires the device's {name}, which it did not give", name)
            )
    if policy.device.component_serials == "require":
        for component in evidence.components:
            if not component.serial:
                findings.append(
                    failed(
                        "policy.component-serial",
                        f"the policy requires component serials; the {component.cls} {component.model or ''} "
                        "reported none",
                        f"{component.cls}",
                    )
                )
    return findings


def device_identity(evidence: DeviceEvidence) -> dict[str, Any]:
    out: dict[str, Any] = {"profile": evidence.profile, "port": evidence.port}
    for name, fact in evidence.identity.items():
        out[name] = f"{fact.value} ({fact.strength})"
    if evidence.identity_key is not None:
        out["identity key sha256"] = evidence.identity_key.fingerprint_sha256
    out["nonce"] = evidence.nonce
    out["transcript sha256"] = evidence.transcript.get("sha256")
    return out


def device_serial(evidence: DeviceEvidence | None) -> str | None:
    if evidence is None:
        return None
    fact = evidence.fact("serial")
    return str(fact.value) if fact is not None and fact.value else None


def _derived(
    evidence: DeviceEvidence,
    manifest: DeviceManifest | BadInputError | None,
    policy: Policy,
    nonce: bytes,
    from_file: bool,
) -> DerivedEvidence:
    """The evidence with each strength re-derived: signed only over this run's nonce (or, for a file, its own)."""
    # An unreadable manifest declares no identity here; the comparison itself judges (and reports) it.
    identity = manifest.identity if isinstance(manifest, DeviceManifest) else None
    binding = recorded_nonce(evidence) if from_file else nonce
    return derive_strengths(evidence, identity, nonce=binding, ak_bound=policy.tpm.ak_binding != "none")


def _unverified(evidence: DeviceEvidence) -> DeviceEvidence:
    """The evidence with nothing verified: every fact counts as the device's word."""
    return derive_strengths(replace(evidence, attestation=None, tpm=None), None, nonce=None).evidence


def _check_device(
    evidence: DeviceEvidence,
    declared: DeviceManifest | BadInputError,
    policy: Policy,
    nonce: bytes,
    from_file: bool,
) -> list[Finding]:
    manifest = parsed_manifest(declared)
    findings = check_device(
        evidence,
        manifest,
        required_strength={k: v.value for k, v in policy.device.required_strength.items()},
        expected_nonce=None if from_file else nonce,
        component_serials=policy.device.component_serials,
        spdm=spdm_rules(policy.spdm.min_version.value, policy.spdm.allowed_algorithms),
    )
    if not policy.device.region_digests:
        # The policy accepts a device that cannot measure a region; a region that was measured and differs still fails.
        findings = [
            replace(f, required=False, message=f"{f.message} (not required by policy)")
            if f.check == "hw.region" and f.status is Status.SKIP
            else f
            for f in findings
        ]
    if policy.device.component_serials == "require":
        for component in manifest.components:
            if not component.serial:
                findings.append(
                    failed(
                        "policy.component-serial",
                        f"the policy requires component serials; the manifest declares none for {component.label()}",
                        component.label(),
                    )
                )
    if policy.device.require_nonce and from_file:
        findings.append(
            failed(
                "hw.nonce",
                f"the evidence was read earlier (nonce {str(evidence.nonce)[:16]}…), not with this intake's nonce; "
                "freshness cannot be shown for a file, and the policy requires it",
                "nonce",
                recorded=evidence.nonce,
            )
        )
    elif policy.device.require_nonce and evidence.nonce != nonce.hex():
        findings.append(failed("hw.nonce", "the evidence is not bound to this intake's nonce", "nonce"))
    return findings


def _check_tpm(
    evidence: DeviceEvidence,
    manifest: DeviceManifest | BadInputError | None,
    vouched: Sequence[VouchedStatement],
    policy: Policy,
    nonce: bytes,
) -> list[Finding]:
    declares_boot = isinstance(manifest, DeviceManifest) and manifest.declares_boot_measurements
    wanted = policy.tpm.require_quote or policy.tpm.require_secure_boot or policy.tpm.ak_binding != "none"
    if evidence.tpm is None and not wanted and not declares_boot:
        return []

    boot = parsed_manifest(manifest).boot if manifest is not None else None
    authenticode = declared_authenticode(
        v.statement.predicate for v in vouched if v.statement.predicate_type == predicates.FIRMWARE_MANIFEST
    )
    findings: list[Finding] = check_measured_boot(
        tpm_inputs(evidence.tpm) if evidence.tpm is not None else None,
        declared_authenticode=authenticode,
        boot=boot,
        nonce=nonce,
        # Binding an AK means nothing without a quote made by it: a binding rule requires the quote.
        require_quote=policy.tpm.require_quote or policy.tpm.ak_binding != "none",
        require_secure_boot=policy.tpm.require_secure_boot,
        ak_binding=policy.tpm.ak_binding,
        pinned_ak_keyids=policy.tpm.pinned_ak_keyids,
    )
    return findings
