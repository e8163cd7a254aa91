"""DSSE envelopes, in-toto statements and .intoto.jsonl files: parse, then check signatures with a fixed key.

A test-result statement's predicate is read by its typed reader too (seed: corpus/dsse/test-result.intoto.jsonl).
"""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["attestations"]):
    from attestations.documents import parse_documents
    from attestations.dsse import Envelope, verify_signatures
    from attestations.errors import AttestationError
    from attestations.keys import generate_private_key
    from attestations.predicates import INTOTO_TEST_RESULT
    from attestations.statement import parse_statement
    from attestations.testresult import TestResult

from _harness import run

KEY = generate_private_key("ed25519").public


def target(data: bytes) -> None:
    for document in parse_documents(data, "fuzz"):
        if isinstance(document, Envelope):
            verify_signatures(document, [KEY])
            statement = parse_statement(document.payload)
            if statement.predicate_type == INTOTO_TEST_RESULT:
                TestResult.from_dict(statement.predicate)


if __name__ == "__main__":
    run(target, (AttestationError,))
