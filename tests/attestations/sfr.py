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
