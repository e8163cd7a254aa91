"""Bundles signed with a key (no certificate, "managed key"), verified here without sigstore-python.

Hand-written because no maintained package verifies them: sigstore-python 4.5 refuses bundles without a certificate
(sigstore-python#1244).

The given key pins the signer, so no identity policy is needed (nor applied: a key-signed bundle carries no
certificate identity). Checked in order: the signature over the artifact (or the DSSE PAE) with one of the keys, the
Rekor entry body's consistency with the bundle, the inclusion proof, the checkpoint signed by the trusted root's
Rekor key, and the signed entry timestamp (SET) over the integrated time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attestations import strict_json
from attestations.dsse import pae
from attestations.errors import BundleVerificationError, InputError, UnsupportedError
from attestations.keys import PublicKey, public_key_from_crypto
from attestations.sigstore.bundle import VerifiedBundle, b64_field, sha256_file
from attestations.sigstore.transparency.checkpoint import verify_checkpoint
from attestations.sigstore.transparency.entry import parse_log_entry
from attestations.sigstore.transparency.log_key import log_key_for
from attestations.sigstore.transparency.merkle import merkle_root_from_proof
from attestations.sigstore.transparency.set import verify_set
from attestations.sigstore.trust import PinnedTrustRoot

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

# Heavy, so imported inside the functions that use it: cryptography, loaded only when a key-signed bundle is verified.


def as_public_keys(keys: Sequence[PublicKey | PublicKeyTypes]) -> list[PublicKey]:
    """Accept ``attestations.keys.PublicKey`` objects or bare cryptography public keys."""
    return [key if isinstance(key, PublicKey) else public_key_from_crypto(key) for key in keys]


def _spki(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return bytes(key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))


def _verify_prehashed(key: Any, signature: bytes, digest: bytes) -> bool:
    """A hashedrekord signature: over the artifact's SHA-256, as ECDSA or RSA (PKCS#1 v1.5 or PSS) sign it."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    prehashed = Prehashed(hashes.SHA256())
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, digest, ec.ECDSA(prehashed))
            return True
        if isinstance(key, rsa.RSAPublicKey):
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
            for pad in (padding.PKCS1v15(), pss):
                try:
                    key.verify(signature, digest, pad, prehashed)
                    return True
                except InvalidSignature:
                    continue
    except (InvalidSignature, ValueError):
        return False
    return False


def _check_hashedrekord_body(body: dict[str, Any], digest: bytes, signature: bytes, key_spki: bytes) -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    spec = body.get("spec")
    try:
        data_hash = spec["data"]["hash"]  # type: ignore[index]
        logged_signature = spec["signature"]  # type: ignore[index]
        logged_key = base64.b64decode(logged_signature["publicKey"]["content"], validate=True)
        logged_sig = base64.b64decode(logged_signature["content"], validate=True)
    except (TypeError, KeyError, binascii.Error, ValueError):
        raise BundleVerificationError("the log entry is not a well-formed hashedrekord", stage="log") from None
    if data_hash.get("algorithm") != "sha256" or data_hash.get("value") != digest.hex():
        raise BundleVerificationError("the log entry records another artifact digest than the bundle", stage="log")
    if logged_sig != signature:
        raise BundleVerificationError("the log entry records another signature than the bundle", stage="log")
    try:
        logged_spki = _spki(load_pem_public_key(logged_key))
    except (ValueError, TypeError):
        raise BundleVerificationError("the log entry's public key cannot be parsed", stage="log") from None
    if logged_spki != key_spki:
        raise BundleVerificationError(
            "the log entry records another public key than the one that verified", stage="log"
        )


def _check_dsse_body(body: dict[str, Any], payload: bytes, signatures: Sequence[bytes], key_spki: bytes) -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    spec = body.get("spec")
    try:
        payload_hash = spec["payloadHash"]  # type: ignore[index]
        logged = [
            (base64.b64decode(item["signature"], validate=True), base64.b64decode(item["verifier"], validate=True))
            for item in spec["signatures"]  # type: ignore[index]
        ]
    except (TypeError, KeyError, binascii.Error, ValueError):
        raise BundleVerificationError("the log entry is not a well-formed dsse entry", stage="log") from None
    if payload_hash.get("algorithm") != "sha256" or payload_hash.get("value") != hashlib.sha256(payload).hexdigest():
        raise BundleVerificationError("the log entry records another payload digest than the envelope", stage="log")
    if sorted(sig for sig, _ in logged) != sorted(signatures):
        raise BundleVerificationError("the log entry records other signatures than the envelope", stage="log")
    for _, verifier in logged:
        try:
            if _spki(load_pem_public_key(verifier)) == key_spki:
                return
        except (ValueError, TypeError):
            continue
    raise BundleVerificationError("the log entry does not record the key that verified the envelope", stage="log")


