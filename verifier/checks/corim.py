"""CoRIM reference values judged: ``refval.signature``, ``refval.validity`` and ``refval.format``.

Facts come from ``attestations.corim`` (the decoded document, cwt's verdict on the COSE_Sign1 signature per
key); this module only turns them into findings. A CoRIM counts as vouched for only when one of the keys the
operator gave verified its signature; a label the file writes about itself (its signer name) is reported,
never trusted.
"""

from __future__ import annotations

from datetime import datetime

from attestations.corim.cose import SignatureCheck
from attestations.corim.model import SignedCorim, Validity
from verifier.model import Finding, failed, passed, skipped

SIGNATURE = "refval.signature"
VALIDITY = "refval.validity"
FORMAT = "refval.format"


def judge_format(kind: str, summary: str, subject: str) -> Finding:
    """The file decoded strictly as one CoRIM-family document (bad input never gets here: it is exit 2)."""
    return passed(FORMAT, f"a well-formed {kind}: {summary}", subject, kind=kind)


def judge_signature(signed: SignedCorim | None, check: SignatureCheck | None, subject: str) -> Finding:
    """Pass when one of the given keys verified the COSE_Sign1 signature; an unsigned document fails."""
    if signed is None or check is None:
        return failed(
            SIGNATURE, "the reference values are not signed (no COSE_Sign1): nothing vouches for them", subject
        )
    meta = signed.protected.meta
    claimed = meta.signer.name if meta is not None else None
    evidence: dict[str, object] = {
        "alg": check.alg,
        "keys_tried": check.keys_tried,
        "signer_claimed": claimed,
    }
    if check.valid and check.key is not None:
        return passed(
            SIGNATURE,
            f"the {check.alg} signature verifies with {check.key.describe()}",
            subject,
            keyid=check.key.keyid,
            **evidence,
        )
    return failed(
        SIGNATURE,
        f"the {check.alg} signature does not verify with any of the {check.keys_tried} given key(s)",
        subject,
        reasons=list(check.reasons),
        **evidence,
    )


def _window(name: str, validity: Validity, at: datetime) -> str | None:
    """Why ``at`` is outside ``validity``, or None."""
    if validity.not_before is not None and at < validity.not_before:
        return f"{name} is not valid before {validity.not_before.isoformat()}"
    if at > validity.not_after:
        return f"{name} expired on {validity.not_after.isoformat()}"
    return None


def judge_validity(windows: dict[str, Validity], at: datetime, subject: str) -> Finding:
    """Every validity period the document declares (the CoRIM's, the signer's) must contain ``at``."""
    shown = {
        name: {"not_before": v.not_before.isoformat() if v.not_before else None, "not_after": v.not_after.isoformat()}
        for name, v in windows.items()
    }
    if not windows:
        return skipped(
            VALIDITY, "the document declares no validity period", subject, required=False, at=at.isoformat()
        )
    problems = [p for name, v in windows.items() if (p := _window(name, v, at)) is not None]
    if problems:
        return failed(VALIDITY, f"at {at.isoformat()}: " + "; ".join(problems), subject, at=at.isoformat(), **shown)
    return passed(
        VALIDITY, f"at {at.isoformat()} within {', '.join(windows)}", subject, at=at.isoformat(), **shown
    )
