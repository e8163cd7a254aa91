"""How strongly each device fact is known: derived from what provcheck itself verified, then judged.

``derive_strengths`` recomputes every fact's strength (``signed`` / ``measured`` / ``reported``)
from the signatures and quotes that verify, whatever the evidence file's labels say; a label can
only lower it (``hw.strength`` warns when the file claimed more). ``check_strength`` holds the
result to the policy's requirements, and ``self_reported`` lists what rests on the device's word.
"""

from __future__ import annotations

import base64
import datetime
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from hw.attest import decode_payload
from hw.evidence import Component, DeviceEvidence, Fact, RegionDigest
from hw.profile import ProfileFacts
from hw.spdm.verify import load_certificate
from verifier.checks.device_signature import check_identity_key, verify_attestation
from verifier.checks.measured_boot import quoted_strength
from verifier.checks.spdm import anchors_from_pem, judge_spdm
from verifier.declared.device_model import DeclaredIdentity
from verifier.model import Finding, Status, Strength, errored, failed, passed, skipped, warned

_RANK = {"signed": 3, "measured": 2, "reported": 1}


@dataclass(frozen=True)
class DerivedEvidence:
    """The evidence with every strength re-derived, the signature findings, and what was lowered and why."""

    evidence: DeviceEvidence
    findings: tuple[Finding, ...]
    lowered: tuple[str, ...]
    reason: str


def recorded_nonce(evidence: DeviceEvidence) -> bytes | None:
    """The nonce an evidence file says it was read with (what a signature over it can be checked against)."""
    if not evidence.nonce:
        return None
    try:
        return bytes.fromhex(evidence.nonce)
    except ValueError:
        return None


def _lower(label: str, ceiling: str) -> str:
    """A label in the evidence can only lower a strength, never raise it."""
    return label if _RANK.get(label, 0) and _RANK[label] <= _RANK[ceiling] else ceiling


FactKey = tuple[str | int | bool | None, ...]


def _consume(signed: Counter[FactKey], key: FactKey) -> bool:
    """Whether a signed copy of ``key`` is left, using it up: one signature covers one fact, not every duplicate."""
    if signed[key] <= 0:
        return False
    signed[key] -= 1
    return True


def _component_key(c: Component) -> FactKey:
    return (c.cls, c.manufacturer, c.model, c.serial, c.revision)


def _region_key(r: RegionDigest) -> FactKey:
    return (r.name, r.address, r.size, r.algorithm, r.digest, r.weak)


def derive_strengths(
    evidence: DeviceEvidence,
    identity: DeclaredIdentity | None,
    *,
    nonce: bytes | None,
    now: datetime.datetime | None = None,
    ak_bound: bool = True,
) -> DerivedEvidence:
    """Recompute every fact's strength from what verifies, whatever the evidence labels say.

    A fact is ``signed`` only when the attest signature verifies with the leaf of the presented chain,
    that leaf is the identity key the manifest declares (pinned or chaining to its CA), the signed
    payload carries ``nonce``, and the fact is exactly one the device signed. TPM values are
    ``signed`` only when the quote verifies over ``nonce`` and covers them, and, with ``ak_bound``
    False (a policy that binds the AK to nothing), never: a quote by a key the attacker brought
    proves nothing. Anything else is ``measured`` (region digests and PCRs computed on the device)
    or ``reported``.
    """
    findings: list[Finding] = []
    signed: ProfileFacts | None = None
    reason = ""
    if evidence.attestation is None:
        reason = "the evidence carries no signed measurements"
    else:
        signature_findings, rebuilt = verify_attestation(evidence)
        findings += signature_findings
        if rebuilt is None:
            reason = "the signed measurements do not verify"
        else:
            reason = _anchor_problem(evidence, identity, now) or _nonce_problem(evidence, nonce)
            signed = None if reason else rebuilt

    spdm_subject = _spdm_proven(evidence, identity, nonce, now)

    def ceiling(verified: bool, otherwise: str) -> str:
        return "signed" if (signed is not None or spdm_subject is not None) and verified else otherwise

    lowered: list[str] = []

    def note(name: str, before: str, after: str) -> str:
        if after != before:
            lowered.append(f"{name} ({before} -> {after})")
        return after

    identity_facts: dict[str, Fact] = {}
    for name, fact in evidence.identity.items():
        same = signed is not None and name in signed.identity and signed.identity[name].value == fact.value
        same = same or (spdm_subject is not None and name == "subject" and fact.value == spdm_subject)
        strength = note(f"identity.{name}", fact.strength, _lower(fact.strength, ceiling(same, "reported")))
        identity_facts[name] = replace(fact, strength=strength)
    signed_components = Counter(_component_key(c) for c in (signed.components if signed else ()))
    components = []
    for c in evidence.components:
        same = _consume(signed_components, _component_key(c))
        strength = note(f"component.{c.cls}", c.strength, _lower(c.strength, ceiling(same, "reported")))
        components.append(replace(c, strength=strength))
    signed_regions = Counter(_region_key(r) for r in (signed.regions if signed else ()))
    regions = []
    for r in evidence.regions:
        same = _consume(signed_regions, _region_key(r))
        # A digest the file says the attest protocol signed, but that no verified signature covers, is hearsay.
        unsigned = "reported" if r.method == "attest" else "measured"
        strength = note(f"region.{r.name}", r.strength, _lower(r.strength, ceiling(same, unsigned)))
        regions.append(replace(r, strength=strength))
    identity_key = evidence.identity_key
    if identity_key is not None:
        strength = note("identity_key", identity_key.strength, _lower(identity_key.strength, ceiling(True, "reported")))
        identity_key = replace(identity_key, strength=strength)
    tpm = evidence.tpm
    tpm_reason = ""
    if tpm is not None:
        quoted, tpm_reason = quoted_strength(tpm, nonce)
        if quoted == "signed" and not ak_bound:
            quoted, tpm_reason = "measured", "nothing binds the quoting AK to a TPM ([tpm] ak_binding is none)"
        strength = note("tpm.pcrs", tpm.strength, _lower(tpm.strength, quoted))
        tpm = replace(tpm, strength=strength)
    derived = replace(
        evidence,
        identity=identity_facts,
        components=tuple(components),
        regions=tuple(regions),
        identity_key=identity_key,
        tpm=tpm,
    )
    claimed = [item for item in lowered if "(signed ->" in item]
    if claimed:
        why = "; ".join(w for w in (reason if signed is None else "", tpm_reason) if w) or (
            "those values are not the ones the device signed"
        )
        findings.append(
            warned(
                "hw.strength",
                f"the evidence labels {', '.join(claimed)} as signed, but provcheck could not verify a signature "
                f"over them ({why}); they count at the strength shown",
                "evidence",
                lowered=claimed,
            )
        )
    return DerivedEvidence(derived, tuple(findings), tuple(lowered), reason)


