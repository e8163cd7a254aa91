"""Every signature algorithm the requester offers verifies in the wire form DSP0274 gives it, and a one-bit change or
another algorithm's key does not; a chain larger than one portion is read in many."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from hw.spdm.verify import verify_signature

_HASHES = {"SHA-256": hashes.SHA256(), "SHA-384": hashes.SHA384(), "SHA-512": hashes.SHA512()}


def _ecdsa(key: ec.EllipticCurvePrivateKey, message: bytes, hash_name: str, size: int) -> bytes:
    r, s = utils.decode_dss_signature(key.sign(message, ec.ECDSA(_HASHES[hash_name])))
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


@pytest.mark.parametrize(("asym", "curve", "size"), [("ECDSA-P256", ec.SECP256R1(), 32),
                                                     ("ECDSA-P384", ec.SECP384R1(), 48)])
@pytest.mark.parametrize("hash_name", ["SHA-256", "SHA-384", "SHA-512"])
def test_ecdsa(asym: str, curve: ec.EllipticCurve, size: int, hash_name: str) -> None:
    key = ec.generate_private_key(curve)
    message = os.urandom(100)
    signature = _ecdsa(key, message, hash_name, size)
    assert verify_signature(key.public_key(), asym, hash_name, message, signature)
    flipped = signature[:-1] + bytes([signature[-1] ^ 1])
    assert not verify_signature(key.public_key(), asym, hash_name, message, flipped)
    other = "ECDSA-P384" if asym == "ECDSA-P256" else "ECDSA-P256"
    assert not verify_signature(key.public_key(), other, hash_name, message, signature)
    assert not verify_signature(key.public_key(), asym, hash_name, message, signature[:-1])  # DER-ish lengths refused


@pytest.fixture(scope="module")
def rsa_keys() -> dict[int, rsa.RSAPrivateKey]:
    return {bits: rsa.generate_private_key(65537, bits) for bits in (2048, 3072)}


@pytest.mark.parametrize("bits", [2048, 3072])
@pytest.mark.parametrize("hash_name", ["SHA-256", "SHA-384"])
def test_rsassa_and_rsapss(rsa_keys: dict[int, rsa.RSAPrivateKey], bits: int, hash_name: str) -> None:
    key, message, algorithm = rsa_keys[bits], os.urandom(100), _HASHES[hash_name]
    pkcs = key.sign(message, padding.PKCS1v15(), algorithm)
    pss = key.sign(message, padding.PSS(padding.MGF1(algorithm), algorithm.digest_size), algorithm)
    public = key.public_key()
    assert verify_signature(public, f"RSASSA-{bits}", hash_name, message, pkcs)
    assert verify_signature(public, f"RSAPSS-{bits}", hash_name, message, pss)
    # The padding is the negotiated one, not whichever verifies; the size is the negotiated one.
    assert not verify_signature(public, f"RSAPSS-{bits}", hash_name, message, pkcs)
    assert not verify_signature(public, f"RSASSA-{bits}", hash_name, message, pss)
    other = 3072 if bits == 2048 else 2048
    assert not verify_signature(public, f"RSASSA-{other}", hash_name, message, pkcs)
    assert not verify_signature(public, f"RSASSA-{bits}", hash_name, message + b"x", pkcs)


def test_a_large_chain_is_read_in_many_portions() -> None:
    from hw.sim.spdm import SpdmResponder, chain_blob
    from hw.spdm import messages as msg
    from hw.spdm.requester import attest

    responder = SpdmResponder()
    certs = responder.data.chains[0][52:]
    root_end = 4 + int.from_bytes(certs[2:4], "big")  # the root: 30 82 LL LL
    large = certs[:root_end] + certs[root_end:] * 4  # 4.7 KB: root, then the intermediate and leaf four times
    responder.data.chains[0] = chain_blob(large, certs[:root_end], "SHA-384")

    class Direct:
        def request(self, message: bytes, *, timeout: float) -> bytes:
            return responder.respond(message)

    exchange = attest(Direct(), nonce=os.urandom(32), timeout=1).exchange
    portions = [m for m in exchange.messages if len(m) > 1 and m[1] == msg.Code.CERTIFICATE]
    assert len(portions) == -(-len(responder.data.chains[0]) // 1024) == 5
    chain = exchange.chain(0)
    assert chain is not None and len(chain.certs) == 9 and exchange.digest_matches(0)
    assert exchange.measurements is not None and exchange.measurements.signature_verified
