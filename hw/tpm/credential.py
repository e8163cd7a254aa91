"""TPM2_MakeCredential done by the verifier: a secret only the TPM holding both the EK and the AK can release.

The verifier encrypts a random secret to the certified EK, bound to the AK's
name (TPM 2.0 Part 1, 24; Part 3, 12.6). TPM2_ActivateCredential on the device
returns the secret only if the EK's private key and an object with exactly that
name (so exactly those attributes) are loaded in the same TPM. That round trip
is what binds the AK to the EK over a serial-only link (docs/tpm-trust-model.md).

The output uses tpm2-tools' credential file format (``tpm2_makecredential -o``,
read by ``tpm2_activatecredential -i``): magic 0xBADCC0DE, version 1,
TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET. RSA EKs (OAEP) and ECC EKs (ECDH + KDFe).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hw.tpm.algorithms import hash_by_id
from hw.tpm.binary import Reader
from hw.tpm.errors import TpmFormatError
from hw.tpm.public import TpmPublic

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey

# Heavy, so imported inside the functions that use it (pyproject's TID253): cryptography, loaded only
# when a credential is made or its activation checked.

CREDENTIAL_MAGIC = 0xBADCC0DE
ALG_AES = 0x0006
ALG_CFB = 0x0043


def kdfa(hash_name: str, key: bytes, label: bytes, context_u: bytes, context_v: bytes, bits: int) -> bytes:
    """SP 800-108 counter-mode KDF with HMAC, as TPM 2.0 Part 1, 11.4.10.2 defines KDFa."""
    out = b""
    counter = 0
    while len(out) * 8 < bits:
        counter += 1
        out += hmac.new(key, struct.pack(">I", counter) + label + b"\x00" + context_u + context_v
                        + struct.pack(">I", bits), hash_name).digest()
    return out[: (bits + 7) // 8]


def make_credential(ek: TpmPublic, ak_name: bytes, secret: bytes, *, seed: bytes | None = None) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

    try:
        from cryptography.hazmat.decrepit.ciphers.modes import CFB
    except ImportError:  # cryptography < 47
        from cryptography.hazmat.primitives.ciphers.modes import CFB

    if ek.symmetric is None or ek.symmetric[0] != ALG_AES or ek.symmetric[2] != ALG_CFB:
        raise TpmFormatError("the EK is not a storage key with AES-CFB protection")
    if not 1 <= len(secret) <= ek.name_alg.digest_size:
        raise TpmFormatError(f"the secret must be 1 to {ek.name_alg.digest_size} bytes")
    name_hash = ek.name_alg.name
    seed = seed if seed is not None else os.urandom(ek.name_alg.digest_size)
    algorithm = {"sha1": hashes.SHA1(), "sha256": hashes.SHA256(), "sha384": hashes.SHA384(),  # noqa: S303
                 "sha512": hashes.SHA512()}[name_hash]
    key = ek.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        encrypted_seed = key.encrypt(seed, padding.OAEP(padding.MGF1(algorithm), algorithm, b"IDENTITY\x00"))
    else:
        seed, encrypted_seed = _ecc_seed(ek, key)
    sym_key = kdfa(name_hash, seed, b"STORAGE", ak_name, b"", ek.symmetric[1])
    plaintext = struct.pack(">H", len(secret)) + secret
    encryptor = Cipher(algorithms.AES(sym_key), CFB(bytes(16))).encryptor()
    enc_identity = encryptor.update(plaintext) + encryptor.finalize()
    hmac_key = kdfa(name_hash, seed, b"INTEGRITY", b"", b"", ek.name_alg.digest_size * 8)
    outer = hmac.new(hmac_key, enc_identity + ak_name, name_hash).digest()
    id_object = struct.pack(">H", len(outer)) + outer + enc_identity
    return (struct.pack(">II", CREDENTIAL_MAGIC, 1) + struct.pack(">H", len(id_object)) + id_object
            + struct.pack(">H", len(encrypted_seed)) + encrypted_seed)


def kdfe(hash_name: str, z: bytes, label: bytes, party_u: bytes, party_v: bytes, bits: int) -> bytes:
    """SP 800-56A concatenation KDF as TPM 2.0 Part 1, 11.4.10.3 defines KDFe."""
    out = b""
    counter = 0
    while len(out) * 8 < bits:
        counter += 1
        out += hashlib.new(hash_name, struct.pack(">I", counter) + z + label + b"\x00" + party_u + party_v).digest()
    return out[: (bits + 7) // 8]


def _ecc_seed(ek: TpmPublic, key: EllipticCurvePublicKey) -> tuple[bytes, bytes]:
    """One-pass ECDH with an ephemeral key: the seed and the TPMS_ECC_POINT the TPM needs to derive it."""
    from cryptography.hazmat.primitives.asymmetric import ec

    ephemeral = ec.generate_private_key(key.curve)
    size = (key.curve.key_size + 7) // 8
    z = ephemeral.exchange(ec.ECDH(), key).rjust(size, b"\x00")
    point = ephemeral.public_key().public_numbers()
    qx, qy = point.x.to_bytes(size, "big"), point.y.to_bytes(size, "big")
    seed = kdfe(ek.name_alg.name, z, b"IDENTITY", qx, ek.ecc_x, ek.name_alg.digest_size * 8)
    return seed, struct.pack(">H", size) + qx + struct.pack(">H", size) + qy


def parse_credential_file(data: bytes) -> tuple[bytes, bytes]:
    """(TPM2B_ID_OBJECT body, TPM2B_ENCRYPTED_SECRET body) of a tpm2-tools credential file."""
    r = Reader(data, what="credential file")
    if r.u32("magic") != CREDENTIAL_MAGIC or r.u32("version") != 1:
        raise r.fail("not a tpm2-tools credential file (magic 0xBADCC0DE, version 1)")
    id_object = r.sized("TPM2B_ID_OBJECT", limit=1024)
    secret = r.sized("TPM2B_ENCRYPTED_SECRET", limit=1024)
    r.expect_end()
    return id_object, secret


def name_algorithm(name: bytes) -> str:
    if len(name) < 2:
        raise TpmFormatError("a TPM name is at least 2 bytes")
    return hash_by_id(int.from_bytes(name[:2], "big")).name


@dataclass(frozen=True)
class CredentialRecord:
    """What the verifier keeps after MakeCredential: the names it bound and the secret it expects back."""

    ak_name: bytes
    ek_name: bytes
    secret: bytes

    def to_json(self) -> dict[str, str]:
        return {"ak_name": self.ak_name.hex(), "ek_name": self.ek_name.hex(), "secret": self.secret.hex()}

    @classmethod
    def from_json(cls, data: Any) -> CredentialRecord:
        if not isinstance(data, dict):
            raise TpmFormatError("credential record must be a JSON object")
        try:
            return cls(*(bytes.fromhex(str(data[k])) for k in ("ak_name", "ek_name", "secret")))
        except (KeyError, ValueError) as exc:
            raise TpmFormatError(f"credential record is missing or has a malformed field ({exc})") from exc


@dataclass(frozen=True)
class ActivationCheck:
    ak_name: bytes
    ek_name: bytes
    names_match: bool  # the credential was made for this AK and this EK
    secret_released: bool  # the device gave back exactly our secret


def new_credential(ek: TpmPublic, ak: TpmPublic) -> tuple[bytes, CredentialRecord]:
    secret = os.urandom(ek.name_alg.digest_size)
    return make_credential(ek, ak.name, secret), CredentialRecord(ak.name, ek.name, secret)


def check_activation(record: CredentialRecord, returned: bytes, ak: TpmPublic, ek: TpmPublic | None) -> ActivationCheck:
    names = record.ak_name == ak.name and (ek is None or record.ek_name == ek.name)
    released = hmac.compare_digest(returned, record.secret)
    return ActivationCheck(ak.name, record.ek_name, names, released)