def _spdm_proven(
    evidence: DeviceEvidence, identity: DeclaredIdentity | None, nonce: bytes | None, now: datetime.datetime | None
) -> str | None:
    """The leaf certificate's subject when the SPDM exchange verifies to the declared CA over ``nonce``, else None.

    Only the manifest's CA anchors it: the exchange proves the leaf key, and with it the leaf's subject and the
    identity key, once both signatures verify over this nonce and the chain reaches that CA by key.
    """
    if evidence.profile != "spdm" or evidence.spdm is None or identity is None or not identity.ca_pem:
        return None
    try:
        anchors = anchors_from_pem([identity.ca_pem])
    except ValueError:
        return None
    verdict = judge_spdm(evidence, anchors, nonce=nonce, now=now)
    if not (verdict.signature_ok and verdict.chain_ok) or verdict.exchange is None:
        return None
    chain = verdict.exchange.chain(evidence.spdm.slot)
    if chain is None:
        return None
    return load_certificate(chain.certs[-1]).subject.rfc4514_string()[:256]


def _anchor_problem(
    evidence: DeviceEvidence, identity: DeclaredIdentity | None, now: datetime.datetime | None
) -> str:
    """Why the key that signed the measurements is not known to be this vendor's device key ('' when it is)."""
    if identity is None or not (identity.ca_pem or identity.public_key_pem or identity.fingerprint_sha256):
        return "the manifest declares no device identity key, so nothing ties the signing key to the vendor"
    (finding,) = check_identity_key(evidence, identity, now=now)
    if finding.status is not Status.PASS:
        return f"the signing key is not the declared device key: {finding.message}"
    return ""


def _nonce_problem(evidence: DeviceEvidence, nonce: bytes | None) -> str:
    """Why the signed measurements are not bound to ``nonce`` ('' when they are)."""
    if nonce is None:
        return "no nonce is known to check the signature's freshness against"
    assert evidence.attestation is not None
    payload = decode_payload(base64.b64decode(evidence.attestation.payload_b64, validate=True))
    signed_nonce = payload.get("nonce")
    if not isinstance(signed_nonce, bytes) or signed_nonce != nonce:
        return "the device signed another nonce than the one checked against"
    return ""



def _strength_of(evidence: DeviceEvidence, key: str) -> Strength | None:
    def weakest(items: Sequence[str]) -> Strength | None:
        if not items:
            return None
        return min((Strength(s) for s in items), key=lambda s: s.rank)

    if key == "components":
        return weakest([c.strength for c in evidence.components])
    if key in ("regions", "firmware_regions"):
        return weakest([r.strength for r in evidence.regions if not r.weak])
    if key == "identity_key":
        return Strength(evidence.identity_key.strength) if evidence.identity_key else None
    if key == "tpm":
        return Strength(evidence.tpm.strength) if evidence.tpm else None
    fact = evidence.fact(key)
    return Strength(fact.strength) if fact else None


def check_strength(evidence: DeviceEvidence, required: Mapping[str, str]) -> list[Finding]:
    """The policy's strength rules, on evidence whose strengths ``derive_strengths`` recomputed."""
    out = []
    for key in sorted(required):
        try:
            wanted = Strength(required[key])
        except ValueError:
            out.append(errored("hw.strength", f"the policy asks for unknown strength {required[key]!r} for {key}", key))
            continue
        got = _strength_of(evidence, key)
        if got is None:
            out.append(skipped("hw.strength", f"the policy requires {key} to be {wanted.value}, but it was not read",
                               key))
        elif got.at_least(wanted):
            out.append(passed("hw.strength", f"{key} is {got.value} (policy: at least {wanted.value})", key))
        else:
            out.append(failed("hw.strength", f"the policy requires {key} to be {wanted.value}; the device only "
                              f"{'reported' if got is Strength.REPORTED else 'measured'} it", key,
                              found=got.value, required=wanted.value))
    return out


def self_reported(evidence: DeviceEvidence) -> Finding:
    reported = sorted(name for name, strength in evidence.all_facts() if strength == "reported")
    weak = sorted(f"region.{r.name} (crc32)" for r in evidence.regions if r.weak)
    if not reported and not weak:
        return passed("hw.self-reported", "no fact rests on the device's word alone", "strength")
    parts = []
    if reported:
        parts.append("only self-reported: " + ", ".join(reported))
    if weak:
        parts.append("integrity-only: " + ", ".join(weak))
    return warned("hw.self-reported", "; ".join(parts), "strength", reported=reported, weak=weak)
