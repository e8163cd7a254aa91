"""EK and platform certificates: load them (file or TPM NV), and walk their chain to a manufacturer CA.

EK certificates are not TLS certificates: their subject is often empty and
their SAN is a critical directoryName of TPM manufacturer attributes, which
RFC 5280 path validators reject. So the chain is walked here with the checks
that matter for an EK: each signature, each validity period, and CA
basicConstraints on every issuer.
"""

from __future__ import annotations

import datetime
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hw.errors import TransportError
from hw.tpm.errors import TpmFormatError

if TYPE_CHECKING:
    from cryptography.x509 import Certificate

    from hw.tpm.public import TpmPublic

# Heavy, so imported inside the functions that use it (pyproject's TID253): cryptography, loaded only
# when a certificate is read or its chain walked.

MAX_CERT_FILE = 256 * 1024
MAX_CHAIN_DEPTH = 8
# TCG EK Credential Profile 2.3: NV indexes of the EK certificates; swtpm puts its platform certificate at 0x1c08000.
NV_EK_CERT_RSA = 0x01C00002
NV_EK_CERT_ECC_P256 = 0x01C0000A
NV_EK_CERT_ECC_P384 = 0x01C00016
NV_PLATFORM_CERT = 0x01C08000
NV_TIMEOUT = 20.0


def _trim_der(data: bytes) -> bytes:
    """NV indexes are often larger than the certificate: keep the outer DER SEQUENCE only."""
    if len(data) < 4 or data[0] != 0x30:
        return data
    first = data[1]
    if first < 0x80:
        end = 2 + first
    else:
        n = first & 0x7F
        if n == 0 or n > 4 or len(data) < 2 + n:
            return data
        end = 2 + n + int.from_bytes(data[2 : 2 + n], "big")
    return data[:end] if end <= len(data) else data


def load_certificates(data: bytes, what: str) -> list[Certificate]:
    """PEM (one or more certificates) or DER (one, NV padding tolerated)."""
    from cryptography import x509

    if len(data) > MAX_CERT_FILE:
        raise TpmFormatError(f"{what}: {len(data)} bytes is too large for a certificate file")
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            certs = x509.load_pem_x509_certificates(data)
        else:
            certs = [x509.load_der_x509_certificate(_trim_der(data))]
    except ValueError as exc:
        raise TpmFormatError(f"{what}: not a PEM or DER X.509 certificate ({exc})") from exc
    if not certs:
        raise TpmFormatError(f"{what}: no certificate found")
    return certs


def load_certificate_file(path: Path, what: str) -> list[Certificate]:
    try:
        size = path.stat().st_size
        if size > MAX_CERT_FILE:
            raise TpmFormatError(f"{what} {path}: {size} bytes is too large for a certificate file")
        return load_certificates(path.read_bytes(), f"{what} {path}")
    except OSError as exc:
        raise TpmFormatError(f"{what} {path}: cannot read ({exc.strerror or exc})") from exc


def read_nv_certificate(tcti: str, index: int) -> bytes | None:
    """Read one NV index with ``tpm2_nvread`` on the given TCTI; ``None`` when the index is not defined."""
    try:
        proc = subprocess.run(
            ["tpm2_nvread", f"0x{index:08x}", "-o", "/dev/stdout"],
            capture_output=True,
            timeout=NV_TIMEOUT,
            env={"TPM2TOOLS_TCTI": tcti, "PATH": "/usr/bin:/bin"},
            check=False,
        )
    except FileNotFoundError as exc:
        raise TransportError("tpm2_nvread not found: install tpm2-tools to read certificates from TPM NV") from exc
    except subprocess.TimeoutExpired as exc:
        raise TransportError(f"tpm2_nvread 0x{index:08x} timed out after {NV_TIMEOUT:.0f} s") from exc
    if proc.returncode != 0:
        text = proc.stderr.decode("utf-8", "replace")
        if "0x18b" in text or ("handle" in text.lower() and "not" in text.lower()):
            return None
        raise TransportError(f"tpm2_nvread 0x{index:08x} failed: {' '.join(text.split())[:200]}")
    return proc.stdout[:MAX_CERT_FILE]


