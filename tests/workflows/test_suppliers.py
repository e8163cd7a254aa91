"""Supplier rules over the device manifest and CycloneDX: each rule has a passing case and a failing twin."""

from __future__ import annotations

import json
from pathlib import Path

from verifier.checks.suppliers import Party, check_suppliers, parties_from_cyclonedx, parties_from_device_manifest
from verifier.declared.device_manifest import manifest_from_predicate
from verifier.model import Status
from verifier.policy.model import SupplierRule

MANIFEST = {
    "manufacturer": "Acme Industrial",
    "model": "RTU-9",
    "supplier": {
        "name": "Acme Industrial",
        "country": "DE",
        "subcontractors": [{"name": "Board Assembly GmbH", "country": "DE"}],
    },
    "components": [
        {"class": "nic", "manufacturer": "Intel", "model": "I210", "supplier": {"name": "Intel", "country": "US"}},
        {
            "class": "flash",
            "manufacturer": "Winbond",
            "model": "W25Q",
            "supplier": {"name": "Winbond", "country": "TW"},
        },
        {
            "class": "mcu",
            "manufacturer": "Microchip",
            "model": "SAM",
            "supplier": {"name": "Microchip", "country": "US"},
        },
    ],
}


def _declared_parties(predicate: dict) -> list[Party]:
    """The parties of a device-manifest predicate, parsed as intake parses it."""
    return parties_from_device_manifest(manifest_from_predicate(predicate))


ALLOWED = frozenset({"acme industrial", "board assembly gmbh", "intel", "winbond", "microchip"})


def _statuses(findings: list, check: str) -> list[Status]:
    return [f.status for f in findings if f.check == check]


def test_parties_cover_vendor_subcontractors_and_components() -> None:
    parties = _declared_parties(MANIFEST)
    roles = {(p.name, p.role) for p in parties}
    assert ("Acme Industrial", "vendor") in roles
    assert ("Board Assembly GmbH", "subcontractor") in roles
    assert ("Winbond", "supplier") in roles
    assert len(parties) == 5


def test_allowed_suppliers_pass_and_an_unlisted_one_fails() -> None:
    parties = _declared_parties(MANIFEST)
    ok = check_suppliers(parties, [SupplierRule(allowed=ALLOWED, allowed_countries=frozenset({"DE", "US", "TW"}))])
    assert [f.status for f in ok] == [Status.PASS]
    swapped = json.loads(json.dumps(MANIFEST))
    swapped["components"][1]["supplier"] = {"name": "Unknown Flash Co", "country": "TW"}
    bad = check_suppliers(_declared_parties(swapped), [SupplierRule(allowed=ALLOWED)])
    assert _statuses(bad, "supply.supplier-not-allowed") == [Status.FAIL]


def test_blocked_subcontractor_and_blocked_country_fail() -> None:
    parties = _declared_parties(MANIFEST)
    blocked = check_suppliers(parties, [SupplierRule(blocked=frozenset({"board assembly gmbh"}))])
    assert _statuses(blocked, "supply.blocked-supplier") == [Status.FAIL]
    country = check_suppliers(parties, [SupplierRule(blocked_countries=frozenset({"TW"}))])
    assert _statuses(country, "supply.blocked-country") == [Status.FAIL]
    not_allowed = check_suppliers(parties, [SupplierRule(allowed_countries=frozenset({"DE", "US"}))])
    assert _statuses(not_allowed, "supply.country-not-allowed") == [Status.FAIL]


def test_concentration_warning() -> None:
    parties = _declared_parties(MANIFEST)
    assert _statuses(check_suppliers(parties, [SupplierRule(concentration_warning=0.5)]), "supply.concentration") == []
    mono = json.loads(json.dumps(MANIFEST))
    for component in mono["components"][:2]:
        component["supplier"] = {"name": "Microchip", "country": "US"}
    warned = check_suppliers(_declared_parties(mono), [SupplierRule(concentration_warning=0.5)])
    assert _statuses(warned, "supply.concentration") == [Status.WARN]


def test_unknown_origin_warns_or_fails() -> None:
    anon = {"manufacturer": "Acme Industrial", "components": []}
    parties = _declared_parties(anon)
    rule = SupplierRule(allowed_countries=frozenset({"DE"}))
    assert _statuses(check_suppliers(parties, [rule]), "supply.unknown-origin") == [Status.WARN]
    strict = SupplierRule(require_origin=True)
    assert _statuses(check_suppliers(parties, [strict]), "supply.unknown-origin") == [Status.FAIL]


def test_no_named_suppliers_is_a_required_skip() -> None:
    (finding,) = check_suppliers([], [SupplierRule(blocked=frozenset({"x"}))])
    assert finding.status is Status.SKIP and finding.required


def test_cyclonedx_hbom_vector(vectors: Path) -> None:
    bom = json.loads((vectors / "cyclonedx-bom-examples/HBOM/PCIe-SATA-adapter-board/bom.json").read_text())
    parties = parties_from_cyclonedx(bom)
    names = {p.name for p in parties}
    assert {"Samtec", "Molex"} <= names
    assert check_suppliers(parties, [SupplierRule(blocked=frozenset({"samtec"}))])[0].status is Status.FAIL
    allowed = frozenset(n.casefold() for n in names)
    assert check_suppliers(parties, [SupplierRule(allowed=allowed)])[0].status is Status.PASS
