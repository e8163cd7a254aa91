"""CoRIM / CoMID / CoEV and signed CoRIM: strict decoding, header rules, COSE verification, the writer's round trip.

Property: any input decodes or raises the package's documented error (``AttestationError``); a signed CoRIM is
checked through cwt with a fixed key without anything else escaping; and what decodes re-encodes to bytes that
decode to the same model (the writer is the reader's inverse).
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["attestations.corim"]):
    from attestations.corim.cose import verify_signed
    from attestations.corim.decode import decode_coev, decode_comid, decode_corim
    from attestations.corim.document import load_document
    from attestations.corim.encode import encode_coev, encode_comid, encode_corim
    from attestations.errors import AttestationError

# Heavy imports done up front, so the first input is not charged with them (libFuzzer's 1 s limit).
import cbor2  # noqa: F401
import cwt  # noqa: F401
from _harness import run

from attestations.keys import generate_private_key
from verifier.workflows.corim import describe

KEY = generate_private_key("ecdsa-p256").public


def target(data: bytes) -> None:
    doc = load_document(data)
    describe(doc)
    if doc.signed is not None:
        verify_signed(doc.signed, [KEY])
    if doc.corim is not None:
        assert decode_corim(encode_corim(doc.corim)) == doc.corim
    if doc.comid is not None:
        assert decode_comid(encode_comid(doc.comid)) == doc.comid
    if doc.coev is not None:
        assert decode_coev(encode_coev(doc.coev)) == doc.coev


if __name__ == "__main__":
    run(target, (AttestationError,))
