"""Authenticode facts, read from the PE certificate table without relying on LIEF's signature parser.

LIEF reports ``NO_SIGNATURE`` for some validly signed images (Debian's ``fwupdx64.efi.signed``), so the
table is walked here: every WIN_CERTIFICATE, every PKCS#7 SignedData in it, nested signatures included.
For each signature this module computes whether the image hash matches the signed digest, whether the
signed attributes match the content, whether the signer's signature verifies, and whether the signer
chains to one of the given trust anchors. It states facts; ``verifier.checks.firmware`` judges them.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from verifier.errors import BadInputError
from verifier.firmware import der

# Heavy, so imported inside the functions that use it: cryptography (~20-50 ms; x509 ~55 ms),
# loaded only when a signature is checked.

_OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
_OID_SPC_INDIRECT_DATA = "1.3.6.1.4.1.311.2.1.4"
_OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
_OID_NESTED_SIGNATURE = "1.3.6.1.4.1.311.2.4.1"
_HASHES = {
    "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
_WIN_CERT_TYPE_PKCS_SIGNED_DATA = 0x0002
_WIN_CERT_REVISION_2_0 = 0x0200
_MAX_CHAIN = 8
# Unsigned attributes a signer legitimately leaves outside the signature: timestamps and nested signatures.
# Any other unsigned attribute is room for bytes that no signature covers.
_KNOWN_UNSIGNED_ATTRIBUTES = {
    "1.2.840.113549.1.9.6": "countersignature",
    "1.3.6.1.4.1.311.3.3.1": "RFC 3161 timestamp",
    _OID_NESTED_SIGNATURE: "nested signature",
}


@dataclass(frozen=True)
class SignerInfo:
    subject: str
    issuer: str
    serial: str
    certificate_sha256: str

    def to_json(self) -> dict[str, str]:
        return {"subject": self.subject, "issuer": self.issuer, "serial": self.serial,
                "certificate_sha256": self.certificate_sha256}


@dataclass(frozen=True)
class Signature:
    """One PKCS#7 signature over the image, with what was established about it."""

    digest_algorithm: str
    signed_digest: str
    image_digest: str
    signer: SignerInfo | None
    signature_valid: bool
    attributes_valid: bool
    trusted_by: str | None
    problem: str = ""
    chain: tuple[str, ...] = ()

    @property
    def integrity_ok(self) -> bool:
        return self.signed_digest == self.image_digest and self.signature_valid and self.attributes_valid


@dataclass(frozen=True)
class AuthenticodeFacts:
    table_offset: int
    table_size: int
    sha256: str
    signatures: tuple[Signature, ...] = ()
    parse_errors: tuple[str, ...] = field(default_factory=tuple)
    # Bytes in or around the table that are not exactly the signatures (CVE-2013-3900 and relatives): the
    # Authenticode hash skips the table, so anything kept there rides along with a valid signature.
    table_problems: tuple[str, ...] = field(default_factory=tuple)

    @property
    def has_table(self) -> bool:
        return self.table_size > 0


def _pe_layout(data: bytes) -> tuple[int, int | None, int, int]:
    """Offsets of the checksum field and the certificate-table directory entry, and the table's extent.

    The entry is None when the optional header has none: it declares fewer than five data directories, or
    the file ends first (LIEF still parses such headers; found by fuzzing). Such an image is unsigned.
    """
    (lfanew,) = struct.unpack_from("<I", data, 0x3C)
    optional = lfanew + 24
    checksum_at = optional + 64
    if optional + 2 > len(data):
        return checksum_at, None, 0, 0
    (magic,) = struct.unpack_from("<H", data, optional)
    directories = optional + (96 if magic == 0x10B else 112)
    security_entry = directories + 4 * 8
    if security_entry + 8 > len(data):
        return checksum_at, None, 0, 0
    (directory_count,) = struct.unpack_from("<I", data, directories - 4)
    if directory_count < 5:
        return checksum_at, None, 0, 0
    table_offset, table_size = struct.unpack_from("<II", data, security_entry)
    return checksum_at, security_entry, table_offset, table_size


def image_digest(data: bytes, algorithm: str = "sha256") -> str:
    """The Authenticode hash: the file without its checksum, its certificate-table entry and the table itself."""
    checksum_at, security_entry, table_offset, table_size = _pe_layout(data)
    digest = hashlib.new(algorithm)
    digest.update(data[:checksum_at])
    if security_entry is None:
        digest.update(data[checksum_at + 4 :])
        return digest.hexdigest()
    digest.update(data[checksum_at + 4 : security_entry])
    if table_size and 0 < table_offset <= len(data):
        digest.update(data[security_entry + 8 : table_offset])
        rest = data[table_offset + table_size :]
    else:
        rest = data[security_entry + 8 :]
    digest.update(rest)
    return digest.hexdigest()


