"""TPM_ALG_ID hash algorithms: their names, digest sizes and hashlib constructors."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from hw.tpm.errors import TpmFormatError


@dataclass(frozen=True)
class HashAlgorithm:
    alg_id: int
    name: str
    digest_size: int

    def digest(self, data: bytes) -> bytes:
        try:
            return hashlib.new(self.name, data).digest()
        except ValueError as exc:
            raise TpmFormatError(f"hash algorithm {self.name} is not available in this Python") from exc


SHA1 = HashAlgorithm(0x0004, "sha1", 20)
SHA256 = HashAlgorithm(0x000B, "sha256", 32)
SHA384 = HashAlgorithm(0x000C, "sha384", 48)
SHA512 = HashAlgorithm(0x000D, "sha512", 64)
SM3_256 = HashAlgorithm(0x0012, "sm3", 32)

_BY_ID = {a.alg_id: a for a in (SHA1, SHA256, SHA384, SHA512, SM3_256)}
_BY_NAME = {a.name: a for a in _BY_ID.values()}

# TPM_ALG_ID values for signature schemes and key types.
ALG_RSA = 0x0001
ALG_NULL = 0x0010
ALG_RSASSA = 0x0014
ALG_RSAPSS = 0x0016
ALG_ECDSA = 0x0018
ALG_ECC = 0x0023
SIGNATURE_SCHEMES = {ALG_RSASSA: "rsassa", ALG_RSAPSS: "rsapss", ALG_ECDSA: "ecdsa"}


def hash_by_id(alg_id: int) -> HashAlgorithm:
    alg = _BY_ID.get(alg_id)
    if alg is None:
        raise TpmFormatError(f"unsupported hash algorithm 0x{alg_id:04x}")
    return alg


def known_hash_id(alg_id: int) -> HashAlgorithm | None:
    return _BY_ID.get(alg_id)


def hash_by_name(name: str) -> HashAlgorithm:
    alg = _BY_NAME.get(name.lower())
    if alg is None:
        raise TpmFormatError(f"unsupported hash algorithm {name!r}")
    return alg
