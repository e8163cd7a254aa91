"""OCP S.A.F.E. short-form reports in every form (compact JWS, JSON, CoRIM, COSE-signed CoRIM): read, verify with a
fixed P-521 key, and judge against a fixed firmware digest."""

from __future__ import annotations

from datetime import UTC, datetime

import atheris

with atheris.instrument_imports(include=["attestations"]):
    from cryptography.hazmat.primitives.asymmetric import ec

    from attestations.errors import AttestationError
    from attestations.keys import public_key_from_crypto
    from attestations.ocp_safe.review import read_review

from _harness import run

from verifier.checks.reviews import FirmwareFile, ReviewLimits, judge_review

KEY = public_key_from_crypto(ec.generate_private_key(ec.SECP521R1()).public_key())
FIRMWARE = FirmwareFile("fw.bin", {"sha384": "00" * 48, "sha512": "00" * 64})
NOW = datetime(2026, 12, 2, tzinfo=UTC)


def target(data: bytes) -> None:
    review = read_review("fuzz", data, [KEY])
    judge_review(review, ReviewLimits(max_cvss=7.0, max_age_days=365), FIRMWARE, NOW)


if __name__ == "__main__":
    run(target, (AttestationError,))
