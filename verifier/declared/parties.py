"""Organisations a device declaration names: the vendor, component suppliers and their subcontractors.

Parsed once for the supplier rules (``verifier.checks.suppliers``). In the device-manifest
predicate a party is a name, or an object with ``name``, ``country`` (or ``address.country``)
and ``subcontractors`` (a list of parties). A party that does not name anyone, or a field of
the wrong type, is bad input: a supplier rule cannot be judged over what cannot be read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from verifier.declared.fields import FieldReader

#: How deep subcontractors of subcontractors may go: a declaration is not a recursion bomb.
MAX_SUBCONTRACTOR_DEPTH = 16


@dataclass(frozen=True)
class DeclaredParty:
    """One organisation as declared: its name and country as written (whitespace trimmed)."""

    name: str
    country: str | None = None
    subcontractors: tuple[DeclaredParty, ...] = ()


def _country(entity: Mapping[str, object], f: FieldReader, name: str) -> str | None:
    country = f.text(entity, "country", f"{name}.country")
    address = entity.get("address")
    if (country is None or not country.strip()) and address is not None:
        if not isinstance(address, Mapping):
            raise f.error(f"'{name}.address' must be an object")
        country = f.text(address, "country", f"{name}.address.country")
    return country.strip() if country and country.strip() else None


def party_from_json(value: object, f: FieldReader, name: str, depth: int = 0) -> DeclaredParty | None:
    """A party written as a name or an object; None when the field is absent (null)."""
    if value is None:
        return None
    if isinstance(value, str):
        if not value.strip():
            raise f.error(f"'{name}' must name a party, not be blank")
        return DeclaredParty(value.strip())
    if not isinstance(value, Mapping):
        raise f.error(f"'{name}' must be a name or an object with 'name'")
    party_name = f.text(value, "name", f"{name}.name")
    if party_name is None or not party_name.strip():
        raise f.error(f"'{name}.name' is required")
    subs = parties_from_json(value.get("subcontractors"), f, f"{name}.subcontractors", depth + 1)
    return DeclaredParty(party_name.strip(), _country(value, f, name), subs)


def parties_from_json(value: object, f: FieldReader, name: str, depth: int = 0) -> tuple[DeclaredParty, ...]:
    """A list of parties (``subcontractors``); absent or null is none."""
    if value is None:
        return ()
    if depth > MAX_SUBCONTRACTOR_DEPTH:
        raise f.error(f"'{name}' nests subcontractors deeper than {MAX_SUBCONTRACTOR_DEPTH} levels")
    if not isinstance(value, list):
        raise f.error(f"'{name}' must be a list")
    out = []
    for i, item in enumerate(value):
        party = party_from_json(item, f, f"{name}[{i}]", depth)
        if party is None:
            raise f.error(f"'{name}[{i}]' must be a name or an object with 'name'")
        out.append(party)
    return tuple(out)


def party_from_cyclonedx(entity: object) -> DeclaredParty | None:
    """A CycloneDX organizationalEntity: its name and country, nothing invented; None if it names no one."""
    if not isinstance(entity, Mapping) or not isinstance(entity.get("name"), str) or not entity["name"].strip():
        return None
    country = entity.get("country")
    address = entity.get("address")
    if not isinstance(country, str) and isinstance(address, Mapping):
        country = address.get("country")
    return DeclaredParty(entity["name"].strip(), country.strip() if isinstance(country, str) and country.strip()
                         else None)


def party_json(party: DeclaredParty) -> dict[str, str]:
    """A party as the predicate writes it when it came from CycloneDX: name, and country when known."""
    out = {"name": party.name}
    if party.country is not None:
        out["country"] = party.country
    return out
