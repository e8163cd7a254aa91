"""Judging classic in-toto supply-chain layouts: the in-toto library verifies, this module reports."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from attestations.errors import AttestationError
from verifier.model import Finding, failed, passed


def check_layout(
    layout: Path,
    *,
    layout_keys: Sequence[Path],
    link_dir: Path,
    allow_inspections: bool,
    artifacts: Sequence[Path] = (),
) -> list[Finding]:
    from attestations import layout as intoto_layout

    try:
        fact = intoto_layout.verify_layout(
            layout, layout_keys=layout_keys, link_dir=link_dir, allow_inspections=allow_inspections
        )
    except intoto_layout.LayoutVerificationError as exc:
        return [failed("attest.layout", str(exc), str(layout))]
    except AttestationError:
        raise
    steps = ", ".join(fact.steps)
    return [passed("attest.layout", f"supply chain verified: steps {steps}", str(layout), steps=list(fact.steps))]
