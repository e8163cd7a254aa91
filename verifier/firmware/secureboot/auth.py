"""Signed variable updates: EFI_VARIABLE_AUTHENTICATION_2 (UEFI 2.10, 8.2.2) and the PKCS#7 inside it.

Hand-written: no maintained Python package parses EFI_VARIABLE_AUTHENTICATION_2, and cryptography cannot verify PKCS#7.

A ``.auth`` file is EFI_TIME, then WIN_CERTIFICATE_UEFI_GUID (dwLength, revision 0x0200, type 0x0EF1, CertType
EFI_CERT_TYPE_PKCS7_GUID, CertData = a PKCS#7 SignedData, usually without its ContentInfo wrapper), then the new
variable data (EFI_SIGNATURE_LISTs). Firmware checks the signature over VariableName (UTF-16LE, no NUL) ||
VendorGuid || Attributes || TimeStamp || data, detached. cryptography cannot verify PKCS#7, so the SignedData is walked
with the bounded DER reader and each signer's signature checked with cryptography's public keys: over the signed
attributes (whose messageDigest must be the update's hash) or, without them, over the update itself.
Which variable and attributes an update is for is not in the file: every key database with 0x27 (time-based
authenticated, non-volatile, boot and runtime access) and 0x67 (the same plus APPEND_WRITE) is tried.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from verifier.firmware import der
from verifier.firmware.secureboot.certificates import CertificateFacts, certificate_facts, load_certificate
from verifier.firmware.secureboot.errors import SecureBootFormatError
from verifier.firmware.secureboot.guids import EFI_CERT_TYPE_PKCS7, KEY_DATABASES, guid_bytes, guid_text
from verifier.firmware.secureboot.siglist import SignatureList, parse_signature_lists
from verifier.firmware.secureboot.varstore import efi_time

WIN_CERT_TYPE_EFI_GUID = 0x0EF1
WIN_CERT_REVISION = 0x0200
TIME_BASED_ATTRIBUTES = (0x27, 0x67)
MAX_AUTH = 4 * 1024 * 1024
MAX_PKCS7_CERTS = 64
_OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
_OID_DATA = "1.2.840.113549.1.7.1"
_OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
_HASHES = {"1.3.14.3.2.26": "sha1", "2.16.840.1.101.3.4.2.1": "sha256", "2.16.840.1.101.3.4.2.2": "sha384",
           "2.16.840.1.101.3.4.2.3": "sha512"}


@dataclass(frozen=True)
class SignerResult:
    subject: str
    sha256: str
    verified: bool
    problem: str = ""


@dataclass(frozen=True)
class SignatureCheck:
    """What verifying the PKCS#7 found: ``valid`` with the variable and attributes it verifies for, or not."""

    valid: bool
    variable: str | None
    attributes: int | None
    signers: tuple[SignerResult, ...]
    tried_attributes: tuple[int, ...]
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"result": "valid" if self.valid else "invalid"}
        if self.variable is not None:
            out["variable"] = self.variable
        if self.attributes is not None:
            out["attributes"] = hex(self.attributes)
        else:
            out["tried_attributes"] = [hex(a) for a in self.tried_attributes]
        out["signers"] = [{"subject": s.subject, "sha256": s.sha256, "verified": s.verified,
                           **({"problem": s.problem} if s.problem else {})} for s in self.signers]
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class SignedData:
    """A PKCS#7 SignedData, walked: the certificates it carries and each signer's fields."""

    certificates: tuple[CertificateFacts, ...]
    signers: tuple[_Signer, ...]
    content: bytes | None  # encapsulated content, when the signature is not detached


@dataclass(frozen=True)
class _Signer:
    issuer_der: bytes
    serial_der: bytes
    digest: str
    signed_attributes: bytes | None  # DER of the SET (tag 0x31) the signature covers
    message_digest: bytes | None
    signature: bytes


@dataclass(frozen=True)
class AuthenticatedUpdate:
    timestamp: str | None
    pkcs7: SignedData
    payload: tuple[SignatureList, ...]
    payload_bytes: bytes
    signature: SignatureCheck


