"""Signing and verification keys: Ed25519, ECDSA (P-256, P-384, P-521) and RSA (PSS and PKCS#1 v1.5).

Public keys are read from PEM SubjectPublicKeyInfo, X.509 certificates (PEM or DER)
and securesystemslib key files (JSON). A key's ``keyid`` is the sha256 of its
DER SubjectPublicKeyInfo, so the same key read from any of those forms is one key:
that is what makes a k-of-n threshold count distinct keys.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attestations.errors import InputError, KeyFormatError
from attestations.files import read_limited

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey, EllipticCurvePublicKey
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

    CryptoPublicKey = Ed25519PublicKey | EllipticCurvePublicKey | RSAPublicKey
    CryptoPrivateKey = Ed25519PrivateKey | EllipticCurvePrivateKey | RSAPrivateKey

# Heavy, so imported inside the functions that use it: cryptography (~20-50 ms; x509 ~55 ms),
# loaded only when a key is read, made or used.

KEY_TYPES = ("ed25519", "ecdsa-p256", "ecdsa-p384", "rsa")
_KEY_FILE_LIMIT = 1024 * 1024


@dataclass(frozen=True)
class PublicKey:
    """A verification key. ``aliases`` are other ids the key is known by (e.g. a securesystemslib keyid)."""

    key: CryptoPublicKey = field(repr=False, compare=False)
    keyid: str
    algorithm: str
    source: str = ""
    aliases: frozenset[str] = frozenset()

    @property
    def short_id(self) -> str:
        return self.keyid[:16]

    def describe(self) -> str:
        return f"{self.algorithm} key {self.short_id}"

    def matches_hint(self, hint: str) -> bool:
        return bool(hint) and (hint == self.keyid or hint in self.aliases)

    def verify(self, signature: bytes, data: bytes) -> bool:
        """True if ``signature`` is this key's signature over ``data`` in any scheme the key type allows."""
        return self._verifier(signature, data)

    @functools.cached_property
    def _verifier(self) -> Callable[[bytes, bytes], bool]:
        # Built once per key: a release of thousands of envelopes must not pay for dispatch each time.
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

        key = self.key
        if isinstance(key, ed25519.Ed25519PublicKey):
            ed_key = key

            def verify_ed25519(signature: bytes, data: bytes) -> bool:
                try:
                    ed_key.verify(signature, data)
                except InvalidSignature:
                    return False
                return True

            return verify_ed25519
        if isinstance(key, ec.EllipticCurvePublicKey):
            ec_key = key
            scheme = ec.ECDSA(_curve_hash(key.curve.name))
            width = (key.curve.key_size + 7) // 8

            def verify_ecdsa(signature: bytes, data: bytes) -> bool:
                if len(signature) == 2 * width:
                    # IEEE P1363 r||s, as some signers (Google's VSA keys, WebCrypto) emit; DER is never this long.
                    r = int.from_bytes(signature[:width], "big")
                    s = int.from_bytes(signature[width:], "big")
                    signature = encode_dss_signature(r, s)
                try:
                    ec_key.verify(signature, data, scheme)
                except (InvalidSignature, ValueError):
                    return False
                return True

            return verify_ecdsa
        if isinstance(key, rsa.RSAPublicKey):
            rsa_key = key
            schemes: list[tuple[padding.AsymmetricPadding, hashes.HashAlgorithm]] = []
            for algorithm in (hashes.SHA256(), hashes.SHA384(), hashes.SHA512()):
                schemes.append((padding.PSS(mgf=padding.MGF1(algorithm), salt_length=padding.PSS.AUTO), algorithm))
                schemes.append((padding.PKCS1v15(), algorithm))

            def verify_rsa(signature: bytes, data: bytes) -> bool:
                for pad, algorithm in schemes:
                    try:
                        rsa_key.verify(signature, data, pad, algorithm)
                    except (InvalidSignature, ValueError):
                        continue
                    return True
                return False

            return verify_rsa
        raise KeyFormatError(f"unsupported public key type {type(key).__name__}")


