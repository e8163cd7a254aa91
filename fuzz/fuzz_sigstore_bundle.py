"""Sigstore bundle loading up to (and through) sigstore-python, against the embedded production root."""

from __future__ import annotations

import atheris

# sigstore is instrumented too: its bundle parser is the code that meets hostile input first.
with atheris.instrument_imports(include=["attestations", "sigstore", "sigstore_models"]):
    from attestations.errors import AttestationError
    from attestations.sigstore import TrustConfigChoice, load_trust_root, verify_bundle_bytes

from _harness import run

TRUST = load_trust_root(TrustConfigChoice.production())


def target(data: bytes) -> None:
    verify_bundle_bytes(data, source="fuzz", artifact=None, trust=TRUST, policy=None, unsafe_no_identity=True)


if __name__ == "__main__":
    run(target, (AttestationError,))
