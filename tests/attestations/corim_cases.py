"""CoRIMs the CoRIM tests make themselves: keys, signed CoRIMs per algorithm, hostile COSE envelopes, the CDDL.

Hostile envelopes are built here field by field (and signed with cryptography directly) because an attacker
does not use our writer: a header we would never write, a payload we would never encode.
"""

from __future__ import annotations

import functools
import hashlib
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cbor2

from attestations.corim.build import ReferenceMeasurement, build_reference_corim, sign_reference_corim
from attestations.corim.encode import encode_corim
from attestations.corim.model import ClassMap, CoRIM, Oid, Validity
from attestations.keys import Signer, generate_private_key, public_pem
from tests.helpers import REPO

CDDL = REPO / "tests" / "data" / "corim" / "corim-draft-09.cddl"
#: The test profile extension -1 that veraison's *-with-extensions / example vectors use (a profile's plug).
TEST_PROFILE_PLUGS = (
    "\n$$corim-map-extension //= (? -1 => any)\n$$comid-entity-map-extension //= (? -1 => any)\n"
    "$$measurement-values-map-extension //= (? -1 => any)\n"
)
FIRMWARE = b"firmware image made by the CoRIM tests\n" * 64
VALID_FROM = datetime(2024, 1, 1, tzinfo=UTC)
VALID_UNTIL = datetime(2034, 1, 1, tzinfo=UTC)
ALGORITHMS = {"ES256": "ecdsa-p256", "ES384": "ecdsa-p384", "EdDSA": "ed25519"}


@functools.cache
def schema(start: str | None = None, *, profile_plugs: bool = False) -> Any:
    import pycddl

    text = CDDL.read_text()
    if profile_plugs:
        text += TEST_PROFILE_PLUGS
    if start:
        text = f"start = {start}\n{text}"
    return pycddl.Schema(text)


def validate_signed_parts(data: bytes, *, profile_plugs: bool = False) -> None:
    """pycddl misreads ``bstr .cbor`` inside COSE_Sign1, so its parts are checked one by one."""
    outer = cbor2.loads(data)
    assert isinstance(outer, cbor2.CBORTag) and outer.tag == 18 and len(outer.value) == 4
    protected, unprotected, payload, signature = outer.value
    assert isinstance(unprotected, dict) and isinstance(signature, bytes)
    schema("protected-corim-header-map", profile_plugs=profile_plugs).validate_cbor(protected)
    schema("corim-meta-map", profile_plugs=profile_plugs).validate_cbor(cbor2.loads(protected)[8])
    schema(profile_plugs=profile_plugs).validate_cbor(payload)


@functools.cache
def signer(kind: str) -> Signer:
    return generate_private_key(kind)


def write_public(path: Path, s: Signer) -> Path:
    path.write_bytes(public_pem(s.public))
    return path


def reference_corim(**changes: Any) -> CoRIM:
    measurements = [
        ReferenceMeasurement(
            "firmware.bin",
            {
                "sha256": hashlib.sha256(FIRMWARE).digest(),
                "sha384": hashlib.sha384(FIRMWARE).digest(),
                "sha512": hashlib.sha512(FIRMWARE).digest(),
            },
            svn=7,
            version="1.4.0",
        ),
        ReferenceMeasurement(".text", {"sha256": hashlib.sha256(b"text").digest()}),
    ]
    args: dict[str, Any] = {
        "validity": Validity(not_after=VALID_UNTIL, not_before=VALID_FROM),
        "creator": "ACME Firmware",
        "creator_uri": "https://acme.example",
        "tag_id": "acme-roadrunner-fw-1.4.0",
        "profile": Oid.from_dotted("1.3.6.1.4.1.99999.1"),
    }
    args.update(changes)
    return build_reference_corim("acme-roadrunner-release-1.4.0", ClassMap(vendor="ACME", model="RoadRunner"),
                                 measurements, **args)


def signed_corim(kind: str = "ecdsa-p256", **changes: Any) -> bytes:
    return sign_reference_corim(reference_corim(**changes), signer(kind), "ACME release key",
                                signer_uri="https://acme.example/keys")


def meta_bytes(name: str = "ACME release key") -> bytes:
    return cbor2.dumps({0: {0: name}, 1: {0: cbor2.CBORTag(1, int(VALID_FROM.timestamp())),
                                          1: cbor2.CBORTag(1, int(VALID_UNTIL.timestamp()))}})


def raw_sign1(protected: dict[Any, Any] | bytes, payload: bytes, s: Signer | None, *, unprotected: Any = None,
              signature: bytes | None = None) -> bytes:
    """A COSE_Sign1 assembled by hand: any header, any payload; signed over the RFC 9052 Sig_structure."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    prot = protected if isinstance(protected, bytes) else cbor2.dumps(protected)
    if signature is None:
        assert s is not None
        tbs = cbor2.dumps(["Signature1", prot, b"", payload])
        key = s.private_key
        if isinstance(key, ed25519.Ed25519PrivateKey):
            signature = key.sign(tbs)
        else:
            assert isinstance(key, ec.EllipticCurvePrivateKey)
            h = {256: hashes.SHA256(), 384: hashes.SHA384(), 521: hashes.SHA512()}[key.curve.key_size]
            r, s_ = decode_dss_signature(key.sign(tbs, ec.ECDSA(h)))
            width = (key.curve.key_size + 7) // 8
            signature = r.to_bytes(width, "big") + s_.to_bytes(width, "big")
    return cbor2.dumps(cbor2.CBORTag(18, [prot, {} if unprotected is None else unprotected, payload, signature]))


def default_header(alg: Any = -7, extra: dict[Any, Any] | None = None) -> dict[Any, Any]:
    header: dict[Any, Any] = {1: alg, 3: "application/rim+cbor", 8: meta_bytes()}
    header.update(extra or {})
    return header


def payload() -> bytes:
    return encode_corim(reference_corim())


def jwk_to_pem(jwk_path: Path, out: Path) -> Path:
    """The public half of a JWK (the veraison test key) as PEM SubjectPublicKeyInfo."""
    from jwcrypto import jwk

    key = jwk.JWK.from_json(jwk_path.read_text())
    out.write_bytes(key.export_to_pem())
    return out


def replace_once(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) == 1, (old, data.count(old))
    return data.replace(old, new)


def strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)
