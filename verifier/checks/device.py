"""Judge DeviceEvidence against a DeviceManifest.

Checks (ids): ``hw.evidence``, ``hw.manufacturer``, ``hw.model``, ``hw.board-revision``,
``hw.serial-number``, ``hw.components``, ``hw.region``, ``hw.identity-key``,
``hw.attest-signature``, ``hw.nonce``, ``hw.strength`` and ``hw.self-reported``.

The evidence file is not trusted either: for the attest profile every signed fact is
re-derived from the signed payload, the signature is re-verified with the leaf of the
chain the device presented, and the chain is walked to the manifest's CA here.
TPM quotes and event logs are judged by ``verifier.checks.measured_boot``.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import itertools
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from hw.evidence import Component, DeviceEvidence, Fact, RegionDigest
from hw.registry import beyond_profile, observed
from verifier.declared.device_manifest import DeclaredComponent, DeclaredIdentity, DeclaredRegion, DeviceManifest
from verifier.model import Finding, Status, Strength, errored, failed, passed, skipped, warned

_STRENGTH_KEYS = ("components", "regions", "firmware_regions", "identity_key", "tpm")


def check_device(
    evidence: DeviceEvidence,
    manifest: DeviceManifest,
    *,
    required_strength: Mapping[str, str] | None = None,
    expected_nonce: bytes | None = None,
    now: datetime.datetime | None = None,
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
    findings += check_components(evidence, manifest)
    findings += check_regions(evidence, manifest)
    findings += check_identity_key(evidence, manifest.identity, now=now)
    findings += check_nonce(evidence, expected_nonce)
    findings += check_strength(evidence, required_strength or {})
    findings.append(self_reported(evidence))
    return findings


# --- strength: derived from what provcheck verified, never read from the evidence ------------------------

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


def _consume(signed: Counter[tuple[Any, ...]], key: tuple[Any, ...]) -> bool:
    """Whether a signed copy of ``key`` is left, using it up: one signature covers one fact, not every duplicate."""
    if signed[key] <= 0:
        return False
    signed[key] -= 1
    return True


def _component_key(c: Component) -> tuple[Any, ...]:
    return (c.cls, c.manufacturer, c.model, c.serial, c.revision)


def _region_key(r: RegionDigest) -> tuple[Any, ...]:
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
    from hw.profile import ProfileFacts
    from verifier.checks.measured_boot import quoted_strength

    findings: list[Finding] = []
    signed: ProfileFacts | None = None
    reason = ""
    if evidence.attestation is None:
        reason = "the evidence carries no signed measurements"
    else:
        signature_findings, rebuilt = _verify_attestation(evidence)
        findings += signature_findings
        if rebuilt is None:
            reason = "the signed measurements do not verify"
        else:
            reason = _anchor_problem(evidence, identity, now) or _nonce_problem(evidence, nonce)
            signed = None if reason else rebuilt

    def ceiling(verified: bool, otherwise: str) -> str:
        return "signed" if signed is not None and verified else otherwise

    lowered: list[str] = []

    def note(name: str, before: str, after: str) -> str:
        if after != before:
            lowered.append(f"{name} ({before} -> {after})")
        return after

    identity_facts: dict[str, Fact] = {}
    for name, fact in evidence.identity.items():
        same = signed is not None and name in signed.identity and signed.identity[name].value == fact.value
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
    from hw.attest import decode_payload

    if nonce is None:
        return "no nonce is known to check the signature's freshness against"
    assert evidence.attestation is not None
    payload = decode_payload(base64.b64decode(evidence.attestation.payload_b64, validate=True))
    signed_nonce = payload.get("nonce")
    if not isinstance(signed_nonce, bytes) or signed_nonce != nonce:
        return "the device signed another nonce than the one checked against"
    return ""


def _norm(value: Any) -> str:
    return " ".join(str(value).split()).casefold()


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
            out.append(skipped(check, f"the {label} is declared but the device did not give one", label))
        elif _norm(fact.value) == _norm(declared):
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

_FIELDS = ("manufacturer", "model", "serial", "revision")


def _matches(declared: DeclaredComponent, found: Component) -> bool:
    if _norm(declared.cls) != _norm(found.cls):
        return False
    for name in _FIELDS:
        want = getattr(declared, name)
        if want is not None and _norm(want) != _norm(getattr(found, name) or ""):
            return False
    return True


def _describe(component: Component) -> dict[str, Any]:
    return {"class": component.cls, **{name: getattr(component, name) for name in _FIELDS}}


def check_components(evidence: DeviceEvidence, manifest: DeviceManifest) -> list[Finding]:
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
            hit = next((f for f in remaining if _matches(component, f)), None)
            if hit is None:
                unmatched.append(component)
                break
            remaining.remove(hit)
    changed, removed = [], []
    for component in unmatched:
        same_class = next((f for f in remaining if _norm(f.cls) == _norm(component.cls)), None)
        if same_class is not None:
            remaining.remove(same_class)
            changed.append((component, same_class))
        else:
            removed.append(component)
    added = remaining
    diff = {
        "added": [_describe(c) for c in added],
        "removed": [c.to_json() for c in removed],
        "changed": [
            {
                "declared": d.to_json(),
                "found": _describe(f),
                "fields": [n for n in _FIELDS if getattr(d, n) is not None and _norm(getattr(d, n)) != _norm(
                    getattr(f, n) or "")],
            }
            for d, f in changed
        ],
    }
    lines = [f"+ {c.cls} {c.manufacturer or '?'} {c.model or '?'}" for c in added]
    lines += [f"- {c.label()}" + ("" if c.required else " (optional)") for c in removed]
    for d, f in changed:
        fields = [f"{n} {getattr(d, n)!r} -> {getattr(f, n)!r}" for n in _FIELDS
                  if getattr(d, n) is not None and _norm(getattr(d, n)) != _norm(getattr(f, n) or "")]
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


# --- identity key and signed measurements ----------------------------------------------------------------


def _load_chain(evidence: DeviceEvidence) -> list[Any]:
    from cryptography import x509

    key = evidence.identity_key
    assert key is not None
    return [x509.load_pem_x509_certificate(pem.encode()) for pem in key.cert_chain_pem]


def _spki(public_key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    der: bytes = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return der


def _walk_to_anchor(chain: Sequence[Any], anchors: Sequence[Any], now: datetime.datetime) -> str | None:
    """None when the chain leads to one of the anchors; otherwise why not."""
    for cert in chain:
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            return f"certificate {cert.subject.rfc4514_string()!r} is not valid now"
    for child, parent in itertools.pairwise(chain):
        if not _is_ca(parent):
            return f"{parent.subject.rfc4514_string()!r} is not a CA certificate"
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, Exception):
            return f"{child.subject.rfc4514_string()!r} is not signed by {parent.subject.rfc4514_string()!r}"
    top = chain[-1]
    for anchor in anchors:
        if _spki(anchor.public_key()) == _spki(top.public_key()) and anchor.subject == top.subject:
            return None
        try:
            top.verify_directly_issued_by(anchor)
        except Exception:  # noqa: S112 - try the next anchor
            continue
        return None
    return "the chain does not lead to the vendor CA declared in the manifest"


def _is_ca(cert: Any) -> bool:
    from cryptography import x509

    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def check_identity_key(
    evidence: DeviceEvidence, declared: DeclaredIdentity | None, *, now: datetime.datetime | None = None
) -> list[Finding]:
    if declared is None:
        return []
    subject = "device identity key"
    key = evidence.identity_key
    if key is None or not key.cert_chain_pem:
        return [skipped("hw.identity-key", f"the manifest pins the device key but the {evidence.profile} profile "
                        "gave no key", subject)]
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        chain = _load_chain(evidence)
        anchors = x509.load_pem_x509_certificates(declared.ca_pem.encode()) if declared.ca_pem else []
        pinned = _spki(load_pem_public_key(declared.public_key_pem.encode())) if declared.public_key_pem else None
    except ValueError as exc:
        return [errored("hw.identity-key", f"a certificate or key is malformed: {exc}", subject)]
    leaf_spki = _spki(chain[0].public_key())
    fingerprint = hashlib.sha256(leaf_spki).hexdigest()
    problems = []
    if fingerprint != key.fingerprint_sha256:
        problems.append("the evidence's fingerprint is not that of the leaf certificate")
    if declared.fingerprint_sha256 and fingerprint != declared.fingerprint_sha256:
        problems.append(f"key {fingerprint[:16]}... is not the pinned {declared.fingerprint_sha256[:16]}...")
    if pinned is not None and pinned != leaf_spki:
        problems.append("the key is not the declared public key")
    if anchors:
        reason = _walk_to_anchor(chain, anchors, now or datetime.datetime.now(datetime.UTC))
        if reason:
            problems.append(reason)
    if problems:
        return [failed("hw.identity-key", "; ".join(problems), subject, fingerprint_sha256=fingerprint)]
    how = [w for w, on in (("pinned", bool(declared.fingerprint_sha256 or pinned)), ("chains to the vendor CA",
                                                                                     bool(anchors))) if on]
    return [passed("hw.identity-key", f"device key {fingerprint[:16]}... " + " and ".join(how), subject,
                   fingerprint_sha256=fingerprint)]


def check_attestation(evidence: DeviceEvidence) -> list[Finding]:
    """Re-verify the signed payload and re-derive every signed fact from it."""
    return _verify_attestation(evidence)[0]


def _verify_attestation(evidence: DeviceEvidence) -> tuple[list[Finding], Any]:
    """The ``hw.attest-signature`` findings, and the facts the device signed (None unless all of it verifies)."""
    from hw.attest import chain_blob_of, decode_payload, payload_facts, verify_signature
    from hw.errors import HardwareError
    from hw.profile import ProfileFacts

    attestation = evidence.attestation
    assert attestation is not None
    subject = "signed measurements"
    if evidence.identity_key is None or not evidence.identity_key.cert_chain_pem:
        return [failed("hw.attest-signature", "signed measurements without the certificate that signs them",
                       subject)], None
    try:
        chain = _load_chain(evidence)
        signed = base64.b64decode(attestation.payload_b64, validate=True)
        signature = base64.b64decode(attestation.signature_b64, validate=True)
        payload = decode_payload(signed)
    except (ValueError, HardwareError) as exc:
        return [errored("hw.attest-signature", f"the signed measurements are malformed: {exc}", subject)], None
    from cryptography.hazmat.primitives import serialization

    chain_der = [c.public_bytes(serialization.Encoding.DER) for c in chain]
    if not verify_signature(chain_der[0], attestation.algorithm, signed, signature):
        return [failed("hw.attest-signature", f"the {attestation.algorithm} signature over the measurements does not "
                       "verify with the device's certificate", subject)], None
    expected_chain = hashlib.sha256(chain_blob_of(chain_der)).digest()
    if payload.get("chain_sha256") != expected_chain:
        return [failed("hw.attest-signature", "the signed measurements name a different certificate chain than the "
                       "one presented", subject)], None
    rebuilt = ProfileFacts("attest")
    payload_facts(rebuilt, payload, expected_chain)
    edited = _differences(evidence, rebuilt.identity, rebuilt.components, rebuilt.regions)
    if edited:
        # Part of the file was changed after signing: none of it counts as signed.
        return [failed("hw.attest-signature", "the evidence file differs from what the device signed: "
                       + ", ".join(edited), subject)], None
    return [passed("hw.attest-signature", f"measurements signed with {attestation.algorithm} by the device key",
                   subject, protocol_version=attestation.protocol_version)], rebuilt


def _differences(
    evidence: DeviceEvidence,
    identity: Mapping[str, Fact],
    components: Sequence[Component],
    regions: Sequence[RegionDigest],
) -> list[str]:
    out = []
    for name, fact in evidence.identity.items():
        # Relabelling a signed value as "reported" does not make a different value acceptable.
        differs = name in identity and identity[name].value != fact.value
        if differs or (fact.strength == "signed" and name not in identity):
            out.append(f"identity.{name}")
    # A signed value left out of the file hides what the device said.
    out += [f"identity.{name} (removed)" for name in identity if name not in evidence.identity]
    signed_components = [c for c in evidence.components if c.strength == "signed"]
    if signed_components != list(components):
        out.append("components")
    signed_regions = [r for r in evidence.regions if r.strength == "signed"]
    if signed_regions != list(regions):
        out.append("regions")
    return out


def check_nonce(evidence: DeviceEvidence, expected: bytes | None) -> list[Finding]:
    subject = "nonce"
    out = []
    if expected is not None and evidence.nonce != expected.hex():
        return [failed("hw.nonce", "the evidence was read with another nonce than this verification's", subject,
                       found=evidence.nonce, expected=expected.hex())]
    if evidence.attestation is None and evidence.profile == "attest":
        # The attest profile signs every answer over the nonce: evidence without the signature was edited.
        return [failed("hw.nonce", "the evidence says it was read over the attest profile, which signs every answer "
                       "with the nonce, but it carries no signed measurements: nothing binds it to a nonce", subject)]
    if evidence.attestation is None:
        out.append(
            skipped("hw.nonce", f"the {evidence.profile} profile signs nothing with the nonce; TPM quotes are checked "
                    "by the measured-boot checks", subject, required=False)
        )
        return out
    from hw.attest import decode_payload
    from hw.errors import HardwareError

    try:
        payload = decode_payload(base64.b64decode(evidence.attestation.payload_b64, validate=True))
    except (ValueError, HardwareError) as exc:
        return [errored("hw.nonce", f"the signed measurements are malformed: {exc}", subject)]
    signed_nonce = payload.get("nonce")
    if not isinstance(signed_nonce, bytes) or evidence.nonce is None or signed_nonce.hex() != evidence.nonce:
        shown = signed_nonce.hex() if isinstance(signed_nonce, bytes) else repr(signed_nonce)
        return [failed("hw.nonce", "the device signed a stale or foreign nonce: the measurements may be a replay",
                       subject, signed=shown, sent=evidence.nonce)]
    if expected is None:
        # An evidence file: the signature covers the nonce it records, but nothing shows when that was.
        return [skipped("hw.nonce", f"the evidence was read earlier (nonce {evidence.nonce[:16]}…): the signed "
                        "measurements carry that nonce, but freshness cannot be shown for a file", subject,
                        required=False, recorded=evidence.nonce)]
    return [passed("hw.nonce", "the measurements are bound to this verification's fresh nonce", subject)]


# --- strength --------------------------------------------------------------------------------------------


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


def tpm_findings(evidence: DeviceEvidence, manifest: DeviceManifest, expected_nonce: bytes | None) -> list[Finding]:
    """The measured-boot checks on the evidence's TPM object, when it has a quote or the manifest declares PCRs.

    ``check_device`` does not call this (intake runs the measured-boot checks with its own policy);
    ``provcheck device verify`` does.
    """
    predicate = manifest.to_predicate()
    if evidence.tpm is None or (evidence.tpm.quote is None and not predicate.get("boot_measurements")):
        return []
    from verifier.checks.measured_boot import check_measured_boot

    nonce = expected_nonce
    if nonce is None and evidence.nonce:
        nonce = bytes.fromhex(evidence.nonce)
    result: list[Finding] = check_measured_boot(
        evidence.tpm.to_json(), declared_authenticode=set(), manifest=predicate, nonce=nonce
    )
    return result
