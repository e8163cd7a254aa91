"""Verify one Sigstore bundle: read it, refuse what cannot be checked, and send it to the verifier for its kind
(``sigstore_python`` for certificate bundles, ``key_signed`` for bundles signed with a given key)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from attestations.errors import InputError, UnsupportedError
from attestations.files import read_limited
from attestations.keys import PublicKey
from attestations.sigstore.bundle import (
    KNOWN_BUNDLE_MEDIA_TYPES,
    MAX_BUNDLE_BYTES,
    VerifiedBundle,
    looks_like_sigstore_bundle,
    parse_json_object,
)
from attestations.sigstore.identity import IdentityPolicy
from attestations.sigstore.key_signed import as_public_keys, verify_key_signed_bundle
from attestations.sigstore.sigstore_python import verify_with_sigstore
from attestations.sigstore.trust import PinnedTrustRoot, TrustConfigChoice, load_trust_root

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes


def verify_bundle(
    bundle_path: Path,
    *,
    artifact: Path | None,
    trust: TrustConfigChoice | PinnedTrustRoot,
    policy: IdentityPolicy | None,
    unsafe_no_identity: bool = False,
    public_keys: Sequence[PublicKey | PublicKeyTypes] = (),
) -> VerifiedBundle:
    """Verify the Sigstore bundle in ``bundle_path``; see the ``attestations.sigstore`` docstring."""
    raw = read_limited(Path(bundle_path), limit=MAX_BUNDLE_BYTES, what="bundle")
    return verify_bundle_bytes(
        raw,
        source=str(bundle_path),
        artifact=artifact,
        trust=trust,
        policy=policy,
        unsafe_no_identity=unsafe_no_identity,
        public_keys=public_keys,
    )


def verify_bundle_bytes(
    raw: bytes,
    *,
    source: str,
    artifact: Path | None,
    trust: TrustConfigChoice | PinnedTrustRoot,
    policy: IdentityPolicy | None,
    unsafe_no_identity: bool = False,
    public_keys: Sequence[PublicKey | PublicKeyTypes] = (),
) -> VerifiedBundle:
    """Verify one bundle given as JSON bytes; ``source`` names it in messages and in the fact."""
    if len(raw) > MAX_BUNDLE_BYTES:
        raise InputError(f"bundle {source} is more than the {MAX_BUNDLE_BYTES}-byte limit")
    obj = parse_json_object(raw, f"bundle {source}")
    if not looks_like_sigstore_bundle(obj):
        raise InputError(f"{source} is not a Sigstore bundle (no bundle mediaType and verificationMaterial)")
    media_type = str(obj["mediaType"])
    bundle_version = KNOWN_BUNDLE_MEDIA_TYPES.get(media_type)
    if bundle_version is None:
        raise UnsupportedError(f"bundle {source} has media type {media_type!r}, which sigstore-python 4 cannot read")
    material = obj["verificationMaterial"]
    entries = material.get("tlogEntries")
    if not isinstance(entries, list) or len(entries) != 1 or not isinstance(entries[0], dict):
        raise InputError(f"bundle {source} must hold exactly one transparency log entry")
    kind_version = entries[0].get("kindVersion")
    if not isinstance(kind_version, dict):
        raise InputError(f"bundle {source}: its log entry has no kindVersion")
    log_kind, log_version = str(kind_version.get("kind")), str(kind_version.get("version"))
    if log_kind == "intoto":
        raise UnsupportedError(
            f"bundle {source} is logged as a Rekor 'intoto' {log_version} entry (as slsa-github-generator and npm "
            "make them); sigstore-python 4.5 verifies only hashedrekord and dsse entries (sigstore-python#1384), "
            "so this bundle was not verified"
        )
    has_certificate = "certificate" in material or "x509CertificateChain" in material
    if not has_certificate and "publicKey" in material:
        if not public_keys:
            raise UnsupportedError(
                f"bundle {source} is signed with a public key, not a Fulcio certificate; sigstore-python 4.5 cannot "
                "verify such bundles (sigstore-python#1244): give the signer's public key to verify it"
            )
        pinned = trust if isinstance(trust, PinnedTrustRoot) else load_trust_root(trust)
        return verify_key_signed_bundle(
            obj,
            source=source,
            bundle_version=bundle_version,
            artifact=artifact,
            pinned=pinned,
            public_keys=as_public_keys(public_keys),
        )
    if policy is None and not unsafe_no_identity:
        raise InputError(
            "a Sigstore bundle needs an identity policy (identity and issuer); "
            "checking without one must be asked for explicitly"
        )
    pinned = trust if isinstance(trust, PinnedTrustRoot) else load_trust_root(trust)
    return verify_with_sigstore(raw, source, bundle_version, artifact, pinned, policy)
