"""Short-form reports the tests make themselves: an SRP's fresh P-521 key, a payload over a firmware file, and
compact JWS tokens built by hand where an attacker would build them (alg none, HMAC, an embedded key)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class Srp:
    """A security review provider: its name (the kid it writes), its private key, its public key file."""

    name: str
    private: ec.EllipticCurvePrivateKey
    pub: Path

    def sign(self, payload: bytes, header: dict[str, Any] | None = None) -> str:
        """A compact ES512 JWS over ``payload`` (raw r||s, 66 bytes each, as RFC 7518 says)."""
        head = header if header is not None else {"alg": "ES512", "kid": self.name, "typ": "JWT"}
        signing_input = f"{b64(json.dumps(head).encode())}.{b64(payload)}".encode()
        der = self.private.sign(signing_input, ec.ECDSA(hashes.SHA512()))
        r, s = decode_dss_signature(der)
        return f"{signing_input.decode()}.{b64(r.to_bytes(66, 'big') + s.to_bytes(66, 'big'))}"


def make_srp(directory: Path, name: str, curve: ec.EllipticCurve | None = None) -> Srp:
    private = ec.generate_private_key(curve or ec.SECP521R1())
    pub = directory / f"{name.replace(' ', '_')}.pub"
    pub.write_bytes(
        private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return Srp(name, private, pub)


def digests(data: bytes) -> dict[str, str]:
    return {"sha384": hashlib.sha384(data).hexdigest(), "sha512": hashlib.sha512(data).hexdigest()}


def payload(
    firmware: bytes | None,
    *,
    srp: str = "Example Review Co",
    date: str = "2026-11-01",
    issues: list[dict[str, Any]] | None = None,
    sha384: str | None = None,
    sha512: str | None = None,
) -> dict[str, Any]:
    """An SFR payload reviewing ``firmware`` (its digests unless given; None for a report without digests)."""
    found = digests(firmware) if firmware is not None else {"sha384": "", "sha512": ""}
    return {
        "review_framework_version": "1.1",
        "device": {
            "vendor": "ACME Inc",
            "product": "Roadrunner Trap",
            "category": "storage",
            "repo_tag": "release_v1_2_3",
            "fw_version": "1.2.3",
            "fw_hash_sha2_384": found["sha384"] if sha384 is None else sha384,
            "fw_hash_sha2_512": found["sha512"] if sha512 is None else sha512,
        },
        "audit": {
            "srp": srp,
            "methodology": "whitebox",
            "completion_date": date,
            "report_version": "1.0",
            "scope_number": 1,
            "cvss_version": "3.1",
            "issues": issues or [],
        },
    }


def issue(score: str | None, title: str = "Debug commands enable arbitrary memory read/write") -> dict[str, Any]:
    return {
        "title": title,
        "cvss_score": score,
        "cvss_vector": "AV:L/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:L",
        "cwe": "CWE-222",
        "description": "The firmware exposes debug command handlers.",
        "cve": "CVE-2014-10000",
    }


def encode(value: dict[str, Any]) -> bytes:
    return json.dumps(value, indent=1).encode()


def hmac_token(header: dict[str, Any], body: bytes, secret: bytes) -> str:
    """An HS512 JWS keyed with ``secret``: with the SRP's public key PEM as the secret, the classic confusion."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(body)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha512).digest()
    return f"{signing_input}.{b64(mac)}"


def unsigned_token(body: bytes) -> str:
    return f"{b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{b64(body)}."


# --- the CoRIM form (OCP S.A.F.E. SFR CoRIM profile), built here with cbor2 ---------------------------------------

#: The profile OID's DER bytes as the specification and its example write them (they encode ...47639.1.1).
PROFILE_DER = bytes.fromhex("060A2B0601040182F4170101")


def sfr_corim(
    firmware: bytes | None,
    *,
    profile: bytes | None = PROFILE_DER,
    completed: int = 1793491200,  # 2026-11-01
    issues: list[dict[int, Any]] | None = None,
    sha384: bytes | None = None,
    sha512: bytes | None = None,
    sfr_changes: dict[int, Any] | None = None,
    twice: bool = False,
) -> bytes:
    """An unsigned tagged CoRIM (501) carrying one SFR, whose condition is ``firmware``'s sha-384 / sha-512."""
    import cbor2

    found = digests(firmware) if firmware is not None else {}
    condition_digests = []
    d384 = sha384 if sha384 is not None else bytes.fromhex(found["sha384"]) if found else None
    d512 = sha512 if sha512 is not None else bytes.fromhex(found["sha512"]) if found else None
    if d384 is not None:
        condition_digests.append([-43, d384])
    if d512 is not None:
        condition_digests.append([-44, d512])
    environment = {0: {1: "ACME Inc.", 2: "ACME RoadRunner Trap"}}
    sfr: dict[int, Any] = {
        0: "1.1",
        1: "1.2",
        2: cbor2.CBORTag(1, completed),
        3: 1,
        4: [{0: {0: "1.2.3", 1: "semver"}, 2: "release_v1_2_3"}],
        6: "1.0",
    }
    if issues:
        sfr[5] = issues
    sfr.update(sfr_changes or {})
    endorsement = [environment, [{1: {-1: sfr}}]]
    triple = [[[environment, [{1: {2: condition_digests}}]]], [endorsement, endorsement] if twice else [endorsement]]
    comid = {1: {0: "review-comid-001"}, 4: {10: [triple]}}
    corim: dict[int, Any] = {
        0: "review-2026-11-01",
        1: [cbor2.CBORTag(506, cbor2.dumps(comid))],
        5: [{0: "Example Review Co", 2: [1]}],
    }
    if profile is not None:
        corim[3] = cbor2.CBORTag(111, profile)
    return bytes(cbor2.dumps(cbor2.CBORTag(501, corim)))


def corim_issue(score: str, title: str = "Debug commands enable arbitrary memory read/write") -> dict[int, Any]:
    return {0: title, 1: "The firmware exposes debug command handlers.",
            2: {0: score, 1: "AV:L/AC:L/PR:L/UI:N/S:C/C:H/I:H/A:L", 2: "3.1"}, 3: "CWE-222", 4: "CVE-2014-10000"}


def cose_sign(corim: bytes, private: Any, name: str = "Example Review Co") -> bytes:
    """``corim`` as a COSE_Sign1 by ``private`` (the CoRIM writer's own signing path)."""
    from attestations.corim.cose import sign_payload
    from attestations.corim.model import CorimMeta, CorimSigner
    from attestations.keys import Signer, public_key_from_crypto

    signer = Signer(private_key=private, public=public_key_from_crypto(private.public_key()))
    return sign_payload(corim, signer, CorimMeta(CorimSigner(name)))
