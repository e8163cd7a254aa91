"""TPM2B_PUBLIC (TPM 2.0 Part 2, 12.2.5): an attestation key's public area, its key, and its name.

The name is nameAlg || H_nameAlg(TPMT_PUBLIC); a quote's qualifiedSigner is
derived from it, which is how a quote is tied to one specific key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hw.tpm.algorithms import ALG_ECC, ALG_NULL, ALG_RSA, HashAlgorithm, hash_by_id
from hw.tpm.binary import Reader
from hw.tpm.errors import TpmFormatError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

# Heavy, so imported inside the function that uses it (pyproject's TID253): cryptography, loaded only
# when a public area is turned into a key.

_CURVES = {0x0003: "secp256r1", 0x0004: "secp384r1", 0x0005: "secp521r1"}
ATTR_SIGN = 1 << 18
ATTR_RESTRICTED = 1 << 16
ATTR_FIXED_TPM = 1 << 1
ATTR_FIXED_PARENT = 1 << 4
ATTR_SENSITIVE_DATA_ORIGIN = 1 << 5


@dataclass(frozen=True)
class TpmPublic:
    key_type: str  # "rsa" | "ecc"
    name_alg: HashAlgorithm
    attributes: int
    auth_policy: bytes
    scheme: int
    scheme_hash: int | None
    rsa_modulus: bytes = b""
    rsa_exponent: int = 65537
    ecc_curve: str = ""
    ecc_x: bytes = b""
    ecc_y: bytes = b""
    tpmt_bytes: bytes = b""
    symmetric: tuple[int, int, int] | None = None  # (algorithm, keyBits, mode) of a storage key such as the EK

    @property
    def name(self) -> bytes:
        return self.name_alg.alg_id.to_bytes(2, "big") + self.name_alg.digest(self.tpmt_bytes)

    @property
    def is_restricted_signing_key(self) -> bool:
        return bool(self.attributes & ATTR_SIGN and self.attributes & ATTR_RESTRICTED)

    @property
    def is_fixed_tpm(self) -> bool:
        return bool(self.attributes & ATTR_FIXED_TPM)

    def public_key(self) -> RSAPublicKey | EllipticCurvePublicKey:
        from cryptography.hazmat.primitives.asymmetric import ec, rsa

        if self.key_type == "rsa":
            try:
                return rsa.RSAPublicNumbers(self.rsa_exponent, int.from_bytes(self.rsa_modulus, "big")).public_key()
            except ValueError as exc:  # a modulus below 3, an even or out-of-range exponent
                raise TpmFormatError(f"TPM public area: not a usable RSA public key ({exc})") from exc
        curve = {"secp256r1": ec.SECP256R1(), "secp384r1": ec.SECP384R1(), "secp521r1": ec.SECP521R1()}[self.ecc_curve]
        x, y = int.from_bytes(self.ecc_x, "big"), int.from_bytes(self.ecc_y, "big")
        numbers = ec.EllipticCurvePublicNumbers(x, y, curve)
        try:
            return numbers.public_key()
        except ValueError as exc:
            raise TpmFormatError(f"TPM public area: ECC point is not on {self.ecc_curve}") from exc


def _sym_def(r: Reader) -> tuple[int, int, int] | None:
    alg = r.u16("symmetric algorithm")
    if alg == ALG_NULL:
        return None
    return alg, r.u16("symmetric keyBits"), r.u16("symmetric mode")


def parse_public(data: bytes) -> TpmPublic:
    """Parse a TPM2B_PUBLIC (``tpm2_createak -u`` / ``tpm2_readpublic -o``) or a bare TPMT_PUBLIC."""
    outer = Reader(data, what="TPM public area")
    if len(data) >= 2 and int.from_bytes(data[:2], "big") == len(data) - 2:
        tpmt = outer.sized("TPM2B_PUBLIC", limit=4096)
    else:
        tpmt = outer.rest()
    outer.expect_end()
    r = Reader(tpmt, what="TPM public area (TPMT_PUBLIC)")
    key_type = r.u16("type")
    name_alg = hash_by_id(r.u16("nameAlg"))
    attributes = r.u32("objectAttributes")
    policy = r.sized("authPolicy", limit=64)
    if key_type == ALG_RSA:
        symmetric = _sym_def(r)
        scheme = r.u16("RSA scheme")
        scheme_hash = r.u16("RSA scheme hash") if scheme != ALG_NULL else None
        key_bits = r.u16("keyBits")
        exponent = r.u32("exponent") or 65537
        modulus = r.sized("RSA modulus", limit=1024)
        r.expect_end()
        if len(modulus) * 8 != key_bits:
            raise r.fail(f"RSA modulus is {len(modulus) * 8} bits but keyBits says {key_bits}")
        return TpmPublic("rsa", name_alg, attributes, policy, scheme, scheme_hash,
                         rsa_modulus=modulus, rsa_exponent=exponent, tpmt_bytes=tpmt, symmetric=symmetric)
    if key_type == ALG_ECC:
        symmetric = _sym_def(r)
        scheme = r.u16("ECC scheme")
        scheme_hash = r.u16("ECC scheme hash") if scheme != ALG_NULL else None
        if scheme == 0x001A:  # ECDAA carries a count as well
            r.u16("ECDAA count")
        curve_id = r.u16("curveID")
        curve = _CURVES.get(curve_id)
        if curve is None:
            raise r.fail(f"unsupported ECC curve 0x{curve_id:04x}")
        kdf = r.u16("kdf scheme")
        if kdf != ALG_NULL:
            r.u16("kdf hash")
        x = r.sized("ECC x", limit=66)
        y = r.sized("ECC y", limit=66)
        r.expect_end()
        return TpmPublic("ecc", name_alg, attributes, policy, scheme, scheme_hash,
                         ecc_curve=curve, ecc_x=x, ecc_y=y, tpmt_bytes=tpmt, symmetric=symmetric)
    raise r.fail(f"key type 0x{key_type:04x} is neither RSA nor ECC")
