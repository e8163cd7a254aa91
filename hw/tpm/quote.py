"""Verifying a TPM 2.0 quote: signature, nonce, PCR digest and signer name, returned as facts.

Inputs are the three files ``tpm2_quote`` writes (``-m`` TPMS_ATTEST, ``-s``
TPMT_SIGNATURE, ``-o`` with ``-F values``) and the attestation key as PEM or
TPM2B_PUBLIC. Nothing here decides pass or fail; ``verifier.measured_boot`` does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hw.tpm.algorithms import HashAlgorithm, hash_by_name
from hw.tpm.attest import PcrSelection, QuoteAttest, parse_quote_attest
from hw.tpm.errors import TpmFormatError
from hw.tpm.public import TpmPublic, parse_public
from hw.tpm.signature import TpmSignature, parse_signature

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

TPM_RH_ENDORSEMENT = 0x4000000B
TPM_RH_OWNER = 0x40000001
MAX_QUOTE_FILE = 64 * 1024

PcrBanks = dict[str, dict[int, bytes]]


@dataclass(frozen=True)
class AttestationKey:
    public_key: RSAPublicKey | EllipticCurvePublicKey
    public_area: TpmPublic | None  # present when given as TPM2B_PUBLIC: enables the name check

    @property
    def keyid(self) -> str:
        """sha256 of the SubjectPublicKeyInfo DER, the project's key id."""
        from cryptography.hazmat.primitives import serialization

        der = self.public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return hashlib.sha256(der).hexdigest()

    def pem(self) -> str:
        from cryptography.hazmat.primitives import serialization

        return self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()


def load_attestation_key(data: bytes) -> AttestationKey:
    """An AK given as a PEM public key (``tpm2_createak -f pem``) or a TPM2B_PUBLIC (``-f tss``, the default)."""
    if data.lstrip().startswith(b"-----BEGIN"):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec, rsa

        try:
            key = serialization.load_pem_public_key(data)
        except ValueError as exc:
            raise TpmFormatError(f"attestation key: not a valid PEM public key ({exc})") from exc
        if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
            raise TpmFormatError("attestation key: only RSA and ECC keys can sign TPM quotes")
        return AttestationKey(key, None)
    public = parse_public(data)
    return AttestationKey(public.public_key(), public)


def qualified_name(parent_qualified_name: bytes, name: bytes) -> bytes:
    """QN = nameAlg || H_nameAlg(parent QN || name) (TPM 2.0 Part 1, 16)."""
    alg_id = int.from_bytes(name[:2], "big")
    from hw.tpm.algorithms import hash_by_id

    return name[:2] + hash_by_id(alg_id).digest(parent_qualified_name + name)


def hierarchy_qualified_name(hierarchy: int) -> bytes:
    """A hierarchy's qualified name is its 4-byte handle."""
    return hierarchy.to_bytes(4, "big")


def expected_qualified_signer(ak: TpmPublic, ek: TpmPublic, hierarchy: int = TPM_RH_ENDORSEMENT) -> bytes:
    """The qualifiedSigner a TPM puts in quotes by an AK created as a child of this primary EK."""
    ek_qn = qualified_name(hierarchy_qualified_name(hierarchy), ek.name)
    return qualified_name(ek_qn, ak.name)


def parse_pcr_values(data: bytes, selections: tuple[PcrSelection, ...]) -> PcrBanks:
    """Split ``tpm2_quote -o FILE -F values`` output by the quote's own PCR selection."""
    expected = sum(s.hash.digest_size * len(s.indexes) for s in selections)
    if len(data) != expected:
        raise TpmFormatError(
            f"PCR values file has {len(data)} bytes but the quote selects {expected} bytes of PCRs "
            "(write it with tpm2_quote -o FILE -F values)"
        )
    out: PcrBanks = {}
    pos = 0
    for sel in selections:
        bank = out.setdefault(sel.hash.name, {})
        for index in sel.indexes:
            bank[index] = data[pos : pos + sel.hash.digest_size]
            pos += sel.hash.digest_size
    return out


def pcr_digest(
    selections: tuple[PcrSelection, ...], pcrs: Mapping[str, Mapping[int, bytes]], alg: HashAlgorithm
) -> bytes:
    """H(PCR values concatenated in selection order), as TPM2_Quote computes pcrDigest."""
    buf = bytearray()
    for sel in selections:
        bank = pcrs.get(sel.hash.name, {})
        for index in sel.indexes:
            value = bank.get(index)
            if value is None:
                raise TpmFormatError(f"no value for PCR {sel.hash.name}:{index}, which the quote selects")
            buf += value
    return alg.digest(bytes(buf))


