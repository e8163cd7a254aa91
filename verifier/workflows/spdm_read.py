"""``device read --profile spdm``: judge what was just read against the operator's trust anchors and rules."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hw.evidence import DeviceEvidence
from verifier.checks.spdm import SpdmRules, SpdmVerdict, anchors_from_pem, judge_spdm, spdm_rules
from verifier.errors import BadInputError
from verifier.model import Report


def rules_from_options(min_version: str | None, allowed: Sequence[str]) -> SpdmRules:
    """``--spdm-min-version`` and ``--spdm-allow`` (algorithm names; none given: every one provcheck speaks)."""
    try:
        return spdm_rules(min_version, allowed)
    except ValueError as exc:
        raise BadInputError(f"--spdm-allow {exc}") from exc


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
