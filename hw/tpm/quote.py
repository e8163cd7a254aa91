"""Verifying a TPM 2.0 quote: signature, nonce, PCR digest and signer name, returned as facts.

Inputs are the three files ``tpm2_quote`` writes (``-m`` TPMS_ATTEST, ``-s``
TPMT_SIGNATURE, ``-o`` with ``-F values``) and the attestation key as PEM or
TPM2B_PUBLIC. Nothing here decides pass or fail; ``verifier.checks.measured_boot`` does.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from hw.tpm.algorithms import HashAlgorithm, hash_by_id, hash_by_name
from hw.tpm.attest import PcrSelection, QuoteAttest, parse_quote_attest
from hw.tpm.errors import TpmFormatError
from hw.tpm.public import TpmPublic, parse_public
from hw.tpm.signature import TpmSignature, parse_signature

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

# Heavy, so imported inside the functions that use it (pyproject's TID253): cryptography, loaded only
# when an attestation key is loaded or a quote's signature checked.

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
    return name[:2] + hash_by_id(alg_id).digest(parent_qualified_name + name)


def hierarchy_qualified_name(hierarchy: int) -> bytes:
    """A hierarchy's qualified name is its 4-byte handle."""
    return hierarchy.to_bytes(4, "big")


def expected_qualified_signer(ak: TpmPublic, ek: TpmPublic, hierarchy: int = TPM_RH_ENDORSEMENT) -> bytes:
    """The qualifiedSigner a TPM puts in quotes by an AK created as a child of this primary EK."""
    ek_qn = qualified_name(hierarchy_qualified_name(hierarchy), ek.name)
    return qualified_name(ek_qn, ak.name)


# tpm2-tools' default ("serialized") PCR output, as tpm2_quote -o and tpm2_pcrread -o write it and
# tpm2_checkquote -f reads it: the C structs written as they lie in memory (lib/pcr.c). Integers are in
# the writer's byte order: host order in tpm2-tools 5.4 (Debian 12, little-endian on x86 and arm64),
# big-endian in later releases; the bank count (1 to 16) tells which.
#   TPML_PCR_SELECTION  UINT32 count; TPMS_PCR_SELECTION[16], each UINT16 hash, UINT8 sizeofSelect,
#                       BYTE pcrSelect[4] and one byte of alignment padding          -> 4 + 16 * 8 = 132
#   UINT32              how many TPML_DIGEST follow
#   TPML_DIGEST[n]      UINT32 count; TPM2B_DIGEST[8], each UINT16 size, BYTE buffer[64] -> 4 + 8 * 66 = 532
_SER_BANKS, _SER_SELECTION, _SER_SELECT_MAX = 16, 8, 4
_SER_SELECTION_LIST = 4 + _SER_BANKS * _SER_SELECTION
_SER_DIGESTS, _SER_DIGEST, _SER_HASH_MAX = 8, 66, 64
_SER_DIGEST_LIST = 4 + _SER_DIGESTS * _SER_DIGEST


ByteOrder = Literal["little", "big"]


def _serialized_order(data: bytes) -> ByteOrder:
    if 1 <= int.from_bytes(data[0:4], "little") <= _SER_BANKS:
        return "little"
    return "big"


def _serialized_selection(data: bytes, order: ByteOrder) -> tuple[tuple[int, tuple[int, ...]], ...]:
    count = int.from_bytes(data[0:4], order)
    if not 1 <= count <= _SER_BANKS:
        raise TpmFormatError(f"serialized PCR file selects {count} banks (1 to {_SER_BANKS} possible)")
    out = []
    for bank in range(count):
        at = 4 + bank * _SER_SELECTION
        alg = int.from_bytes(data[at : at + 2], order)
        size = data[at + 2]
        if size > _SER_SELECT_MAX:
            raise TpmFormatError(f"serialized PCR file: bank {bank} has sizeofSelect {size} (at most 4)")
        bitmap = data[at + 3 : at + 3 + size]
        out.append((alg, tuple(i for i in range(size * 8) if bitmap[i // 8] >> (i % 8) & 1)))
    return tuple(out)


def _serialized_digests(data: bytes, order: ByteOrder) -> list[bytes]:
    at = _SER_SELECTION_LIST
    lists = int.from_bytes(data[at : at + 4], order)
    at += 4
    if len(data) != at + lists * _SER_DIGEST_LIST:
        raise TpmFormatError(
            f"serialized PCR file is {len(data)} bytes; its header announces {lists} digest lists, "
            f"{at + lists * _SER_DIGEST_LIST} bytes"
        )
    digests = []
    for _ in range(lists):
        count = int.from_bytes(data[at : at + 4], order)
        if count > _SER_DIGESTS:
            raise TpmFormatError(f"serialized PCR file: a digest list holds {count} digests (at most 8)")
        for k in range(count):
            entry = at + 4 + k * _SER_DIGEST
            size = int.from_bytes(data[entry : entry + 2], order)
            if size > _SER_HASH_MAX:
                raise TpmFormatError(f"serialized PCR file: a digest of {size} bytes (at most 64)")
            digests.append(data[entry + 2 : entry + 2 + size])
        at += _SER_DIGEST_LIST
    return digests


def parse_serialized_pcrs(data: bytes, selections: tuple[PcrSelection, ...]) -> PcrBanks:
    """Split tpm2-tools' serialized PCR file (``tpm2_quote -o FILE``, no ``-F``) by the quote's own selection.

    The file's own selection must be the quote's, bank by bank and PCR by PCR, and it must hold exactly one
    digest of the bank's size per selected PCR, in selection order. Padding bytes carry nothing and are not read.
    """
    if len(data) < _SER_SELECTION_LIST + 4:
        raise TpmFormatError(f"serialized PCR file is {len(data)} bytes, shorter than its header")
    order = _serialized_order(data)
    declared = _serialized_selection(data, order)
    quoted = tuple((s.hash.alg_id, tuple(s.indexes)) for s in selections)
    if declared != quoted:
        raise TpmFormatError("the PCR file selects other PCRs than the quote does")
    digests = _serialized_digests(data, order)
    wanted = [(sel.hash, index) for sel in selections for index in sel.indexes]
    if len(digests) != len(wanted):
        raise TpmFormatError(f"serialized PCR file holds {len(digests)} digests; the quote selects {len(wanted)} PCRs")
    out: PcrBanks = {}
    for (alg, index), value in zip(wanted, digests, strict=True):
        if len(value) != alg.digest_size:
            raise TpmFormatError(f"serialized PCR file: PCR {alg.name}:{index} has {len(value)} bytes, "
                                 f"not {alg.digest_size}")
        out.setdefault(alg.name, {})[index] = value
    return out


def parse_pcr_values(data: bytes, selections: tuple[PcrSelection, ...]) -> PcrBanks:
    """The PCR values a quote selects, from ``tpm2_quote -o FILE``: the default serialized form, or ``-F values``.

    Either way only the shape is taken from the file; the values are then checked against the quote's signed
    pcrDigest, so a file that misstates them cannot pass.
    """
    expected = sum(s.hash.digest_size * len(s.indexes) for s in selections)
    # A serialized file is always longer than the bare values of the same selection (its header alone is
    # 136 bytes, and each list of up to 8 digests takes 532 bytes for at most 8 * 64), so the length decides.
    if len(data) != expected and len(data) >= _SER_SELECTION_LIST + 4:
        return parse_serialized_pcrs(data, selections)
    if len(data) != expected:
        raise TpmFormatError(
            f"PCR values file has {len(data)} bytes but the quote selects {expected} bytes of PCRs "
            "(give tpm2_quote -o FILE, serialized or -F values)"
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
