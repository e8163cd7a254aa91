"""The simulated device's keys and certificates, deterministic so that a declared manifest stays valid across runs.

Simulation only: every private key derives from a public seed in ``DeviceConfig``.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from hw.sim.config import DeviceConfig

_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_SigningKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
_PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


def _ec_key(seed: str) -> ec.EllipticCurvePrivateKey:
    scalar = int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big") % (_P256_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def _ed_key(seed: str) -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.from_private_bytes(hashlib.sha256(seed.encode()).digest())


def _certificate(
    subject_cn: str, public_key: _PublicKey, issuer_cn: str, issuer_key: _SigningKey, *, ca: bool
) -> bytes:
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_cn)]))
        .public_key(public_key)
        .serial_number(int.from_bytes(hashlib.sha256(subject_cn.encode()).digest()[:8], "big") | 1)
        .not_valid_before(datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC))
        .not_valid_after(datetime.datetime(2099, 12, 31, tzinfo=datetime.UTC))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    cert = builder.sign(issuer_key, None)
    return cert.public_bytes(serialization.Encoding.DER)


@dataclass(frozen=True)
class DeviceKeys:
    ca_der: bytes
    chain: tuple[bytes, ...]
    device_key: ec.EllipticCurvePrivateKey
    ak_key: ec.EllipticCurvePrivateKey

    @property
    def ca_pem(self) -> str:
        return x509.load_der_x509_certificate(self.ca_der).public_bytes(serialization.Encoding.PEM).decode()

    def device_public_pem(self) -> str:
        pem = self.device_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return pem.decode()

    def device_fingerprint(self) -> str:
        spki = self.device_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return hashlib.sha256(spki).hexdigest()


def make_keys(config: DeviceConfig, *, rogue: bool = False) -> DeviceKeys:
    ca_key = _ed_key(config.ca_seed)
    ca_name = f"{config.manufacturer} Device CA"
    ca_der = _certificate(ca_name, ca_key.public_key(), ca_name, ca_key, ca=True)
    device_key = _ec_key(config.key_seed)
    issuer_key, issuer_der, issuer_name = ca_key, ca_der, ca_name
    if rogue:
        device_key = _ec_key(config.key_seed + "-rogue")
        issuer_key = _ed_key(config.ca_seed + "-rogue")
        issuer_name = f"{config.manufacturer} Device CA"  # same name, different key: only the key tells
        issuer_der = _certificate(issuer_name, issuer_key.public_key(), issuer_name, issuer_key, ca=True)
    leaf = _certificate(config.serial[:64], device_key.public_key(), issuer_name, issuer_key, ca=False)
    return DeviceKeys(ca_der, (leaf, issuer_der), device_key, _ec_key(config.key_seed + "-tpm-ak"))