def read_authenticode(data: bytes, trust_anchors: Sequence[Any] = ()) -> AuthenticodeFacts:
    """Every signature in ``data``'s certificate table, checked; anchors are ``cryptography`` certificates.

    The table must hold exactly the signatures: each WIN_CERTIFICATE is revision 2.0, PKCS#7 SignedData,
    as long as its DER (rounded up to 8 at most, zero padding only), the entries fill the table, the table
    lies after every header and section and ends the file. Anything else is a ``table_problems`` entry.
    """
    _, _, table_offset, table_size = _pe_layout(data)
    sha256 = image_digest(data, "sha256")
    if not table_size:
        return AuthenticodeFacts(0, 0, sha256)
    if table_offset + table_size > len(data) or table_offset == 0:
        return AuthenticodeFacts(table_offset, table_size, sha256,
                                 parse_errors=("certificate table points outside the file",),
                                 table_problems=("the certificate table directory points outside the file",))
    table = data[table_offset : table_offset + table_size]
    signatures: list[Signature] = []
    errors: list[str] = []
    problems = _placement_problems(data, table_offset, table_size)
    seen: dict[bytes, int] = {}
    unreadable: list[str] = []
    pos = 0
    while pos + 8 <= len(table):
        length, revision, cert_type = struct.unpack_from("<IHH", table, pos)
        if length < 8 or pos + length > len(table):
            errors.append(f"WIN_CERTIFICATE at {pos} has a bad length {length}")
            problems.append(f"WIN_CERTIFICATE at table offset {pos} declares {length} bytes, "
                            f"{len(table) - pos} are left in the table")
            break
        blob = table[pos + 8 : pos + length]
        if revision != _WIN_CERT_REVISION_2_0:
            problems.append(f"WIN_CERTIFICATE at table offset {pos} has wRevision {revision:#06x}, not 0x0200")
        if blob in seen:
            problems.append(f"WIN_CERTIFICATE at table offset {pos} repeats the one at {seen[blob]}")
        seen.setdefault(blob, pos)
        if cert_type == _WIN_CERT_TYPE_PKCS_SIGNED_DATA:
            problems += _entry_problems(blob, pos, length)
            try:
                signatures.extend(_signatures(blob, data, trust_anchors, depth=0, problems=problems))
            except (der.DerError, ValueError, IndexError) as exc:
                errors.append(f"PKCS#7 at table offset {pos} cannot be parsed: {exc}")
                unreadable.append(f"WIN_CERTIFICATE at table offset {pos} is not a readable PKCS#7 signature")
                if "indefinite" in str(exc):
                    problems.append(f"the PKCS#7 at table offset {pos} uses BER indefinite lengths; "
                                    "its extent cannot be established")
        else:
            errors.append(f"WIN_CERTIFICATE type {cert_type:#x} at {pos} is not PKCS#7 SignedData")
            problems.append(f"WIN_CERTIFICATE at table offset {pos} has wCertificateType {cert_type:#06x}, "
                            "not PKCS#7 SignedData (0x0002)")
        start, pos = pos, pos + ((length + 7) & ~7)
        if table[start + length : pos].strip(b"\0"):
            problems.append(f"the padding after the WIN_CERTIFICATE at table offset {start} is not zero")
    if pos < len(table):
        problems.append(f"{len(table) - pos} bytes at the end of the certificate table belong to no entry")
    if signatures:
        # Next to a readable signature, an unreadable entry is not an unknown signature state: it is extra bytes.
        problems += unreadable
    return AuthenticodeFacts(table_offset, table_size, sha256, tuple(signatures), tuple(errors),
                             tuple(dict.fromkeys(problems)))


def _image_end(data: bytes) -> int | None:
    """Where the headers and the sections' raw data end, read from the section table; None if unreadable."""
    try:
        (lfanew,) = struct.unpack_from("<I", data, 0x3C)
        (count,) = struct.unpack_from("<H", data, lfanew + 6)
        (optional_size,) = struct.unpack_from("<H", data, lfanew + 20)
        (headers_size,) = struct.unpack_from("<I", data, lfanew + 24 + 60)
        end = int(headers_size)
        table = lfanew + 24 + optional_size
        for index in range(count):
            raw_size, raw_pointer = struct.unpack_from("<II", data, table + 40 * index + 16)
            if raw_size:
                end = max(end, int(raw_pointer) + int(raw_size))
    except struct.error:
        return None
    return end