def parse_signed_data(blob: bytes, what: str, base: int) -> SignedData:
    """The SignedData in ``blob`` (bare, or inside a ContentInfo)."""
    try:
        top = der.read(blob, 0)
        if top.end != len(blob):
            raise SecureBootFormatError(what, base + top.end, f"{len(blob) - top.end} bytes after the PKCS#7")
        node = top
        first = top.child(0)
        if first.tag == 0x06:
            if first.oid() != _OID_SIGNED_DATA:
                raise SecureBootFormatError(what, base, f"PKCS#7 content type {first.oid()} is not SignedData")
            node = top.child(1).child(0)
        return _signed_data(node, what, base)
    except der.DerError as exc:
        raise SecureBootFormatError(what, base, f"PKCS#7 SignedData: {exc}") from exc


def _signed_data(node: der.Node, what: str, base: int) -> SignedData:
    parts = node.children()
    if len(parts) < 4 or parts[0].tag != 0x02 or parts[1].tag != 0x31 or parts[2].tag != 0x30:
        raise der.DerError("SignedData does not have version, digestAlgorithms, encapContentInfo, signerInfos")
    encap = parts[2].children()
    content = None
    if len(encap) > 1:
        inner = encap[1].child(0)
        content = inner.value if inner.tag == 0x04 else inner.raw
    certs: list[CertificateFacts] = []
    for part in parts[3:-1]:
        if part.tag == 0xA0:
            for cert in part.children():
                if len(certs) >= MAX_PKCS7_CERTS:
                    raise der.DerError(f"more than {MAX_PKCS7_CERTS} certificates")
                if cert.tag == 0x30:
                    certs.append(certificate_facts(cert.raw, what, base + cert.start))
    signer_set = parts[-1]
    if signer_set.tag != 0x31:
        raise der.DerError("the last element of SignedData is not the signerInfos SET")
    signers = tuple(_signer(info) for info in signer_set.children())
    if not signers:
        raise der.DerError("SignedData has no signer")
    return SignedData(tuple(certs), signers, content)


def _signer(info: der.Node) -> _Signer:
    fields = info.children()
    if len(fields) < 5 or fields[1].tag != 0x30:
        raise der.DerError("SignerInfo is not version, issuerAndSerialNumber, digestAlgorithm, ..., signature")
    sid = fields[1]
    issuer, serial = sid.child(0), sid.child(1)
    digest = _HASHES.get(fields[2].child(0).oid(), f"unknown:{fields[2].child(0).oid()}")
    attributes = next((f for f in fields[3:] if f.tag == 0xA0), None)
    signature = next((f for f in fields[3:] if f.tag == 0x04), None)
    if signature is None:
        raise der.DerError("SignerInfo has no signature")
    message_digest = None
    signed = None
    if attributes is not None:
        signed = b"\x31" + attributes.raw[1:]
        for attribute in attributes.children():
            if attribute.child(0).oid() == _OID_MESSAGE_DIGEST:
                message_digest = attribute.child(1).child(0).value
    return _Signer(issuer.raw, serial.value, digest, signed, message_digest, signature.value)


def signed_bytes(variable: str, attributes: int, timestamp: bytes, payload: bytes) -> bytes:
    """What firmware verifies for a time-based authenticated write of ``variable``."""
    return (variable.encode("utf-16-le") + guid_bytes(KEY_DATABASES[variable]) + attributes.to_bytes(4, "little")
            + timestamp + payload)


def verify_signed_data(signed: SignedData, message: bytes) -> tuple[SignerResult, ...]:
    """Each signer of ``signed`` checked over ``message`` (detached) with its certificate from the bag."""
    out: list[SignerResult] = []
    for signer in signed.signers:
        cert = _find_certificate(signed.certificates, signer)
        if cert is None:
            out.append(SignerResult("", "", False, "the signer's certificate is not in the PKCS#7"))
            continue
        problem = ""
        if signer.digest not in ("sha1", "sha256", "sha384", "sha512"):
            problem = f"digest algorithm {signer.digest}"
        elif signer.signed_attributes is not None:
            if signer.message_digest != hashlib.new(signer.digest, message).digest():
                problem = "the signed messageDigest is not the hash of the update"
            elif not _verify(load_certificate(cert.der), signer.signature, signer.signed_attributes,
                             signer.digest):
                problem = "BAD SIGNATURE"
        elif not _verify(load_certificate(cert.der), signer.signature, message, signer.digest):
            problem = "BAD SIGNATURE"
        out.append(SignerResult(cert.subject, cert.sha256, not problem, problem))
    return tuple(out)


