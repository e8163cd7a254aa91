"""The checkpoint: a signed note (origin, tree size, root hash) by the log's key, naming the tree a proof leads to.

Hand-written: sigstore-python's own check (sigstore._internal.rekor.checkpoint) is private and runs only inside its
Verifier, which refuses key-signed bundles (sigstore-python#1244).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from attestations.errors import BundleVerificationError
from attestations.sigstore.transparency.log_key import verify_log_signature


def verify_checkpoint(checkpoint: str, log_key: Any, log_id: bytes, tree_size: int, root: bytes) -> None:
    """The note is signed by ``log_key`` and names the tree (size and root hash) of the inclusion proof."""
    if checkpoint.count("\n\n") != 1 or not checkpoint.endswith("\n"):
        raise BundleVerificationError("the checkpoint is not a signed note", stage="log")
    text, signatures = checkpoint.split("\n\n")
    note = (text + "\n").encode()
    verified = False
    for line in signatures.splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != "\u2014":
            raise BundleVerificationError("the checkpoint has a malformed signature line", stage="log")
        try:
            raw = base64.b64decode(parts[2], validate=True)
        except (binascii.Error, ValueError):
            raise BundleVerificationError("the checkpoint signature is not base64", stage="log") from None
        if len(raw) > 4 and raw[:4] == log_id[:4] and verify_log_signature(log_key, raw[4:], note):
            verified = True
    if not verified:
        raise BundleVerificationError(
            "the checkpoint carries no valid signature by the transparency log's key in the trusted root", stage="log"
        )
    lines = text.split("\n")
    if len(lines) < 3:
        raise BundleVerificationError("the checkpoint lacks its size or root hash", stage="log")
    try:
        size = int(lines[1])
        checkpoint_root = base64.b64decode(lines[2], validate=True)
    except (ValueError, binascii.Error):
        raise BundleVerificationError("the checkpoint's size or root hash is malformed", stage="log") from None
    if size != tree_size or checkpoint_root != root:
        raise BundleVerificationError(
            "the signed checkpoint names another tree than the inclusion proof (size or root hash differ)", stage="log"
        )
