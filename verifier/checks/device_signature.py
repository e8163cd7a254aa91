"""The device's identity key and the measurements it signed, judged: ``hw.identity-key``,
``hw.attest-signature`` and ``hw.nonce``.

The evidence file is not trusted: the signature is re-verified with the leaf of the chain the
device presented, every signed fact is re-derived from the signed payload, and the chain is
walked to the manifest's CA here. cryptography is imported inside the functions that use it (a
heavy import deferred on purpose, pyproject's TID253).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import itertools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from hw.attest import chain_blob_of, decode_payload, payload_facts, verify_signature
from hw.errors import HardwareError
from hw.evidence import Component, DeviceEvidence, Fact, RegionDigest
from hw.profile import ProfileFacts
from verifier.declared.device_model import DeclaredIdentity
from verifier.model import Finding, errored, failed, passed, skipped

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
    from cryptography.x509 import Certificate


def _load_chain(evidence: DeviceEvidence) -> list[Certificate]:
    from cryptography import x509

    key = evidence.identity_key
    assert key is not None
    return [x509.load_pem_x509_certificate(pem.encode()) for pem in key.cert_chain_pem]


def _spki(public_key: PublicKeyTypes) -> bytes:
    from cryptography.hazmat.primitives import serialization

    der: bytes = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return der


def _walk_to_anchor(
    chain: Sequence[Certificate], anchors: Sequence[Certificate], now: datetime.datetime
) -> str | None:
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


def _is_ca(cert: Certificate) -> bool:
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
    return verify_attestation(evidence)[0]


def verify_attestation(evidence: DeviceEvidence) -> tuple[list[Finding], ProfileFacts | None]:
    """The ``hw.attest-signature`` findings, and the facts the device signed (None unless all of it verifies)."""
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
    if evidence.attestation is None and evidence.profile == "spdm":
        return []  # the SPDM exchange signs the nonce: spdm.signature checks it
    if evidence.attestation is None:
        out.append(
            skipped("hw.nonce", f"the {evidence.profile} profile signs nothing with the nonce; TPM quotes are checked "
                    "by the measured-boot checks", subject, required=False)
        )
        return out
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
