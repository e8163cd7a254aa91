"""The RFC 9162 (section 2.1.3.2) Merkle inclusion proof: the root hash an entry's audit path leads to.

Hand-written: sigstore-python's own check (sigstore._internal.merkle) is private and runs only inside its Verifier,
which refuses key-signed bundles (sigstore-python#1244).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from attestations.errors import BundleVerificationError


def merkle_root_from_proof(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root an inclusion proof leads to, or ``BundleVerificationError`` (stage "log")."""
    if index >= size:
        raise BundleVerificationError("the inclusion proof's leaf index is outside the tree", stage="log")
    fn, sn = index, size - 1
    node = hashlib.sha256(b"\x00" + leaf).digest()
    for sibling in proof:
        if len(sibling) != 32:
            raise BundleVerificationError("the inclusion proof holds a hash that is not 32 bytes", stage="log")
        if sn == 0:
            raise BundleVerificationError("the inclusion proof is longer than the tree is deep", stage="log")
        if fn & 1 or fn == sn:
            node = hashlib.sha256(b"\x01" + sibling + node).digest()
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            node = hashlib.sha256(b"\x01" + node + sibling).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise BundleVerificationError("the inclusion proof is shorter than the tree is deep", stage="log")
    return node
