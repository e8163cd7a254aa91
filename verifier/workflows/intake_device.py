"""Intake step 3: read the device with a fresh nonce (or load evidence read earlier), gate the TPM, and judge both.

Every check sees the strengths provcheck itself verified, not those the evidence states. A read from an
evidence file cannot show freshness: its facts and its quote are bound to the nonce the file records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attestations import predicates
from verifier.checks.attestations import VouchedStatement
from verifier.errors import ProvcheckError
from verifier.model import Finding, Status, failed, passed, skipped
from verifier.output.report_set import ReportSet
from verifier.policy.model import Policy
from verifier.workflows.guard import guard
from verifier.workflows.intake_request import IntakeRequest

if TYPE_CHECKING:
    from hw.evidence import DeviceEvidence
    from verifier.checks.device import DerivedEvidence

EVIDENCE_FILE = "evidence.json"


@dataclass(frozen=True)
class DeviceRead:
    """The device step's findings, the evidence as read, and the same evidence with the strengths provcheck verified."""

    findings: list[Finding]
    evidence: DeviceEvidence | None = None
    judged: DeviceEvidence | None = None


def read_and_judge_device(
    request: IntakeRequest,
    predicate: Mapping[str, Any] | None,
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
            holder.append(read_evidence(request, predicate, nonce, reports.staging if reports else None))
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
                result = _derived(raw, predicate, policy, nonce, from_file)
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
            if predicate is None:
                findings.append(
                    failed("hw.manifest", "the release declares no verified device manifest to compare with", "device")
                )
            else:
                seen, declared = judged, predicate
                findings += guard(
                    "hw.compare", "device", lambda: _check_device(seen, declared, policy, nonce, from_file)
                )
            findings += check_required_fields(judged, policy)
            read_ok = judged
            # A quote in an evidence file was made earlier: it must carry the nonce the file records (the same
            # binding its signed facts have); whether that read was fresh is hw.nonce's finding, not the quote's.
            quote_nonce = nonce
            if from_file:
                from verifier.checks.device import recorded_nonce

                quote_nonce = recorded_nonce(judged) or nonce
            findings += guard("tpm", "tpm", lambda: _check_tpm(read_ok, predicate, vouched, policy, quote_nonce))
    elif policy.device.required:
        findings.append(skipped("hw.read", "the policy requires reading the device; give --port", "device"))
    if evidence is None and (policy.tpm.require_quote or policy.tpm.require_secure_boot) and not policy.device.required:
        findings.append(skipped("tpm.quote", "the policy requires TPM evidence, but no device was read", "tpm"))
    return DeviceRead(findings, evidence, judged)


def device_metadata(predicate: Mapping[str, Any] | None, device: DeviceRead) -> dict[str, Any]:
    """The report's ``device`` and ``component_diff`` sections, when a device was read."""
    if device.evidence is None or device.judged is None:
        return {}
    return {"device": device_identity(device.judged), "component_diff": component_diff(predicate, device.judged)}


def declared_device_manifest(vouched: Sequence[VouchedStatement]) -> Mapping[str, Any] | None:
    for item in vouched:
        if item.statement.predicate_type == predicates.DEVICE_MANIFEST:
            return item.statement.predicate
    return None


def _manifest_object(predicate: Mapping[str, Any], policy: Policy) -> Any:
    from verifier.declared.device_manifest import manifest_from_predicate

    data = dict(predicate)
    if policy.device.component_serials == "ignore":
        data["components"] = [
            {**c, "serial": None} if isinstance(c, Mapping) else c for c in data.get("components") or []
        ]
    return manifest_from_predicate(data)


def read_evidence(
    request: IntakeRequest, predicate: Mapping[str, Any] | None, nonce: bytes, transcript_dir: Path | None
) -> DeviceEvidence:
    from hw.evidence import DeviceEvidence
    from hw.reader import read_device

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
        regions=_manifest_object(predicate, request.policy).region_specs() if predicate is not None else [],
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


def component_diff(predicate: Mapping[str, Any] | None, evidence: DeviceEvidence) -> list[dict[str, Any]]:
    """Declared against observed components, matched by class, manufacturer and model."""
    declared = [c for c in (predicate or {}).get("components") or [] if isinstance(c, Mapping)]
    observed = list(evidence.components)
    keys = ("manufacturer", "model", "serial", "revision")
    out: list[dict[str, Any]] = []
    used: set[int] = set()
    for item in declared:
        shown = {k: item.get(k) for k in keys}
        match = next(
            (
                i
                for i, c in enumerate(observed)
                if i not in used
                and c.cls == item.get("class")
                and (c.model, c.manufacturer) == (item.get("model"), item.get("manufacturer"))
            ),
            None,
        )
        if match is None:
            match = next((i for i, c in enumerate(observed) if i not in used and c.cls == item.get("class")), None)
        if match is None:
            out.append({"change": "removed", "class": item.get("class"), "declared": shown, "observed": None})
            continue
        used.add(match)
        seen = observed[match]
        seen_shown = {k: getattr(seen, k) for k in keys}
        differs = any(shown[k] not in (None, "") and shown[k] != seen_shown[k] for k in keys)
        out.append(
            {
                "change": "changed" if differs else "matched",
                "class": item.get("class"),
                "declared": shown,
                "observed": seen_shown,
            }
        )
    for i, c in enumerate(observed):
        if i not in used:
            out.append(
                {"change": "added", "class": c.cls, "declared": None, "observed": {k: getattr(c, k) for k in keys}}
            )
    return out


def device_serial(evidence: DeviceEvidence | None) -> str | None:
    if evidence is None:
        return None
    fact = evidence.fact("serial")
    return str(fact.value) if fact is not None and fact.value else None


def _derived(
    evidence: DeviceEvidence, predicate: Mapping[str, Any] | None, policy: Policy, nonce: bytes, from_file: bool
) -> DerivedEvidence:
    """The evidence with each strength re-derived: signed only over this run's nonce (or, for a file, its own)."""
    from verifier.checks.device import derive_strengths, recorded_nonce

    identity = None
    if predicate is not None:
        try:
            identity = _manifest_object(predicate, policy).identity
        except ProvcheckError:
            identity = None  # an unreadable manifest is judged (and reported) by the comparison itself
    binding = recorded_nonce(evidence) if from_file else nonce
    return derive_strengths(evidence, identity, nonce=binding, ak_bound=policy.tpm.ak_binding != "none")


def _unverified(evidence: DeviceEvidence) -> DeviceEvidence:
    """The evidence with nothing verified: every fact counts as the device's word."""
    from verifier.checks.device import derive_strengths

    return derive_strengths(replace(evidence, attestation=None, tpm=None), None, nonce=None).evidence


def _check_device(
    evidence: DeviceEvidence, predicate: Mapping[str, Any], policy: Policy, nonce: bytes, from_file: bool
) -> list[Finding]:
    from verifier.checks.device import check_device

    manifest = _manifest_object(predicate, policy)
    findings = check_device(
        evidence,
        manifest,
        required_strength={k: v.value for k, v in policy.device.required_strength.items()},
        expected_nonce=None if from_file else nonce,
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
    predicate: Mapping[str, Any] | None,
    vouched: Sequence[VouchedStatement],
    policy: Policy,
    nonce: bytes,
) -> list[Finding]:
    declares_boot = isinstance(predicate, Mapping) and bool(predicate.get("boot_measurements"))
    wanted = policy.tpm.require_quote or policy.tpm.require_secure_boot or policy.tpm.ak_binding != "none"
    if evidence.tpm is None and not wanted and not declares_boot:
        return []
    from verifier.checks.measured_boot import check_measured_boot, declared_authenticode

    declared = declared_authenticode(
        v.statement.predicate for v in vouched if v.statement.predicate_type == predicates.FIRMWARE_MANIFEST
    )
    findings: list[Finding] = check_measured_boot(
        evidence.tpm.to_json() if evidence.tpm is not None else None,
        declared_authenticode=declared,
        manifest=predicate,
        nonce=nonce,
        # Binding an AK means nothing without a quote made by it: a binding rule requires the quote.
        require_quote=policy.tpm.require_quote or policy.tpm.ak_binding != "none",
        require_secure_boot=policy.tpm.require_secure_boot,
        ak_binding=policy.tpm.ak_binding,
        pinned_ak_keyids=policy.tpm.pinned_ak_keyids,
    )
    return findings
