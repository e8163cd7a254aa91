"""``device read --profile spdm``: judge what was just read against the operator's trust anchors and rules."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hw.evidence import DeviceEvidence
from verifier.checks.spdm import ASYM_NAMES, HASH_NAMES, SpdmRules, SpdmVerdict, anchors_from_pem, judge_spdm
from verifier.errors import BadInputError
from verifier.model import Report

VERSIONS = {"1.1": 0x11, "1.2": 0x12, "1.3": 0x13}


def rules_from_options(min_version: str | None, allowed: Sequence[str]) -> SpdmRules:
    """``--spdm-min-version`` and ``--spdm-allow`` (algorithm names; none given: every one provcheck speaks)."""
    asym = frozenset(name for name in allowed if name in ASYM_NAMES)
    hashes = frozenset(name for name in allowed if name in HASH_NAMES)
    unknown = sorted(set(allowed) - ASYM_NAMES - HASH_NAMES)
    if unknown:
        choices = ", ".join(sorted(ASYM_NAMES | HASH_NAMES))
        raise BadInputError(f"--spdm-allow {unknown[0]!r}: not an algorithm provcheck speaks ({choices})")
    return SpdmRules(
        min_version=VERSIONS[min_version] if min_version else 0x11,
        allowed_asym=asym or ASYM_NAMES,
        allowed_hash=hashes or HASH_NAMES,
    )


def load_anchors(paths: Sequence[Path]) -> list[bytes]:
    """Every certificate in the ``--trust-anchor`` files (PEM, or one DER certificate per file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    out: list[bytes] = []
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise BadInputError(f"--trust-anchor {path}: {exc.strerror}") from exc
        try:
            if b"-----BEGIN" in data:
                out += anchors_from_pem([data.decode("ascii", "replace")])
            else:
                out.append(x509.load_der_x509_certificate(data).public_bytes(serialization.Encoding.DER))
        except ValueError as exc:
            raise BadInputError(f"--trust-anchor {path}: not a certificate ({exc})") from exc
    return out


def judge_read(
    evidence: DeviceEvidence, anchors: Sequence[bytes], rules: SpdmRules
) -> tuple[Report, SpdmVerdict]:
    """The report of a live SPDM read: the nonce is the one this read sent, so it shows freshness."""
    nonce = bytes.fromhex(evidence.nonce) if evidence.nonce else None
    verdict = judge_spdm(evidence, anchors, nonce=nonce, rules=rules)
    report = Report(f"device read (spdm on {evidence.port})", verdict.findings, subject=evidence.port)
    return report, verdict
