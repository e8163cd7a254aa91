"""The CoRIM form of a short-form report (OCP SAFE CoRIM profile, OID 1.3.6.1.4.1.42623.1.1)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from attestations.errors import UnsupportedError

if TYPE_CHECKING:
    from attestations.keys import PublicKey
    from attestations.ocp_safe.facts import SignedReview


def looks_like_cbor(data: bytes) -> bool:
    """A tagged CoRIM (501) or a COSE_Sign1 (18), the two ways a CoRIM-form SFR starts."""
    return data[:3] == b"\xd9\x01\xf5" or data[:1] == b"\xd2" or data[:2] == b"\xd8\x12"


def read_corim_review(path: str, data: bytes, keys: Sequence[PublicKey]) -> SignedReview:
    raise UnsupportedError(f"{path}: the CoRIM form of a short-form report is not read yet")
