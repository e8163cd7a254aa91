"""Judging classic in-toto supply-chain layouts: the in-toto library verifies, this module reports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from attestations import layout as intoto_layout
from attestations.statement import Subject, digest_file, subject_matches
from verifier.model import Finding, failed, passed, skipped, warned


def check_layout(
    layout: Path,
    *,
    layout_keys: Sequence[Path],
    link_dir: Path,
    allow_inspections: bool,
    artifacts: Sequence[Path] = (),
) -> list[Finding]:
    try:
        fact = intoto_layout.verify_layout(
            layout, layout_keys=layout_keys, link_dir=link_dir, allow_inspections=allow_inspections
        )
    except intoto_layout.InspectionsNotAllowedError as exc:
        # Not tampering, and not verified either: the layout cannot be checked without running its commands.
        names = ", ".join(exc.inspections)
        return [
            skipped(
                "attest.layout",
                f"the layout has inspections that execute commands ({names}); nothing was run. "
                "Rerun with --allow-inspections only if you trust the layout's signer",
                str(layout),
                inspections=list(exc.inspections),
            )
        ]
    except intoto_layout.LayoutVerificationError as exc:
        return [
            failed(
                "attest.layout",
                str(exc),
                str(layout),
                stage=exc.stage,
                step=exc.step,
                rule=exc.rule,
                artifacts=list(exc.artifacts),
            )
        ]
    steps = ", ".join(fact.steps)
    findings = [
        passed(
            "attest.layout",
            f"supply chain verified: steps {steps}"
            + (f"; inspections run: {', '.join(fact.inspections_run)}" if fact.inspections_run else ""),
            str(layout),
            **fact.to_json(),
        )
    ]
    for rule in fact.permissive_rules:
        findings.append(
            warned(
                "attest.layout-rules",
                f"{rule} does not end in DISALLOW: artifacts it does not name are accepted unchecked",
                str(layout),
            )
        )
    findings += _check_final_products(fact.final_products, artifacts, str(layout))
    return findings


def _check_final_products(
    products: Mapping[str, Mapping[str, str]], artifacts: Sequence[Path], source: str
) -> list[Finding]:
    """An artifact given with a layout must be one of the supply chain's final products."""
    if not artifacts:
        return []
    findings = []
    for artifact in artifacts:
        digests = digest_file(artifact, ("sha256", "sha512"))
        match = next(
            (name for name, declared in products.items() if subject_matches(Subject(name, declared), digests)),
            None,
        )
        if match is not None:
            findings.append(
                passed("attest.layout-product", f"{artifact.name} is the chain's product {match}", str(artifact))
            )
        else:
            findings.append(
                failed(
                    "attest.layout-product",
                    f"{artifact.name} is none of the products the supply chain produced",
                    str(artifact),
                    products=sorted(products),
                )
            )
    return findings