def verify_signature(key: RSAPublicKey | EllipticCurvePublicKey, signature: TpmSignature, message: bytes) -> str:
    """Empty string when the signature verifies, else why not."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    algorithm: hashes.HashAlgorithm = {
        "sha1": hashes.SHA1(),  # noqa: S303 - the TPM chose the hash; a SHA-1 quote is judged, not trusted
        "sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()
    }.get(signature.hash.name, hashes.SHA256())
    if signature.hash.name not in ("sha1", "sha256", "sha384", "sha512"):
        return f"signature hash {signature.hash.name} is not supported"
    try:
        if signature.scheme == "ecdsa":
            if not isinstance(key, ec.EllipticCurvePublicKey):
                return "the quote is signed with ECDSA but the attestation key is RSA"
            key.verify(signature.to_der_or_raw(), message, ec.ECDSA(algorithm))
        else:
            if not isinstance(key, rsa.RSAPublicKey):
                return f"the quote is signed with {signature.scheme.upper()} but the attestation key is ECC"
            pad: padding.AsymmetricPadding = (
                padding.PKCS1v15()
                if signature.scheme == "rsassa"
                else padding.PSS(mgf=padding.MGF1(algorithm), salt_length=padding.PSS.AUTO)
            )
            key.verify(signature.rsa_signature, message, pad, algorithm)
    except InvalidSignature:
        return "the signature does not verify with the attestation key"
    return ""


@dataclass(frozen=True)
class QuoteVerification:
    """The facts about one quote. ``None`` means the check had nothing to compare with."""

    attest: QuoteAttest
    signature_scheme: str
    signature_hash: str
    pcrs: PcrBanks
    signature_error: str
    nonce_matches: bool | None
    computed_pcr_digest: bytes
    pcr_digest_matches: bool
    signer_name_matches: bool | None
    expected_signer: bytes | None
    ak_keyid: str
    ak_name: bytes | None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def signature_valid(self) -> bool:
        return not self.signature_error

    def pcrs_hex(self) -> dict[str, dict[str, str]]:
        return {bank: {str(i): v.hex() for i, v in sorted(vals.items())} for bank, vals in self.pcrs.items()}

    def to_json(self) -> dict[str, Any]:
        return {
            "attest": self.attest.to_json(),
            "signature": {"scheme": self.signature_scheme, "hash": self.signature_hash,
                          "valid": self.signature_valid, "error": self.signature_error},
            "nonce_matches": self.nonce_matches,
            "pcr_digest": {"quoted": self.attest.pcr_digest.hex(), "computed": self.computed_pcr_digest.hex(),
                           "matches": self.pcr_digest_matches},
            "signer_name_matches": self.signer_name_matches,
            "expected_signer": self.expected_signer.hex() if self.expected_signer else None,
            "ak_keyid": self.ak_keyid,
            "ak_name": self.ak_name.hex() if self.ak_name else None,
            "pcrs": self.pcrs_hex(),
        }


def verify_quote(
    message: bytes,
    signature: bytes,
    pcr_values: bytes,
    ak: AttestationKey,
    *,
    nonce: bytes | None,
    ek_public: TpmPublic | None = None,
) -> QuoteVerification:
    """Check everything a quote can prove on its own; malformed input raises ``TpmFormatError``."""
    for label, blob in (("message", message), ("signature", signature), ("PCR values", pcr_values)):
        if len(blob) > MAX_QUOTE_FILE:
            raise TpmFormatError(f"quote {label} file is {len(blob)} bytes, larger than any TPM quote")
    attest = parse_quote_attest(message)
    sig = parse_signature(signature)
    pcrs = parse_pcr_values(pcr_values, attest.selections)
    computed = pcr_digest(attest.selections, pcrs, sig.hash)
    signer_matches: bool | None = None
    expected: bytes | None = None
    notes: list[str] = []
    if ak.public_area is not None and ek_public is not None:
        expected = expected_qualified_signer(ak.public_area, ek_public)
        signer_matches = expected == attest.qualified_signer
    elif ak.public_area is not None:
        notes.append("qualifiedSigner not checked: give the EK public area (tpm2_createek -u) as well")
    else:
        notes.append("qualifiedSigner not checked: the AK was given as PEM, not as its TPM2B_PUBLIC")
    return QuoteVerification(
        attest=attest,
        signature_scheme=sig.scheme,
        signature_hash=sig.hash.name,
        pcrs=pcrs,
        signature_error=verify_signature(ak.public_key, sig, message),
        nonce_matches=None if nonce is None else attest.extra_data == nonce,
        computed_pcr_digest=computed,
        pcr_digest_matches=computed == attest.pcr_digest,
        signer_name_matches=signer_matches,
        expected_signer=expected,
        ak_keyid=ak.keyid,
        ak_name=ak.public_area.name if ak.public_area else None,
        notes=tuple(notes),
    )


__all__ = ["AttestationKey", "QuoteVerification", "hash_by_name", "load_attestation_key", "verify_quote"]