@dataclass(frozen=True)
class ChainCheck:
    """The facts about one certificate's chain to the given anchors."""

    subject: str
    issuer: str
    verified: bool
    error: str
    path: tuple[str, ...]  # subjects from the leaf up to the anchor
    anchor_fingerprint: str  # sha256 of the anchor's DER
    key_matches_ek: bool | None  # leaf key equals the TPM's EK public area, when one was given

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject, "issuer": self.issuer, "verified": self.verified, "error": self.error,
            "path": list(self.path), "anchor_sha256": self.anchor_fingerprint, "key_matches_ek": self.key_matches_ek,
        }


def _name(cert: Certificate) -> str:
    return cert.subject.rfc4514_string() or "(empty subject)"


def _is_ca(cert: Certificate) -> bool:
    from cryptography import x509

    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _issued_by(child: Certificate, issuer: Certificate) -> bool:
    try:
        child.verify_directly_issued_by(issuer)
    except (ValueError, TypeError):
        return False
    except Exception as exc:  # InvalidSignature lives in cryptography.exceptions
        if exc.__class__.__name__ == "InvalidSignature":
            return False
        raise
    return True


def _valid_at(cert: Certificate, when: datetime.datetime) -> bool:
    return cert.not_valid_before_utc <= when <= cert.not_valid_after_utc


def _same_key(cert: Certificate, ek: TpmPublic) -> bool:
    from cryptography.hazmat.primitives import serialization

    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return cert.public_key().public_bytes(*fmt) == ek.public_key().public_bytes(*fmt)


def verify_chain(
    leaf: Certificate,
    bundle: Sequence[Certificate],
    *,
    ek_public: TpmPublic | None = None,
    at: datetime.datetime | None = None,
) -> ChainCheck:
    """Walk ``leaf`` up to a self-signed certificate of ``bundle`` (or any of them if none is self-signed)."""
    from cryptography.hazmat.primitives import hashes

    when = at or datetime.datetime.now(datetime.UTC)
    self_signed = [c for c in bundle if c.issuer == c.subject and _issued_by(c, c)]
    anchors = self_signed or list(bundle)
    intermediates = [c for c in bundle if c not in anchors]
    key_matches = _same_key(leaf, ek_public) if ek_public is not None else None
    path = [_name(leaf)]

    def result(ok: bool, error: str, anchor: Certificate | None = None) -> ChainCheck:
        fp = anchor.fingerprint(hashes.SHA256()).hex() if anchor is not None else ""
        return ChainCheck(_name(leaf), leaf.issuer.rfc4514_string(), ok, error, tuple(path), fp, key_matches)

    if not _valid_at(leaf, when):
        return result(False, f"certificate {_name(leaf)} is outside its validity period")
    current = leaf
    for _ in range(MAX_CHAIN_DEPTH):
        for anchor in anchors:
            if current.issuer == anchor.subject and _issued_by(current, anchor):
                if not _is_ca(anchor):
                    return result(False, f"anchor {_name(anchor)} is not a CA certificate", anchor)
                if not _valid_at(anchor, when):
                    return result(False, f"anchor {_name(anchor)} is outside its validity period", anchor)
                path.append(_name(anchor))
                return result(True, "", anchor)
        step = next((c for c in intermediates if current.issuer == c.subject and _issued_by(current, c)), None)
        if step is None:
            issuer = current.issuer.rfc4514_string()
            return result(False, f"no certificate in the CA bundle issued {_name(current)} (issuer {issuer})")
        if not _is_ca(step) or not _valid_at(step, when):
            return result(False, f"intermediate {_name(step)} is not a valid CA certificate now")
        path.append(_name(step))
        current = step
    return result(False, f"chain longer than {MAX_CHAIN_DEPTH} certificates")
