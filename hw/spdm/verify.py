"""Verification of SPDM facts: CHALLENGE_AUTH and MEASUREMENTS signatures, the slot's chain to a trust anchor.

Hand-written: no maintained Python SPDM requester exists. cryptography does the arithmetic (imported inside the
functions: pyproject's TID253); this module says what is signed and by which key. Signatures are as DSP0274 puts
them on the wire: ECDSA as r || s (each the curve's size, big-endian), RSASSA-PKCS1-v1_5, RSA-PSS with a salt as
long as the hash. The chain is ``Length u16 | reserved u16 | H(root DER) | DER certificates``; it must reach a
trust anchor by key (a certificate with the anchor's name and another key is not the anchor).
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hw.spdm.messages import Reader, SpdmFormatError
from hw.spdm.transcript import digest

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
    from cryptography.hazmat.primitives.hashes import HashAlgorithm
    from cryptography.x509 import Certificate

MAX_CHAIN = 0xFFFF
MAX_CERTS = 16
_CURVES = {"ECDSA-P256": ("secp256r1", 32), "ECDSA-P384": ("secp384r1", 48), "ECDSA-P521": ("secp521r1", 66)}


def _hash_algorithm(hash_name: str) -> HashAlgorithm:
    from cryptography.hazmat.primitives import hashes

    return {"SHA-256": hashes.SHA256(), "SHA-384": hashes.SHA384(), "SHA-512": hashes.SHA512()}[hash_name]


def verify_signature(
    public_key: PublicKeyTypes, asym_name: str, hash_name: str, message: bytes, signature: bytes
) -> bool:
    """Whether ``signature`` (wire form) over ``message`` verifies with ``public_key`` under the negotiated pair."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

    algorithm = _hash_algorithm(hash_name)
    try:
        if asym_name in _CURVES:
            curve, size = _CURVES[asym_name]
            if not isinstance(public_key, ec.EllipticCurvePublicKey) or public_key.curve.name != curve:
                return False
            if len(signature) != 2 * size:
                return False
            r, s = int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
            public_key.verify(utils.encode_dss_signature(r, s), message, ec.ECDSA(algorithm))
            return True
        if asym_name.startswith(("RSASSA-", "RSAPSS-")):
            bits = int(asym_name.split("-")[1])
            if not isinstance(public_key, rsa.RSAPublicKey) or public_key.key_size != bits:
                return False
            if len(signature) != bits // 8:
                return False
            pad: padding.AsymmetricPadding = (
                padding.PKCS1v15()
                if asym_name.startswith("RSASSA-")
                else padding.PSS(padding.MGF1(algorithm), algorithm.digest_size)
            )
            public_key.verify(signature, message, pad, algorithm)
            return True
    except (InvalidSignature, ValueError):
        return False
    return False


def split_der(blob: bytes, *, limit: int = MAX_CERTS) -> list[bytes]:
    """DER certificates laid end to end, each SEQUENCE's length checked against what remains."""
    r = Reader(blob, "certificate chain")
    out: list[bytes] = []
    while r.at < len(blob):
        if len(out) >= limit:
            raise SpdmFormatError(f"certificate chain holds more than {limit} certificates")
        start = r.at
        if r.u8("certificate tag") != 0x30:
            raise SpdmFormatError(f"certificate chain: no DER SEQUENCE at offset {start}")
        first = r.u8("certificate length")
        if first < 0x80:
            length = first
        elif 0x81 <= first <= 0x83:
            length = int.from_bytes(r.take(first & 0x7F, "certificate length"), "big")
        else:
            raise SpdmFormatError(f"certificate chain: DER length form 0x{first:02x} at offset {start}")
        r.take(length, "certificate body")
        out.append(blob[start : r.at])
    if not out:
        raise SpdmFormatError("certificate chain holds no certificate")
    return out


@dataclass(frozen=True)
class SpdmChain:
    """A slot's chain as the responder stores it."""

    blob: bytes
    root_hash: bytes
    certs: tuple[bytes, ...]  # root (or first) first, leaf last


def parse_chain(blob: bytes, hash_name: str) -> SpdmChain:
    r = Reader(blob, "certificate chain")
    length = r.u16("Length")
    if length != len(blob):
        raise SpdmFormatError(f"certificate chain: Length says {length} bytes, {len(blob)} were read")
    r.u16("reserved")
    root_hash = r.take(len(digest(hash_name, b"")), "RootHash")
    return SpdmChain(blob, root_hash, tuple(split_der(r.rest())))


def load_certificate(der: bytes) -> Certificate:
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm

    try:
        return x509.load_der_x509_certificate(der)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise SpdmFormatError(f"a certificate in the chain is not DER X.509: {exc}") from exc


def spki(key: PublicKeyTypes) -> bytes:
    from cryptography.hazmat.primitives import serialization

    der: bytes = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return der


def leaf_key(chain: SpdmChain) -> PublicKeyTypes:
    from cryptography.exceptions import UnsupportedAlgorithm

    try:
        return load_certificate(chain.certs[-1]).public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise SpdmFormatError(f"the leaf certificate's key cannot be read: {exc}") from exc


def leaf_fingerprint(chain: SpdmChain) -> str:
    return hashlib.sha256(spki(leaf_key(chain))).hexdigest()


def _usable_key(cert: Certificate) -> bool:
    from cryptography.exceptions import UnsupportedAlgorithm

    try:
        cert.public_key()
    except (ValueError, UnsupportedAlgorithm):
        return False
    return True


def _is_ca(cert: Certificate) -> bool:
    from cryptography import x509

    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def chain_problem(
    chain: SpdmChain, anchors: list[bytes], hash_name: str, *, now: datetime.datetime | None = None
) -> str | None:
    """None when the chain is sound and reaches one of ``anchors`` (DER) by key; otherwise why not."""
    if not anchors:
        return "no trust anchor was given"
    when = now or datetime.datetime.now(datetime.UTC)
    certs = [load_certificate(der) for der in chain.certs]
    if digest(hash_name, chain.certs[0]) != chain.root_hash:
        return "the chain's RootHash is not the hash of its first certificate"
    for cert in certs:
        if not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
            return f"certificate {cert.subject.rfc4514_string()!r} is not valid now"
    for parent, child in itertools.pairwise(certs):
        if not _is_ca(parent):
            return f"{parent.subject.rfc4514_string()!r} signs another certificate but is not a CA"
        try:
            child.verify_directly_issued_by(parent)
        except Exception:
            return f"{child.subject.rfc4514_string()!r} is not signed by {parent.subject.rfc4514_string()!r}"
    top = certs[0]
    for anchor_der in anchors:
        anchor = load_certificate(anchor_der)
        if not _usable_key(anchor) or not _usable_key(top):
            continue
        if spki(anchor.public_key()) == spki(top.public_key()) and anchor.subject == top.subject:
            return None
        if spki(anchor.public_key()) != spki(top.public_key()) and _is_ca(anchor):
            try:
                top.verify_directly_issued_by(anchor)
            except Exception:  # noqa: S112 - try the next anchor
                continue
            return None
    return "the chain does not reach the trust anchor (compared by key, not by name)"