@dataclass(frozen=True)
class Signer:
    """A private key that signs; never printed, never logged."""

    private_key: CryptoPrivateKey = field(repr=False, compare=False)
    public: PublicKey

    def sign(self, data: bytes) -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

        key = self.private_key
        if isinstance(key, ed25519.Ed25519PrivateKey):
            return key.sign(data)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(_curve_hash(key.curve.name)))
        if isinstance(key, rsa.RSAPrivateKey):
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
            return key.sign(data, pss, hashes.SHA256())
        raise KeyFormatError(f"unsupported private key type {type(key).__name__}")


def _curve_hash(curve_name: str) -> Any:
    from cryptography.hazmat.primitives import hashes

    if curve_name == "secp256r1":
        return hashes.SHA256()
    if curve_name == "secp384r1":
        return hashes.SHA384()
    if curve_name == "secp521r1":
        return hashes.SHA512()
    raise KeyFormatError(f"unsupported elliptic curve {curve_name}; use P-256, P-384 or P-521")


def _algorithm_name(key: Any) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(key, ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return {"secp256r1": "ecdsa-p256", "secp384r1": "ecdsa-p384", "secp521r1": "ecdsa-p521"}.get(
            key.curve.name, f"ecdsa-{key.curve.name}"
        )
    if isinstance(key, rsa.RSAPublicKey):
        return f"rsa-{key.key_size}"
    raise KeyFormatError(f"unsupported public key type {type(key).__name__}; use Ed25519, ECDSA or RSA")


def spki_keyid(key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def public_key_from_crypto(key: Any, *, source: str = "", aliases: Iterable[str] = ()) -> PublicKey:
    algorithm = _algorithm_name(key)
    if algorithm.startswith("rsa-") and key.key_size < 2048:
        raise KeyFormatError(f"{source or 'key'}: RSA keys shorter than 2048 bits are not accepted")
    return PublicKey(key=key, keyid=spki_keyid(key), algorithm=algorithm, source=source, aliases=frozenset(aliases))


def public_pem(key: PublicKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def generate_private_key(kind: str) -> Signer:
    """A fresh key of ``kind`` (one of ``KEY_TYPES``)."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    private: Any
    if kind == "ed25519":
        private = ed25519.Ed25519PrivateKey.generate()
    elif kind == "ecdsa-p256":
        private = ec.generate_private_key(ec.SECP256R1())
    elif kind == "ecdsa-p384":
        private = ec.generate_private_key(ec.SECP384R1())
    elif kind == "rsa":
        private = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    else:
        raise KeyFormatError(f"unknown key type {kind!r}; choose one of {', '.join(KEY_TYPES)}")
    return Signer(private_key=private, public=public_key_from_crypto(private.public_key(), source="generated"))


def private_pem(signer: Signer, password: bytes | None = None) -> bytes:
    from cryptography.hazmat.primitives import serialization

    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    return signer.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def load_signer(path: Path, password: bytes | None = None) -> Signer:
    """The private key in ``path`` (PEM, PKCS#8 or traditional; encrypted when ``password`` is given)."""
    from cryptography.hazmat.primitives import serialization

    data = read_limited(path, limit=_KEY_FILE_LIMIT, what="private key")
    if b"PRIVATE KEY" not in data:
        raise KeyFormatError(f"{path} is not a PEM private key")
    try:
        private = serialization.load_pem_private_key(data, password=password)
    except TypeError:
        if password is None:
            raise KeyFormatError(
                f"{path} is encrypted; give its passphrase through the environment variable named by --passphrase-env"
            ) from None
        raise KeyFormatError(f"{path} is not encrypted, but a passphrase was given") from None
    except ValueError as exc:
        if password is not None and "password" in str(exc).lower():
            raise KeyFormatError(f"wrong passphrase for {path}") from None
        raise KeyFormatError(f"{path} is not a readable private key") from None
    except Exception:
        raise KeyFormatError(f"{path} is not a readable private key") from None
    public = public_key_from_crypto(private.public_key(), source=str(path))
    return Signer(private_key=private, public=public)  # type: ignore[arg-type]


def _from_pem_block(data: bytes, source: str) -> list[PublicKey]:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    keys: list[PublicKey] = []
    if b"-----BEGIN CERTIFICATE-----" in data:
        try:
            for cert in x509.load_pem_x509_certificates(data):
                keys.append(public_key_from_crypto(cert.public_key(), source=source))
        except ValueError:
            raise KeyFormatError(f"{source} holds a PEM certificate that cannot be parsed") from None
        return keys
    if b"PUBLIC KEY-----" in data:
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, TypeError):
            raise KeyFormatError(f"{source} holds a PEM public key that cannot be parsed") from None
        return [public_key_from_crypto(key, source=source)]
    if b"PRIVATE KEY-----" in data:
        raise KeyFormatError(f"{source} is a private key; give the matching public key (.pub) to verify")
    raise KeyFormatError(f"{source} is PEM, but holds neither a public key nor a certificate")


def securesystemslib_keyid(keydict: dict[str, Any]) -> str:
    """The keyid securesystemslib assigns: sha256 over the canonical JSON of the public part."""
    public_part = {
        "keytype": keydict.get("keytype"),
        "scheme": keydict.get("scheme"),
        "keyid_hash_algorithms": keydict.get("keyid_hash_algorithms"),
        "keyval": {"public": keydict.get("keyval", {}).get("public")},
    }
    if public_part["keyid_hash_algorithms"] is None:
        del public_part["keyid_hash_algorithms"]
    canonical = json.dumps(public_part, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _from_securesystemslib(obj: Any, source: str) -> list[PublicKey]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    if not isinstance(obj, dict) or not isinstance(obj.get("keyval"), dict):
        raise KeyFormatError(f"{source} is JSON but not a securesystemslib key (no 'keyval')")
    public = obj["keyval"].get("public")
    keytype = obj.get("keytype")
    if not isinstance(public, str) or not isinstance(keytype, str):
        raise KeyFormatError(f"{source}: securesystemslib key lacks 'keytype' or 'keyval.public'")
    aliases = {securesystemslib_keyid(obj)}
    if isinstance(obj.get("keyid"), str):
        aliases.add(obj["keyid"])
    try:
        if keytype == "ed25519":
            key: Any = ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(public))
        elif keytype in ("rsa", "ecdsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384"):
            key = serialization.load_pem_public_key(public.encode())
        else:
            raise KeyFormatError(f"{source}: unsupported securesystemslib keytype {keytype!r}")
    except (ValueError, TypeError):
        raise KeyFormatError(f"{source}: the {keytype} public key in 'keyval.public' cannot be parsed") from None
    return [public_key_from_crypto(key, source=source, aliases=aliases)]


def parse_public_keys(data: bytes, source: str) -> list[PublicKey]:
    """Every public key in ``data``: PEM keys or certificates, DER certificates, or securesystemslib JSON."""
    from cryptography import x509

    stripped = data.lstrip()
    if stripped.startswith(b"-----BEGIN"):
        return _from_pem_block(data, source)
    if stripped.startswith(b"{"):
        try:
            obj = json.loads(data)
        except (ValueError, RecursionError):
            raise KeyFormatError(f"{source} is not valid JSON") from None
        return _from_securesystemslib(obj, source)
    if data[:1] == b"\x30":
        try:
            cert = x509.load_der_x509_certificate(data)
        except ValueError:
            pass
        else:
            return [public_key_from_crypto(cert.public_key(), source=source)]
        from cryptography.hazmat.primitives import serialization

        try:
            return [public_key_from_crypto(serialization.load_der_public_key(data), source=source)]
        except (ValueError, TypeError):
            pass
    raise KeyFormatError(
        f"{source} is not a supported key format (PEM public key, X.509 certificate, or securesystemslib JSON)"
    )


def load_public_keys(path: Path) -> list[PublicKey]:
    """The public keys in the file at ``path``."""
    data = read_limited(path, limit=_KEY_FILE_LIMIT, what="public key")
    keys = parse_public_keys(data, str(path))
    if not keys:
        raise InputError(f"{path} holds no public key")
    return keys


def load_distinct_public_keys(paths: Iterable[Path]) -> list[PublicKey]:
    """The public keys in these files, each key once (by ``keyid``) however many files or forms hold it."""
    keys: dict[str, PublicKey] = {}
    for path in paths:
        for key in load_public_keys(path):
            keys.setdefault(key.keyid, key)
    return list(keys.values())
