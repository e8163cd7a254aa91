"""Judge DeviceEvidence against a DeviceManifest.

Checks (ids): ``hw.evidence``, ``hw.manufacturer``, ``hw.model``, ``hw.board-revision``,
``hw.serial-number``, ``hw.components``, ``hw.region`` here; ``hw.identity-key``,
``hw.attest-signature`` and ``hw.nonce`` in ``verifier.checks.device_signature``;
``hw.strength`` and ``hw.self-reported`` in ``verifier.checks.strength``.

The evidence file is not trusted either: every fact counts at the strength provcheck itself
verified (``derive_strengths``), never the one the file states.
TPM quotes and event logs are judged by ``verifier.checks.measured_boot``.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping

from hw.evidence import DeviceEvidence, RegionDigest
from hw.observation import beyond_profile, observed
from verifier.checks.components import (
    describe_declared,
    describe_found,
    differing,
    matches,
    norm,
)
from verifier.checks.device_signature import check_attestation, check_identity_key, check_nonce
from verifier.checks.measured_boot import check_measured_boot, tpm_inputs
from verifier.checks.spdm import SpdmRules, anchors_from_pem, judge_spdm
from verifier.checks.strength import (
    DerivedEvidence,
    check_strength,
    derive_strengths,
    recorded_nonce,
    self_reported,
)
from verifier.declared.device_model import DeclaredComponent, DeclaredRegion, DeviceManifest
from verifier.model import Finding, errored, failed, passed, skipped, warned
from verifier.policy.model import ComponentSerials

__all__ = [
    "DerivedEvidence",
    "check_attestation",
    "check_components",
    "check_device",
    "check_identity_fields",
    "check_identity_key",
    "check_nonce",
    "check_regions",
    "check_serial",
    "check_strength",
    "derive_strengths",
    "recorded_nonce",
    "self_reported",
    "tpm_findings",
]


def check_device(
    evidence: DeviceEvidence,
    manifest: DeviceManifest,
    *,
    required_strength: Mapping[str, str] | None = None,
    expected_nonce: bytes | None = None,
    now: datetime.datetime | None = None,
    component_serials: ComponentSerials = ComponentSerials.MATCH,
    spdm: SpdmRules | None = None,
) -> list[Finding]:
    """Judge the evidence against the manifest, each fact at the strength provcheck itself verified.

    ``expected_nonce`` is the nonce this verification chose (a live read); without it the evidence
    was read earlier, and signed facts are bound to the nonce it records, which shows no freshness.
    """
    derived = derive_strengths(evidence, manifest.identity, nonce=expected_nonce or recorded_nonce(evidence), now=now)
    evidence = derived.evidence
    findings: list[Finding] = [_evidence_finding(evidence), *derived.findings]
    findings += check_identity_fields(evidence, manifest)
    findings += check_serial(evidence, manifest)
    findings += check_components(evidence, manifest, component_serials)
    findings += check_regions(evidence, manifest)
    findings += check_identity_key(evidence, manifest.identity, now=now)
    findings += check_nonce(evidence, expected_nonce)
    findings += check_strength(evidence, required_strength or {})
    findings.append(self_reported(evidence))
    if evidence.profile == "spdm":
        findings += _spdm_findings(evidence, manifest, expected_nonce or recorded_nonce(evidence), now, spdm)
    return findings


def _spdm_findings(
    evidence: DeviceEvidence,
    manifest: DeviceManifest,
    nonce: bytes | None,
    now: datetime.datetime | None,
    rules: SpdmRules | None,
) -> list[Finding]:
    """An SPDM responder's exchange, judged against the manifest's CA (``verifier.checks.spdm``)."""
    ca_pem = manifest.identity.ca_pem if manifest.identity is not None else None
    try:
        anchors = anchors_from_pem([ca_pem]) if ca_pem else []
    except ValueError as exc:
        return [errored("spdm.chain", f"the manifest's identity CA is not a PEM certificate: {exc}", "spdm")]
    declared = {m.index: m.value for m in manifest.spdm_measurements}
    return list(judge_spdm(evidence, anchors, nonce=nonce, rules=rules, declared=declared, now=now).findings)


def _evidence_finding(evidence: DeviceEvidence) -> Finding:
    digest = evidence.transcript.get("sha256")
    if not isinstance(digest, str) or not re.fullmatch(r"[0-9a-f]{64}", digest):
        return warned(
            "hw.evidence", "the evidence carries no transcript hash: the session cannot be audited", "evidence"
        )
    truncated = bool(evidence.transcript.get("truncated"))
    message = f"read over {evidence.profile} in {evidence.timings.get('total_seconds', 0):.1f} s; transcript sha256 "
    message += f"{digest[:16]}..." + (" (transcript truncated at its cap)" if truncated else "")
    return passed("hw.evidence", message, "evidence", transcript_sha256=digest, profile=evidence.profile)


# --- identity strings ------------------------------------------------------------------------------------


def check_identity_fields(evidence: DeviceEvidence, manifest: DeviceManifest) -> list[Finding]:
    out = []
    for check, name, declared in (
        ("hw.manufacturer", "manufacturer", manifest.manufacturer),
        ("hw.model", "model", manifest.model),
        ("hw.board-revision", "board_revision", manifest.board_revision),
    ):
        if declared is None:
            continue
        fact = evidence.fact(name)
        label = name.replace("_", " ")
        if fact is None or not fact.value:
            if evidence.profile == "spdm" and name != "board_revision":
                # An SPDM responder proves its chain and measurements, never a vendor or model string: the class is
                # the release's (a CoRIM's device class), not a shortfall of this device.
                out.append(skipped(check, f"the {label} is declared; an SPDM responder does not report one (its "
                                   "certificate chain and measurements are what it proves)", label, required=False))
                continue
            out.append(skipped(check, f"the {label} is declared but the device did not give one", label))
        elif norm(fact.value) == norm(declared):
            out.append(passed(check, f"{label} is {fact.value!r} ({fact.strength})", label, strength=fact.strength))
        else:
            out.append(
                failed(
                    check,
                    f"{label} is {fact.value!r}, the manifest declares {declared!r}",
                    label,
                    found=fact.value,
                    declared=declared,
                    strength=fact.strength,
                )
            )
    return out


def check_serial(evidence: DeviceEvidence, manifest: DeviceManifest) -> list[Finding]:
    rule = manifest.serial
    if rule is None:
        return []
    fact = evidence.fact("serial")
    if fact is None or not isinstance(fact.value, str) or not fact.value:
        return [skipped("hw.serial-number", "a serial number is declared but the device did not give one", "serial")]
    serial = fact.value[:256]
    problems = []
    if rule.exact and serial not in rule.exact:
        problems.append("is not one of the declared serial numbers")
    if rule.pattern is not None and re.fullmatch(rule.pattern, serial) is None:
        problems.append(f"does not match the pattern {rule.pattern!r}")
    if problems:
        return [
            failed(
                "hw.serial-number",
                f"serial {serial!r} " + " and ".join(problems),
                "serial",
                found=serial,
                declared=rule.to_json(),
                strength=fact.strength,
            )
        ]
    return [passed("hw.serial-number", f"serial {serial!r} is declared ({fact.strength})", "serial",
                   strength=fact.strength)]


# --- components ------------------------------------------------------------------------------------------

def check_components(
    evidence: DeviceEvidence, manifest: DeviceManifest, serials: ComponentSerials = ComponentSerials.MATCH
) -> list[Finding]:
    """Each declared component (as many as its quantity) against those the device showed, under the policy's
    serial rule; the finding carries the diff (added, removed, changed)."""
    visible = observed(evidence)
    declared = list(manifest.components)
    if not declared and not evidence.components:
        return []
    out: list[Finding] = []
    unseen = [c for c in declared if not visible.sees(c.cls)]
    for component in unseen:
        # Only a class the profile cannot see may go unchecked without a word; the file's own say-so may not.
        excused = beyond_profile(evidence, component.cls)
        out.append(
            skipped(
                "hw.components",
                f"the {evidence.profile} profile cannot see {component.cls} components" if excused else
                f"the {evidence.profile} evidence does not state that it observed {component.cls} components",
                component.label(),
                required=not excused,
            )
        )
    checkable = [c for c in declared if c not in unseen]
    remaining = list(evidence.components)
    unmatched: list[DeclaredComponent] = []
    for component in checkable:
        # Every profile: two identical flash chips are one declaration of quantity 2, not one chip and an extra.
        for _ in range(max(1, component.quantity)):
            hit = next((f for f in remaining if matches(component, f, serials)), None)
            if hit is None:
                unmatched.append(component)
                break
            remaining.remove(hit)
    changed, removed = [], []
    for component in unmatched:
        same_class = next((f for f in remaining if norm(f.cls) == norm(component.cls)), None)
        if same_class is not None:
            remaining.remove(same_class)
            changed.append((component, same_class))
        else:
            removed.append(component)
    added = remaining
    diff = {
        "added": [describe_found(c) for c in added],
        "removed": [describe_declared(c, serials) for c in removed],
        "changed": [
            {"declared": describe_declared(d, serials), "found": describe_found(f), "fields": differing(d, f, serials)}
            for d, f in changed
        ],
    }
    lines = [f"+ {c.cls} {c.manufacturer or '?'} {c.model or '?'}" for c in added]
    lines += [f"- {c.label()}" + ("" if c.required else " (optional)") for c in removed]
    for d, f in changed:
        fields = [f"{n} {getattr(d, n)!r} -> {getattr(f, n)!r}" for n in differing(d, f, serials)]
        lines.append(f"~ {d.cls}: " + ", ".join(fields))
    hard = bool(added or changed or any(c.required for c in removed))
    strengths = sorted({c.strength for c in evidence.components})
    if not lines:
        out.append(
            passed(
                "hw.components",
                f"{len(checkable)} declared component(s) found as declared ({', '.join(strengths) or 'none read'})",
                "components",
                diff=diff,
            )
        )
    elif hard:
        out.append(failed("hw.components", "components differ: " + "; ".join(lines), "components", diff=diff))
    else:
        out.append(warned("hw.components", "optional components missing: " + "; ".join(lines), "components",
                          diff=diff))
    return out


# --- firmware regions ------------------------------------------------------------------------------------


_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_CRC32_HEX = re.compile(r"[0-9a-f]{8}")


def _place(address: int | None, size: int | None, path: str | None) -> str:
    where = path if path is not None else (f"0x{address:x}" if address is not None else "no address")
    return f"{where}, {size if size is not None else '?'} bytes"


def _bound(found: RegionDigest, declared: DeclaredRegion) -> bool:
    """Whether the digest was taken where the region is declared: same address, size and path.

    A digest is only a statement about the bytes it was computed over. The same name
    measured at another address, over another length or from another device file says
    nothing about the declared region. A digest read from a device file is bound by that
    path (and size); one read from memory (U-Boot, attest) by its address (and size).
    """
    if declared.size is not None and found.size != declared.size:
        return False
    if found.path is not None:  # read from a device file (Linux): the file is where it came from
        return found.path == declared.path
    return declared.address is None or found.address == declared.address


def check_regions(evidence: DeviceEvidence, manifest: DeviceManifest) -> list[Finding]:
    out = []
    for region in manifest.firmware_regions:
        named = [r for r in evidence.regions if r.name == region.name]
        measured = [r for r in named if _bound(r, region)]
        elsewhere = [r for r in named if not _bound(r, region)]
        # Only a real sha256 counts against a sha256 declaration: a crc32 (or anything else) is never "strong",
        # whatever its weak flag or algorithm label says.
        strong = [r for r in measured if r.algorithm == "sha256" and not r.weak and _SHA256_HEX.fullmatch(r.digest)]
        weak = [r for r in measured if r.algorithm == "crc32" and _CRC32_HEX.fullmatch(r.digest)]
        subject = f"region {region.name}"
        declared_at = _place(region.address, region.size, region.path)
        if region.sha256 is None and region.crc32 is None:
            out.append(skipped("hw.region", f"{subject} declares no digest", subject, required=False))
            continue
        if elsewhere:
            other = elsewhere[0]
            found_at = _place(other.address, other.size, other.path)
            out.append(
                failed("hw.region", f"{subject} was measured at {found_at}; it is declared at {declared_at}",
                       subject, found_address=other.address, found_size=other.size, found_path=other.path,
                       declared_address=region.address, declared_size=region.size, declared_path=region.path)
            )
            continue
        if strong and region.sha256 is not None:
            best = strong[0]
            if all(r.digest == region.sha256 for r in strong):
                out.append(
                    passed("hw.region", f"{subject} sha256 at {declared_at} is the declared digest "
                           f"({best.method}, {best.strength})", subject, sha256=best.digest, method=best.method,
                           strength=best.strength, address=region.address, size=region.size)
                )
            else:
                bad = next(r for r in strong if r.digest != region.sha256)
                out.append(
                    failed("hw.region", f"{subject} sha256 at {declared_at} differs from the declared digest "
                           f"({bad.method})", subject, found=bad.digest, declared=region.sha256, method=bad.method,
                           strength=bad.strength, address=region.address, size=region.size)
                )
            continue
        if weak and region.crc32 is not None:
            if all(r.digest == region.crc32 for r in weak):
                out.append(
                    warned("hw.region", f"{subject} crc32 at {declared_at} matches, but crc32 only detects "
                           "accidents, not tampering", subject, crc32=weak[0].digest)
                )
            else:
                bad_crc = next(r for r in weak if r.digest != region.crc32)
                out.append(failed("hw.region", f"{subject} crc32 at {declared_at} differs from the declared value",
                                  subject, found=bad_crc.digest, declared=region.crc32))
            continue
        if weak:
            out.append(
                skipped("hw.region", f"{subject}: the device could only give crc32 (integrity-only) and the manifest "
                        "declares sha256; raise --max-dump or use a U-Boot with 'hash'", subject, crc32=weak[0].digest)
            )
            continue
        if measured:
            algorithms = ", ".join(sorted({r.algorithm for r in measured}))
            out.append(skipped("hw.region", f"{subject} was measured only with {algorithms}, which cannot stand for "
                               "the declared digest", subject))
            continue
        out.append(skipped("hw.region", f"{subject} is declared but was not measured", subject))
    return out


def tpm_findings(evidence: DeviceEvidence, manifest: DeviceManifest, expected_nonce: bytes | None) -> list[Finding]:
    """The measured-boot checks on the evidence's TPM object, when it has a quote or the manifest declares PCRs.

    ``check_device`` does not call this (intake runs the measured-boot checks with its own policy);
    ``provcheck device verify`` does.
    """
    if evidence.tpm is None or (evidence.tpm.quote is None and not manifest.declares_boot_measurements):
        return []
    nonce = expected_nonce
    if nonce is None and evidence.nonce:
        nonce = bytes.fromhex(evidence.nonce)
    return check_measured_boot(tpm_inputs(evidence.tpm), declared_authenticode=set(), boot=manifest.boot, nonce=nonce)
