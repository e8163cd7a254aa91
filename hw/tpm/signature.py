"""TPMT_SIGNATURE (TPM 2.0 Part 2, 11.3.4), as ``tpm2_quote -s`` writes it in its default tss format."""

from __future__ import annotations

from dataclasses import dataclass

from hw.tpm.algorithms import ALG_ECDSA, ALG_RSAPSS, ALG_RSASSA, SIGNATURE_SCHEMES, HashAlgorithm, hash_by_id
from hw.tpm.binary import Reader

# Heavy, so imported inside the method that uses it (pyproject's TID253): cryptography, loaded only
# when an ECDSA signature is re-encoded as DER.


@dataclass(frozen=True)
class TpmSignature:
    scheme: str  # "ecdsa" | "rsassa" | "rsapss"
    hash: HashAlgorithm
    rsa_signature: bytes = b""
    ecdsa_r: int = 0
    ecdsa_s: int = 0

    def to_der_or_raw(self) -> bytes:
        """The signature in the encoding the ``cryptography`` verify call expects."""
        if self.scheme == "ecdsa":
            from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

            return encode_dss_signature(self.ecdsa_r, self.ecdsa_s)
        return self.rsa_signature


def parse_signature(data: bytes) -> TpmSignature:
    r = Reader(data, what="quote signature (TPMT_SIGNATURE)")
    alg = r.u16("sigAlg")
    if alg not in SIGNATURE_SCHEMES:
        raise r.fail(f"signature algorithm 0x{alg:04x} is not ECDSA, RSASSA or RSAPSS (use tpm2_quote's tss format)")
    digest = hash_by_id(r.u16("hashAlg"))
    if alg == ALG_ECDSA:
        sig_r = r.sized("signatureR", limit=66)
        sig_s = r.sized("signatureS", limit=66)
        r.expect_end()
        return TpmSignature("ecdsa", digest, ecdsa_r=int.from_bytes(sig_r, "big"), ecdsa_s=int.from_bytes(sig_s, "big"))
    assert alg in (ALG_RSASSA, ALG_RSAPSS)
    sig = r.sized("RSA signature", limit=1024)
    r.expect_end()
    return TpmSignature(SIGNATURE_SCHEMES[alg], digest, rsa_signature=sig)
