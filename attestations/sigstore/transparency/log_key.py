"""The transparency log's key: the one the trusted root lists for an entry's log, valid at its time, and its
signatures (over checkpoints and SETs)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from attestations.errors import BundleVerificationError
from attestations.sigstore.trust import PinnedTrustRoot

# Heavy, so imported inside the functions that use it: cryptography, loaded only when a key-signed bundle is verified.


def log_key_for(pinned: PinnedTrustRoot, log_id: bytes, integrated_time: int) -> Any:
    """The key of log ``log_id`` in ``pinned``, which must have been valid at ``integrated_time``."""
    key = pinned.rekor_keys.get(log_id)
    if key is None:
        raise BundleVerificationError(
            f"the log entry comes from a transparency log ({log_id.hex()[:16]}) that {pinned.name} does not list",
            stage="log",
        )
    when = datetime.fromtimestamp(integrated_time, tz=UTC)
    for tlog in pinned.trusted_root._inner.tlogs:
        if bytes(tlog.log_id.key_id) != log_id or tlog.public_key.valid_for is None:
            continue
        valid = tlog.public_key.valid_for
        if when < valid.start or (valid.end is not None and when > valid.end):
            raise BundleVerificationError(
                f"the log entry's time {when.isoformat()} is outside the log key's validity in {pinned.name}",
                stage="time",
            )
    return key


def verify_log_signature(key: Any, signature: bytes, data: bytes) -> bool:
    """A transparency log's signature (checkpoint or SET): ECDSA with SHA-256, or Ed25519."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
            return True
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, data)
            return True
    except (InvalidSignature, ValueError):
        return False
    return False
