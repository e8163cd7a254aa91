"""One short-form report read from a file, whatever its form, with what its signature showed.

The forms: a compact JWS (the published reports), the plain JSON payload (unsigned: it can be shown, never
trusted), and the CoRIM form of the OCP SAFE profile (``corim_form``), unsigned or COSE-signed. Every form
ends in the same ``SignedReview`` fact, so one judge (``verifier.checks.reviews``) reads them all.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from attestations.errors import InputError
from attestations.files import read_limited
from attestations.keys import PublicKey
from attestations.ocp_safe import corim_form
from attestations.ocp_safe.facts import FORM_JSON, FORM_JWS, SignedReview
from attestations.ocp_safe.jws import MAX_TOKEN_BYTES, parse_compact, verify_compact
from attestations.ocp_safe.report import ShortFormReport

__all__ = ["FORM_JSON", "FORM_JWS", "SignedReview", "load_review", "read_review"]

def read_review(path: str, data: bytes, keys: Sequence[PublicKey]) -> SignedReview:
    """The report in ``data`` (from the file ``path``), its signature checked against ``keys`` only."""
    head = data.lstrip(b" \t\r\n")[:1]
    if head == b"{":
        report = ShortFormReport.from_json(data, f"{path}: the report")
        return SignedReview(path, FORM_JSON, report, signed=False, keys_given=len(keys))
    if head.isalnum() or head in (b"-", b"_"):
        jws = parse_compact(data, path)
        verification = verify_compact(jws, keys)
        report = ShortFormReport.from_json(jws.payload, f"{path}: the JWS payload")
        return SignedReview(
            path,
            FORM_JWS,
            report,
            signed=True,
            signer=verification.key,
            refused=verification.refused,
            algorithm=jws.alg,
            label=jws.kid,
            keys_given=len(keys),
            fitting=verification.fitting,
        )
    if corim_form.looks_like_cbor(data):
        return corim_form.read_corim_review(path, data, keys)
    raise InputError(f"{path} is neither a compact JWS, a JSON short-form report nor a CoRIM")


def load_review(path: str, keys: Sequence[PublicKey]) -> SignedReview:
    data = read_limited(Path(path), limit=MAX_TOKEN_BYTES, what="review")
    return read_review(path, data, keys)
