"""The facts of one X.509 certificate in a key database: names, DER serial, validity, key, signature hash, digests.

Hand-written only where cryptography cannot serve: the DER serial (negative serials) and the TBS digest.

The serial is read from the DER (the AMI test PKs and several OEM PKs have negative serials, which cryptography
warns about and will refuse); the rest comes from cryptography.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from verifier.firmware import der
from verifier.firmware.secureboot.errors import SecureBootFormatError

#: Largest certificate read from a list entry (real ones are 0.7-2 KiB; RSA-16384 with extensions stays below this).
MAX_CERTIFICATE = 64 * 1024


@dataclass(frozen=True)
class CertificateFacts:
    subject: str
    issuer: str
    serial_der_hex: str
    not_before: datetime
    not_after: datetime
    key_type: str  # "RSA", "EC", "Ed25519", "DSA", or the key's OID
    key_bits: int
    sig_hash: str  # "sha256", "sha1", "md5", "none" (Ed25519), or "unknown:<oid>"
    sha1: str
    sha256: str
    spki_sha256: str
    tbs_sha256: str  # what an EFI_CERT_X509_SHA256 dbx entry revokes
    der: bytes

    @property
    def key(self) -> str:
        return f"{self.key_type}-{self.key_bits}" if self.key_bits else self.key_type

    @property
    def self_signed(self) -> bool:
        return self.subject == self.issuer

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject, "issuer": self.issuer, "serial_der_hex": self.serial_der_hex,
            "not_before": iso(self.not_before), "not_after": iso(self.not_after), "key": self.key,
            "sig_hash": self.sig_hash, "sha1": self.sha1, "sha256": self.sha256,
        }


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def load_certificate(data: bytes) -> Any:
    """cryptography's Certificate for ``data``, without the warning negative serials give (facts read them)."""
    from cryptography import x509

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return x509.load_der_x509_certificate(data)


def der_length(data: bytes, what: str, offset: int) -> int:
    """The length of the DER SEQUENCE at the start of ``data`` (bounded by ``data``)."""
    try:
        node = der.read(data, 0)
    except der.DerError as exc:
        raise SecureBootFormatError(what, offset, f"not a DER certificate ({exc})") from exc
    if node.tag != 0x30:
        raise SecureBootFormatError(what, offset, f"a certificate must start with a SEQUENCE, not tag {node.tag:#x}")
    return node.end


def _serial(data: bytes, what: str, offset: int) -> tuple[str, bytes]:
    try:
        tbs = der.read(data, 0).child(0)
        first = tbs.child(0)
        serial = tbs.child(1) if first.tag == 0xA0 else first
    except der.DerError as exc:
        raise SecureBootFormatError(what, offset, f"certificate structure: {exc}") from exc
    if serial.tag != 0x02:
        raise SecureBootFormatError(what, offset, "certificate serial is not an INTEGER")
    return serial.value.hex(), tbs.raw


def certificate_facts(data: bytes, what: str, offset: int = 0) -> CertificateFacts:
    """Facts of the DER certificate ``data`` (exactly one certificate, nothing after it)."""
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

    if len(data) > MAX_CERTIFICATE:
        raise SecureBootFormatError(what, offset, f"certificate of {len(data)} bytes, more than {MAX_CERTIFICATE}")
    serial, tbs = _serial(data, what, offset)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # negative serials: read from the DER above
            cert = x509.load_der_x509_certificate(data)
            subject, issuer = cert.subject.rfc4514_string(), cert.issuer.rfc4514_string()
            not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
    except (ValueError, TypeError, x509.InvalidVersion) as exc:
        # Found by fuzzing: InvalidVersion is not a ValueError; a BIT STRING in a name raises TypeError.
        raise SecureBootFormatError(what, offset, f"not an X.509 certificate ({exc})") from exc
    key_type, bits = "unknown", 0
    spki = b""
    try:
        key = cert.public_key()
        spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        if isinstance(key, rsa.RSAPublicKey):
            key_type, bits = "RSA", key.key_size
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key_type, bits = f"EC-{key.curve.name}", key.key_size
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key_type = "Ed25519"
        elif isinstance(key, ed448.Ed448PublicKey):
            key_type = "Ed448"
        elif isinstance(key, dsa.DSAPublicKey):
            key_type, bits = "DSA", key.key_size
    except (UnsupportedAlgorithm, ValueError):
        key_type = f"unknown:{cert.public_key_algorithm_oid.dotted_string}" if _has_key_oid(cert) else "unknown"
    try:
        algorithm = cert.signature_hash_algorithm
        sig_hash = algorithm.name if algorithm is not None else "none"
    except UnsupportedAlgorithm:
        sig_hash = f"unknown:{cert.signature_algorithm_oid.dotted_string}"
    return CertificateFacts(
        subject, issuer, serial, not_before, not_after, key_type, bits, sig_hash,
        hashlib.sha1(data, usedforsecurity=False).hexdigest(), hashlib.sha256(data).hexdigest(),
        hashlib.sha256(spki).hexdigest() if spki else "", hashlib.sha256(tbs).hexdigest(), bytes(data),
    )


def _has_key_oid(cert: Any) -> bool:
    try:
        return bool(cert.public_key_algorithm_oid)
    except (ValueError, AttributeError):
        return False


