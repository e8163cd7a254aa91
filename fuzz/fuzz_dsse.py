"""DSSE envelopes, in-toto statements and .intoto.jsonl files: parse, then check signatures with a fixed key."""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["attestations"]):
    from attestations.documents import parse_documents
    from attestations.dsse import Envelope, verify_signatures
    from attestations.errors import AttestationError
    from attestations.keys import generate_private_key
    from attestations.statement import parse_statement

from _harness import run

KEY = generate_private_key("ed25519").public


def target(data: bytes) -> None:
    for document in parse_documents(data, "fuzz"):
        if isinstance(document, Envelope):
            verify_signatures(document, [KEY])
            parse_statement(document.payload)


if __name__ == "__main__":
    run(target, (AttestationError,))
