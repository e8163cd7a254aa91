"""A Sigstore bundle as a document: its media types, size limit and fields, and the fact a verified one yields."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from attestations import strict_json
from attestations.errors import InputError
from attestations.sigstore.identity import SignerIdentity

MAX_BUNDLE_BYTES = 16 * 1024 * 1024

BUNDLE_MEDIA_TYPE_PREFIX = "application/vnd.dev.sigstore.bundle"
KNOWN_BUNDLE_MEDIA_TYPES = {
    "application/vnd.dev.sigstore.bundle+json;version=0.1": "0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2": "0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.3": "0.3",
    "application/vnd.dev.sigstore.bundle.v0.3+json": "0.3",
}


@dataclass(frozen=True)
class VerifiedBundle:
    """A bundle whose signature, certificate chain (or key), transparency log entry and identity policy verified.

    ``identity_checked`` is true when the signer was pinned: by the identity policy (certificate bundles) or by the
    given public key (key-signed bundles, where ``public_key_id`` is the sha256 of the key's SubjectPublicKeyInfo).
    ``timestamp_count`` counts the RFC 3161 timestamps sigstore-python checked; key-signed bundles rely on the SET.
    """

    source: str
    bundle_version: str
    kind: Literal["message", "dsse"]
    payload: bytes | None
    payload_type: str | None
    artifact_sha256: str | None
    signer: SignerIdentity | None
    certificate_sha256: str | None
    public_key_id: str | None
    identity_checked: bool
    log_entry_kind: str
    log_entry_version: str
    log_index: int
    integrated_time: datetime | None
    timestamp_count: int
    trust_root: str
    verified_by: str

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "bundle_version": self.bundle_version,
            "kind": self.kind,
            "payload_type": self.payload_type,
            "artifact_sha256": self.artifact_sha256,
            "signer": self.signer.to_json() if self.signer else None,
            "certificate_sha256": self.certificate_sha256,
            "public_key_id": self.public_key_id,
            "identity_checked": self.identity_checked,
            "log_entry": f"{self.log_entry_kind}/{self.log_entry_version}",
            "log_index": self.log_index,
            "integrated_time": self.integrated_time.isoformat() if self.integrated_time else None,
            "timestamp_count": self.timestamp_count,
            "trust_root": self.trust_root,
            "verified_by": self.verified_by,
        }


def looks_like_sigstore_bundle(obj: object) -> bool:
    """True when ``obj`` (parsed JSON) has a Sigstore bundle's media type and verification material."""
    if not isinstance(obj, dict):
        return False
    media_type = obj.get("mediaType")
    return (
        isinstance(media_type, str)
        and media_type.startswith(BUNDLE_MEDIA_TYPE_PREFIX)
        and isinstance(obj.get("verificationMaterial"), dict)
    )


def parse_json_object(raw: bytes, what: str) -> dict[str, Any]:
    # Strict (attestations.strict_json): sigstore-python parses these bytes again, and must read what we read.
    return strict_json.loads_object(raw, what)


def b64_field(value: object, what: str) -> bytes:
    """A base64 field of a bundle, or ``InputError`` naming it."""
    if not isinstance(value, str):
        raise InputError(f"{what} is missing or not a string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"{what} is not valid base64") from None


def sha256_file(path: Path) -> bytes:
    """The SHA-256 of the artifact a message-signature bundle signs."""
    digest = hashlib.sha256()
    try:
        with Path(path).open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    except IsADirectoryError:
        raise InputError(f"artifact {path} is a directory, not a file") from None
    except OSError as exc:
        raise InputError(f"cannot read artifact {path}: {exc.strerror or exc}") from None
    return digest.digest()