def _placement_problems(data: bytes, table_offset: int, table_size: int) -> list[str]:
    problems: list[str] = []
    image_end = _image_end(data)
    if image_end is not None and table_offset < image_end:
        # The hash skips the table, so a table laid over headers or section data unauthenticates those bytes.
        problems.append(f"the certificate table at {table_offset:#x} lies inside the headers or sections, "
                        f"which end at {image_end:#x}")
    after = len(data) - (table_offset + table_size)
    if after > 0:
        # EDK2 hashes what follows the sections up to (file size - table size), provcheck what follows the
        # table: two verifiers would hash different bytes, so only a table that ends the file is accepted.
        problems.append(f"{after} bytes follow the certificate table; it must end the file")
    return problems


def _entry_problems(blob: bytes, pos: int, length: int) -> list[str]:
    """The entry must be exactly the DER signature, rounded up to 8 with zeros at most."""
    if not blob or blob[0] != 0x30:
        return []  # not a SEQUENCE: reported as a parse error, the signature state is unknown
    if len(blob) >= 2 and blob[1] == 0x80:
        return [f"the PKCS#7 at table offset {pos} uses BER indefinite lengths; its extent cannot be established"]
    try:
        signature_length = der.read(blob).end
    except der.DerError:
        return []  # reported as a parse error: the signature state is unknown, not "extra bytes"
    exact = 8 + signature_length
    if length not in (exact, (exact + 7) & ~7):
        return [f"WIN_CERTIFICATE at table offset {pos} declares {length} bytes for a {signature_length}-byte "
                f"signature: {length - exact} bytes beyond the signature"]
    if blob[signature_length:].strip(b"\0"):
        return [f"the bytes after the signature in the WIN_CERTIFICATE at table offset {pos} are not zero"]
    return []


def _signatures(blob: bytes, image: bytes, anchors: Sequence[Any], *, depth: int,
                problems: list[str]) -> list[Signature]:
    content_info = der.read(blob)
    if content_info.child(0).oid() != _OID_SIGNED_DATA:
        raise der.DerError("not a SignedData ContentInfo")
    if len(content_info.children()) != 2 or len(content_info.child(1).children()) != 1:
        problems.append("the PKCS#7 ContentInfo holds elements besides its SignedData")
    signed_data = content_info.child(1).child(0)
    parts = signed_data.children()
    encap = parts[2]
    if encap.child(0).oid() != _OID_SPC_INDIRECT_DATA:
        raise der.DerError("SignedData does not carry SpcIndirectDataContent")
    indirect = encap.child(1).child(0)
    digest_info = indirect.child(1)
    algorithm = _HASHES.get(digest_info.child(0).child(0).oid(), "")
    signed_digest = digest_info.child(1).value.hex()
    certificates = _certificates(parts, problems)
    signer_infos = next((p for p in reversed(parts) if p.tag == 0x31), None)
    if signer_infos is None:
        raise der.DerError("SignedData has no signerInfos")
    out: list[Signature] = []
    for signer_info in signer_infos.children():
        out.append(_check_signer(signer_info, indirect, algorithm, signed_digest, image, certificates, anchors))
        _unsigned_attribute_problems(signer_info, problems)
        if depth < 2:
            out.extend(_nested(signer_info, image, anchors, depth, problems))
    return out


def _unsigned_attribute_problems(signer_info: der.Node, problems: list[str]) -> None:
    unsigned = next((f for f in signer_info.children() if f.tag == 0xA1), None)
    for attribute in unsigned.children() if unsigned is not None else []:
        oid = attribute.child(0).oid()
        if oid not in _KNOWN_UNSIGNED_ATTRIBUTES:
            problems.append(f"a signer carries an unsigned attribute {oid} ({len(attribute.raw)} bytes no "
                            "signature covers)")


def _certificates(parts: list[der.Node], problems: list[str]) -> list[Any]:
    from cryptography import x509

    certs: list[Any] = []
    for part in parts[3:]:
        if part.tag == 0xA0:
            for node in part.children():
                try:
                    certs.append(x509.load_der_x509_certificate(node.raw))
                except ValueError:
                    problems.append(f"the signature's certificate bag holds {len(node.raw)} bytes that are not "
                                    "an X.509 certificate")
    return certs