def verify_key_signed_bundle(
    obj: dict[str, Any],
    *,
    source: str,
    bundle_version: str,
    artifact: Path | None,
    pinned: PinnedTrustRoot,
    public_keys: Sequence[PublicKey],
) -> VerifiedBundle:
    """Signature by one of ``public_keys``, log entry consistency, inclusion proof, signed checkpoint and SET."""
    material = obj["verificationMaterial"]
    entry = parse_log_entry(material["tlogEntries"][0], source)
    where = f"key-signed bundle {source}"
    if entry.integrated_time is None or entry.signed_entry_timestamp is None:
        raise UnsupportedError(
            f"{where} has no signed entry timestamp; provcheck verifies key-signed bundles only with one"
        )
    if (entry.kind, entry.version) not in (("hashedrekord", "0.0.1"), ("dsse", "0.0.1")):
        raise UnsupportedError(
            f"{where} is logged as {entry.kind}/{entry.version}; provcheck verifies key-signed bundles logged as "
            "hashedrekord/0.0.1 or dsse/0.0.1 only"
        )

    try:
        body = strict_json.loads(entry.body, "the log entry body")
    except InputError as exc:
        raise BundleVerificationError(f"{where}: {exc}", stage="log") from None
    if not isinstance(body, dict) or (body.get("kind"), body.get("apiVersion")) != (entry.kind, entry.version):
        raise BundleVerificationError(f"{where}: the log entry body's kind differs from the entry's", stage="log")

    envelope = obj.get("dsseEnvelope")
    message = obj.get("messageSignature")
    signer: PublicKey | None = None
    payload: bytes | None = None
    payload_type: str | None = None
    artifact_sha256: str | None = None
    try:
        if isinstance(envelope, dict):
            if entry.kind != "dsse":
                raise BundleVerificationError(f"{where}: a DSSE envelope logged as {entry.kind}", stage="log")
            payload = b64_field(envelope.get("payload"), f"{where}: DSSE payload")
            payload_type = envelope.get("payloadType")
            if not isinstance(payload_type, str):
                raise InputError(f"{where}: DSSE envelope has no payloadType")
            raw_signatures = envelope.get("signatures")
            if not isinstance(raw_signatures, list) or len(raw_signatures) != 1:
                raise InputError(f"{where}: a bundle's DSSE envelope must carry exactly one signature")
            signature = b64_field(
                raw_signatures[0].get("sig") if isinstance(raw_signatures[0], dict) else None, "sig"
            )
            signed = pae(payload_type, payload)
            signer = next((key for key in public_keys if key.verify(signature, signed)), None)
            if signer is None:
                raise BundleVerificationError(
                    f"{where}: the DSSE signature does not verify with any of the given keys", stage="key"
                )
            _check_dsse_body(body, payload, [signature], _spki(signer.key))
        elif isinstance(message, dict):
            if entry.kind != "hashedrekord":
                raise BundleVerificationError(f"{where}: a message signature logged as {entry.kind}", stage="log")
            if artifact is None:
                raise InputError(f"bundle {source} signs an artifact directly: give the artifact to verify it against")
            digest = sha256_file(artifact)
            artifact_sha256 = digest.hex()
            declared = message.get("messageDigest")
            if isinstance(declared, dict) and declared.get("algorithm", "SHA2_256") != "SHA2_256":
                algorithm = declared.get("algorithm")
                raise UnsupportedError(f"{where}: message digest algorithm {algorithm!r} is not SHA2_256")
            if isinstance(declared, dict) and b64_field(declared.get("digest"), f"{where}: messageDigest") != digest:
                raise BundleVerificationError(
                    f"{where}: the artifact's digest differs from the bundle's", stage="artifact"
                )
            signature = b64_field(message.get("signature"), f"{where}: message signature")
            if all(key.algorithm == "ed25519" for key in public_keys):
                raise UnsupportedError(
                    f"{where}: signatures over an artifact digest (hashedrekord) by Ed25519 keys are not supported"
                )
            signer = next((key for key in public_keys if _verify_prehashed(key.key, signature, digest)), None)
            if signer is None:
                raise BundleVerificationError(
                    f"{where}: the signature over the artifact does not verify with any of the given keys", stage="key"
                )
            _check_hashedrekord_body(body, digest, signature, _spki(signer.key))
        else:
            raise InputError(f"{where} holds neither a DSSE envelope nor a message signature")

        log_key = log_key_for(pinned, entry.log_id, entry.integrated_time)
        root = merkle_root_from_proof(entry.body, entry.proof_index, entry.tree_size, entry.proof_hashes)
        if root != entry.root_hash:
            raise BundleVerificationError("the inclusion proof does not lead to the stated root hash", stage="log")
        verify_checkpoint(entry.checkpoint, log_key, entry.log_id, entry.tree_size, root)
        verify_set(entry, entry.signed_entry_timestamp, entry.integrated_time, log_key)
        if entry.integrated_time > datetime.now(tz=UTC).timestamp() + 300:
            raise BundleVerificationError("the log entry's integrated time is in the future", stage="time")
    except BundleVerificationError as exc:
        if str(exc).startswith(where):
            raise
        raise BundleVerificationError(f"{where} does not verify: {exc}", stage=exc.stage) from None

    return VerifiedBundle(
        source=source,
        bundle_version=bundle_version,
        kind="dsse" if payload is not None else "message",
        payload=payload,
        payload_type=payload_type,
        artifact_sha256=artifact_sha256,
        signer=None,
        certificate_sha256=None,
        public_key_id=signer.keyid,
        identity_checked=True,
        log_entry_kind=entry.kind,
        log_entry_version=entry.version,
        log_index=entry.log_index,
        integrated_time=datetime.fromtimestamp(entry.integrated_time, tz=UTC),
        timestamp_count=0,
        trust_root=pinned.name,
        verified_by="provcheck key-signed bundle verifier",
    )
