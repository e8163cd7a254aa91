"""One entry point for a CoRIM-family file: signed CoRIM (18), unsigned CoRIM (501), CoMID (506 or bare), CoEV (571)."""

from __future__ import annotations

from typing import Any

from attestations.corim import cbor
from attestations.corim.cose import parse_signed
from attestations.corim.decode import (
    TAG_COEV,
    TAG_COMID,
    TAG_CORIM,
    TAG_COSE_SIGN1,
    parse_comid,
    parse_concise_evidence,
    parse_tagged_corim,
)
from attestations.corim.errors import CorimFormatError
from attestations.corim.model import Document


def load_document(data: bytes) -> Document:
    """Decode ``data`` strictly into a ``Document``; a signed CoRIM's signature is not checked here."""
    import cbor2  # deferred (TID253)

    value: Any = cbor.decode(data, what="file")
    if isinstance(value, cbor2.CBORTag):
        if value.tag == TAG_COSE_SIGN1:
            signed = parse_signed(value, data)
            return Document(kind="signed-corim", corim=signed.corim, signed=signed)
        if value.tag == TAG_CORIM:
            return Document(kind="corim", corim=parse_tagged_corim(value, "corim"))
        if value.tag == TAG_COMID:
            if not isinstance(value.value, bytes):
                raise CorimFormatError("comid", "tag 506 must hold the CoMID's encoded bytes")
            return Document(kind="comid", comid=parse_comid(cbor.decode(value.value, what="comid"), "comid"))
        if value.tag == TAG_COEV:
            return Document(kind="coev", coev=parse_concise_evidence(value.value, "coev"))
        raise CorimFormatError(
            "file", f"tag {value.tag} is not a CoRIM (501), a signed CoRIM (18), a CoMID (506) or a CoEV (571)"
        )
    if isinstance(value, dict):
        return Document(kind="comid", comid=parse_comid(value, "comid"))
    raise CorimFormatError("file", "is not a CoRIM, a signed CoRIM, a CoMID or a CoEV")