def _find_certificate(certs: tuple[CertificateFacts, ...], signer: _Signer) -> CertificateFacts | None:
    for cert in certs:
        try:
            tbs = der.read(cert.der, 0).child(0)
            fields = tbs.children()
            offset = 1 if fields[0].tag == 0xA0 else 0
            if fields[offset].value == signer.serial_der and fields[offset + 2].raw == signer.issuer_der:
                return cert
        except (der.DerError, IndexError):
            continue
    return None


def _verify(cert: Any, signature: bytes, message: bytes, digest: str) -> bool:
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    algorithms: dict[str, type[hashes.HashAlgorithm]] = {
        "sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
    try:
        key = cert.public_key()
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, message, padding.PKCS1v15(), algorithms[digest]())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, message, ec.ECDSA(algorithms[digest]()))
        else:
            return False
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True


def parse_authenticated_update(data: bytes, what: str, variables: tuple[str, ...] = ()) -> AuthenticatedUpdate:
    """An EFI_VARIABLE_AUTHENTICATION_2 update (``.auth``, Microsoft's ``*Update*.bin``), its payload and the result
    of verifying its signature for ``variables`` (default: every key database)."""
    if len(data) > MAX_AUTH:
        raise SecureBootFormatError(what, 0, f"signed update of {len(data)} bytes, more than {MAX_AUTH}")
    if len(data) < 16 + 24:
        raise SecureBootFormatError(what, 0, "too short for EFI_VARIABLE_AUTHENTICATION_2")
    timestamp = data[:16]
    length = int.from_bytes(data[16:20], "little")
    revision = int.from_bytes(data[20:22], "little")
    cert_type = int.from_bytes(data[22:24], "little")
    if revision != WIN_CERT_REVISION or cert_type != WIN_CERT_TYPE_EFI_GUID:
        raise SecureBootFormatError(what, 20, f"WIN_CERTIFICATE revision {revision:#x} / type {cert_type:#x} is not "
                                    "0x200 / 0xef1 (WIN_CERT_TYPE_EFI_GUID)")
    if guid_text(data[24:40]) != EFI_CERT_TYPE_PKCS7:
        raise SecureBootFormatError(what, 24, f"CertType {guid_text(data[24:40])} is not EFI_CERT_TYPE_PKCS7_GUID")
    if length < 24 or length > len(data) - 16:
        raise SecureBootFormatError(what, 16, f"dwLength {length} does not fit the {len(data) - 16} bytes left")
    pkcs7 = parse_signed_data(data[40 : 16 + length], what, 40)
    payload_bytes = data[16 + length :]
    payload = parse_signature_lists(payload_bytes, what, 16 + length)
    check = check_update(pkcs7, timestamp, payload_bytes, variables or tuple(KEY_DATABASES))
    return AuthenticatedUpdate(efi_time(timestamp), pkcs7, payload, payload_bytes, check)


def check_update(pkcs7: SignedData, timestamp: bytes, payload: bytes, variables: tuple[str, ...]) -> SignatureCheck:
    last: tuple[SignerResult, ...] = ()
    for variable in variables:
        for attributes in TIME_BASED_ATTRIBUTES:
            results = verify_signed_data(pkcs7, signed_bytes(variable, attributes, timestamp, payload))
            if results and all(r.verified for r in results):
                return SignatureCheck(True, variable, attributes, results, TIME_BASED_ATTRIBUTES)
            last = results
    note: str = ""
    if pkcs7.content is not None:
        bare = verify_signed_data(pkcs7, pkcs7.content)
        embedded = "the PKCS#7 embeds its content instead of being detached"
        if bare and all(r.verified for r in bare):
            note = (f"{embedded}, and its signature covers only that content, not VariableName||VendorGuid||"
                    "Attributes||TimeStamp||Data: firmware rejects this update")
        else:
            note = embedded
    only = variables[0] if len(variables) == 1 else None
    return SignatureCheck(False, only, None, last, TIME_BASED_ATTRIBUTES, note)