def _check_signer(signer_info: der.Node, indirect: der.Node, algorithm: str, signed_digest: str, image: bytes,
                  certificates: list[Any], anchors: Sequence[Any]) -> Signature:
    fields = signer_info.children()
    issuer_serial = fields[1]
    serial = int.from_bytes(issuer_serial.child(1).value, "big", signed=True)
    issuer_der = issuer_serial.child(0).raw
    signer_cert = next((c for c in certificates if c.serial_number == serial
                        and c.issuer.public_bytes() == issuer_der), None)
    image_hash = image_digest(image, algorithm) if algorithm else ""
    problem = "" if algorithm else "unsupported digest algorithm"
    attributes = next((f for f in fields if f.tag == 0xA0), None)
    attributes_valid = False
    signature_valid = False
    if attributes is not None and algorithm:
        content_hash = hashlib.new(algorithm, indirect.value).digest()
        for attribute in attributes.children():
            if attribute.child(0).oid() == _OID_MESSAGE_DIGEST:
                attributes_valid = attribute.child(1).child(0).value == content_hash
        if not attributes_valid:
            problem = problem or "signed attributes do not match the signed content"
    encrypted = next((f for f in fields if f.tag == 0x04), None)
    if signer_cert is None:
        problem = problem or "the signer's certificate is not in the signature"
    elif attributes is not None and encrypted is not None and algorithm:
        signed_bytes = b"\x31" + attributes.raw[1:]
        signature_valid = _verify(signer_cert, encrypted.value, signed_bytes, algorithm)
        if not signature_valid:
            problem = problem or "the signer's signature does not verify"
    trusted_by: str | None = None
    chain: tuple[str, ...] = ()
    if signer_cert is not None:
        trusted_by, chain = _chain(signer_cert, certificates, anchors)
    signer = None
    if signer_cert is not None:
        signer = SignerInfo(signer_cert.subject.rfc4514_string(), signer_cert.issuer.rfc4514_string(),
                            f"{signer_cert.serial_number:x}", _fingerprint(signer_cert))
    return Signature(algorithm, signed_digest, image_hash, signer, signature_valid, attributes_valid,
                     trusted_by, problem, chain)


def _nested(signer_info: der.Node, image: bytes, anchors: Sequence[Any], depth: int,
            problems: list[str]) -> list[Signature]:
    unsigned = next((f for f in signer_info.children() if f.tag == 0xA1), None)
    if unsigned is None:
        return []
    out: list[Signature] = []
    for attribute in unsigned.children():
        if attribute.child(0).oid() == _OID_NESTED_SIGNATURE:
            for nested in attribute.child(1).children():
                out.extend(_signatures(nested.raw, image, anchors, depth=depth + 1, problems=problems))
    return out


def _verify(cert: Any, signature: bytes, message: bytes, algorithm: str) -> bool:
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    hash_cls: dict[str, type[hashes.HashAlgorithm]] = {
        "sha1": hashes.SHA1, "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512}
    try:
        key = cert.public_key()
    except (UnsupportedAlgorithm, ValueError):
        return False  # a key type cryptography cannot load (found by mutating fwupd's signer certificate)
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, message, padding.PKCS1v15(), hash_cls[algorithm]())
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, message, ec.ECDSA(hash_cls[algorithm]()))
        else:
            return False
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _fingerprint(cert: Any) -> str:
    from cryptography.hazmat.primitives import hashes

    return bytes(cert.fingerprint(hashes.SHA256())).hex()


def _issued_by(cert: Any, issuer: Any) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except Exception:  # cryptography raises ValueError, TypeError or InvalidSignature here
        return False
    return True


def _chain(signer: Any, bag: list[Any], anchors: Sequence[Any]) -> tuple[str | None, tuple[str, ...]]:
    """Follow issuers through the signature's own certificates until an anchor signs one (or is one)."""
    current = signer
    path: list[str] = [current.subject.rfc4514_string()]
    for _ in range(_MAX_CHAIN):
        for anchor in anchors:
            if _fingerprint(anchor) == _fingerprint(current) or _issued_by(current, anchor):
                return anchor.subject.rfc4514_string(), tuple(path)
        issuer = next((c for c in bag if c.subject == current.issuer and c is not current
                       and _issued_by(current, c)), None)
        if issuer is None:
            return None, tuple(path)
        current = issuer
        path.append(current.subject.rfc4514_string())
    return None, tuple(path)


def load_trust_anchors(paths: Sequence[Any]) -> list[Any]:
    """Certificates (PEM, possibly several per file, or DER) from ``paths``; bad files raise BadInputError."""
    from cryptography import x509

    anchors: list[Any] = []
    for path in paths:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise BadInputError(f"cannot read trust anchor {path}: {exc.strerror or exc}") from exc
        try:
            if b"-----BEGIN CERTIFICATE-----" in raw:
                anchors.extend(x509.load_pem_x509_certificates(raw))
            else:
                anchors.append(x509.load_der_x509_certificate(raw))
        except ValueError as exc:
            raise BadInputError(f"trust anchor {path} is not an X.509 certificate") from exc
    return anchors
