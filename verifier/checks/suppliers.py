"""Supplier rules: who made this device and its parts, and where, judged against the policy.

The parties are the vendor, every component's supplier and manufacturer, and every
subcontractor named in the device manifest or the CycloneDX SBOM/HBOM. EU supply-chain
policy asks operators to enforce high-risk-supplier restrictions; this is where that happens.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from verifier.declared.device_model import DeviceManifest
from verifier.declared.hbom import parties_from_bom
from verifier.declared.parties import DeclaredParty
from verifier.model import Finding, failed, passed, skipped, warned
from verifier.policy.model import SupplierRule


@dataclass(frozen=True)
class Party:
    """One organisation a manifest names, and in which role."""

    name: str
    country: str | None
    role: str  # vendor | supplier | manufacturer | subcontractor
    source: str  # where it was named, for the finding's subject
    component: str | None = None


def _normal(name: str) -> str:
    return " ".join(name.casefold().split())


def _declared(party: DeclaredParty, role: str, source: str, component: str | None) -> list[Party]:
    """A declared party and, under it, its subcontractors (the declaration bounds their depth)."""
    out = [Party(party.name, party.country.upper() if party.country else None, role, source, component)]
    for sub in party.subcontractors:
        out += _declared(sub, "subcontractor", f"{source} subcontractor", component)
    return out


def _named(name: str | None, role: str, source: str, component: str | None) -> list[Party]:
    """A party known only by name (a manufacturer string): no country."""
    return [Party(name.strip(), None, role, source, component)] if name and name.strip() else []


def parties_from_device_manifest(manifest: DeviceManifest) -> list[Party]:
    """The vendor, subcontractors and component suppliers and manufacturers a device manifest names."""
    out: list[Party] = []
    if manifest.supplier is not None:
        out += _declared(manifest.supplier, "vendor", "device manifest", None)
    else:
        out += _named(manifest.manufacturer, "vendor", "device manifest", None)
    for sub in manifest.subcontractors:
        out += _declared(sub, "subcontractor", "device manifest subcontractors", None)
    for index, component in enumerate(manifest.components):
        label = (
            " ".join(x for x in (component.cls, component.manufacturer, component.model) if x and x.strip())
            or f"component {index}"
        )
        source = f"device manifest component {label}"
        supplier = _declared(component.supplier, "supplier", source, label) if component.supplier else []
        maker = _named(component.manufacturer, "manufacturer", source, label)
        # A manufacturer named only by name inherits the country of a supplier of the same name.
        if supplier and maker and _normal(supplier[0].name) == _normal(maker[0].name):
            maker = []
        out += supplier + maker
    return out


def parties_from_cyclonedx(bom: Mapping[str, object]) -> list[Party]:
    """The organisations a CycloneDX SBOM or HBOM names (read by ``verifier.declared.hbom``, schema first)."""
    return [
        Party(p.name, p.country.upper() if p.country else None, p.role, p.source, p.component)
        for p in parties_from_bom(bom)
    ]


def _distinct(parties: Sequence[Party]) -> list[Party]:
    """Each party once: a CycloneDX HBOM is signed in the release beside the device manifest made from it,
    so the same supplier is named twice; judged once (the first naming is kept)."""
    seen: set[tuple[str, str | None, str]] = set()
    out = []
    for party in parties:
        key = (_normal(party.name), party.country, party.role)
        if key not in seen:
            seen.add(key)
            out.append(party)
    return out


def check_suppliers(parties: Sequence[Party], rules: Sequence[SupplierRule]) -> list[Finding]:
    """Every party against every supplier rule (all must hold); one pass when nothing is wrong."""
    if not rules:
        return []
    everyone = list(parties)
    parties = _distinct(everyone)
    if not parties:
        return [
            skipped(
                "supply.suppliers",
                "the policy restricts suppliers but neither the device manifest nor the SBOM names any",
                "suppliers",
            )
        ]
    findings: list[Finding] = []
    for rule in rules:
        for party in parties:
            name = _normal(party.name)
            evidence = {"name": party.name, "country": party.country, "role": party.role, "named_in": party.source}
            where = f"{party.role} {party.name}"
            if name in rule.blocked:
                findings.append(
                    failed(
                        "supply.blocked-supplier",
                        f"{party.name} ({party.role}) is a blocked supplier",
                        where,
                        **evidence,
                    )
                )
            elif rule.allowed and name not in rule.allowed:
                findings.append(
                    failed(
                        "supply.supplier-not-allowed",
                        f"{party.name} ({party.role}, in {party.source}) is not on the allowed supplier list",
                        where,
                        **evidence,
                    )
                )
            if party.country is None:
                if rule.require_origin:
                    findings.append(
                        failed(
                            "supply.unknown-origin",
                            f"{party.name} ({party.role}) has no country of origin",
                            where,
                            **evidence,
                        )
                    )
                elif rule.allowed_countries or rule.blocked_countries:
                    findings.append(
                        warned(
                            "supply.unknown-origin",
                            f"{party.name} ({party.role}) has no country of origin; country rules cannot apply",
                            where,
                            **evidence,
                        )
                    )
            elif party.country in rule.blocked_countries:
                findings.append(
                    failed(
                        "supply.blocked-country",
                        f"{party.name} ({party.role}) is from {party.country}, a blocked country",
                        where,
                        **evidence,
                    )
                )
            elif rule.allowed_countries and party.country not in rule.allowed_countries:
                findings.append(
                    failed(
                        "supply.country-not-allowed",
                        f"{party.name} ({party.role}) is from {party.country}, which is not an allowed country",
                        where,
                        **evidence,
                    )
                )
        if rule.concentration_warning is not None:
            findings += _concentration(everyone, rule.concentration_warning)
    if not findings or all(f.status.value == "pass" for f in findings):
        names = sorted({p.name for p in parties})
        findings.append(
            passed(
                "supply.suppliers",
                f"all {len(names)} named suppliers meet the supplier rules",
                "suppliers",
                suppliers=names,
            )
        )
    return findings


def _concentration(parties: Sequence[Party], limit: float) -> list[Finding]:
    per_component: dict[str, str] = {}
    for party in parties:
        if party.component is not None and party.role in ("supplier", "manufacturer"):
            per_component.setdefault(party.component, _normal(party.name))
    if len(per_component) < 2:
        return []
    counts = Counter(per_component.values())
    name, count = counts.most_common(1)[0]
    share = count / len(per_component)
    if share <= limit:
        return []
    shown = next(p.name for p in parties if _normal(p.name) == name)
    return [
        warned(
            "supply.concentration",
            f"{shown} supplies {count} of {len(per_component)} components ({share:.0%}), above the {limit:.0%} limit",
            f"supplier {shown}",
            supplier=shown,
            share=round(share, 4),
            limit=limit,
        )
    ]
