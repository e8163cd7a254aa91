"""A CycloneDX 1.4-1.6 HBOM as the declared device (see ``verifier.declared.device_manifest``).

``metadata.component`` gives manufacturer (``manufacturer.name``, ``supplier.name`` or ``group``),
model (``name``) and board revision (``version``); a ``cdx:device:serialNumber`` property on it
gives the serial, ``provcheck:serial:pattern`` a serial pattern. Each component of type ``device``
(or with ``cdx:device:*`` properties) becomes a component: class from ``cdx:device:function``
(else ``cdx:device:deviceType``), manufacturer from ``manufacturer`` or ``supplier``, model from
``name``, revision from ``version``, required unless ``scope`` is ``optional``. Components of type
``firmware`` with a SHA-256 hash become firmware regions (``provcheck:region:address``, ``size``
and ``path`` properties bind them).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from verifier.declared.device_model import (
    DeclaredComponent,
    DeclaredRegion,
    DeviceManifest,
    check_declared_regions,
    quantity,
    serial_rule,
)
from verifier.declared.fields import HEX64, FieldReader
from verifier.declared.parties import DeclaredParty, party_from_cyclonedx, party_json

MAX_NESTING = 16


def _properties(component: Mapping[str, object]) -> dict[str, str]:
    out: dict[str, str] = {}
    properties = component.get("properties") or []
    for prop in properties if isinstance(properties, list) else []:
        if isinstance(prop, Mapping) and isinstance(prop.get("name"), str) and isinstance(prop.get("value"), str):
            out.setdefault(prop["name"], prop["value"])
    return out


def _supplier_of(obj: Mapping[str, object]) -> DeclaredParty | None:
    """Who supplies it: the supplier, else the manufacturer (CycloneDX 1.6), else the 1.5 'manufacture'."""
    for key in ("supplier", "manufacturer", "manufacture"):
        party = party_from_cyclonedx(obj.get(key))
        if party is not None:
            return party
    return None


def _party_name(component: Mapping[str, object]) -> str | None:
    for key in ("manufacturer", "supplier"):
        party = component.get(key)
        if isinstance(party, Mapping) and isinstance(party.get("name"), str):
            return str(party["name"])
    author = component.get("author")
    return author if isinstance(author, str) else None


def _text(obj: Mapping[str, object], key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) else None


def _offset(props: Mapping[str, str], key: str, label: str, f: FieldReader) -> int | None:
    """An address or size property: absent is unbound; anything but a non-negative integer is bad input.

    (Ignoring an unreadable address would leave the region bound to no address, so a digest read
    anywhere would count for it.)
    """
    text = props.get(key)
    if text is None:
        return None
    try:
        value = int(text, 0)
    except ValueError:
        raise f.error(f"firmware {label!r}: {key} must be an integer, not {text!r}") from None
    if value < 0:
        raise f.error(f"firmware {label!r}: {key} must not be negative")
    return value


def _region(item: Mapping[str, object], props: Mapping[str, str], f: FieldReader) -> DeclaredRegion | None:
    hashes = item.get("hashes") or []
    digest = next(
        (
            h["content"]
            for h in (hashes if isinstance(hashes, list) else [])
            if isinstance(h, Mapping) and h.get("alg") == "SHA-256" and isinstance(h.get("content"), str)
        ),
        None,
    )
    name = _text(item, "name")
    if not (digest and HEX64.fullmatch(digest) and name is not None):
        return None
    return DeclaredRegion(
        name,
        _offset(props, "provcheck:region:address", name, f),
        _offset(props, "provcheck:region:size", name, f),
        digest.lower(),
        props.get("provcheck:region:path"),
    )


def _component(item: Mapping[str, object], props: Mapping[str, str], f: FieldReader) -> DeclaredComponent:
    cls = props.get("cdx:device:function") or props.get("cdx:device:deviceType") or "device"
    label = _text(item, "name") or cls
    raw_quantity = props.get("cdx:device:quantity", "1").strip()
    if not re.fullmatch(r"[0-9]{1,6}", raw_quantity):
        raise f.error(f"component {label!r}: cdx:device:quantity must be a whole number, not {raw_quantity!r}")
    supplier = _supplier_of(item)
    return DeclaredComponent(
        cls,
        _party_name(item),
        _text(item, "name"),
        props.get("cdx:device:serialNumber"),
        _text(item, "version"),
        item.get("scope") != "optional",
        supplier,
        quantity(int(raw_quantity), f, f"component {label!r} cdx:device:quantity"),
        party_json(supplier) if supplier is not None else None,
    )


def manifest_from_cyclonedx(bom: object, *, where: str = "CycloneDX BOM") -> DeviceManifest:
    f = FieldReader(where)
    if not isinstance(bom, Mapping):
        raise f.error("the CycloneDX BOM must be a JSON object")
    metadata = bom.get("metadata")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    top = metadata.get("component")
    top = top if isinstance(top, Mapping) else {}
    top_props = _properties(top)
    manufacturer = _party_name(top)
    maker = metadata.get("manufacturer")
    if manufacturer is None and isinstance(maker, Mapping):
        manufacturer = _text(maker, "name")
    if manufacturer is None:
        manufacturer = _text(top, "group")
    serial_value = top_props.get("cdx:device:serialNumber") or top_props.get("cdx:device:serial")
    serial = serial_rule((serial_value,) if serial_value else (), top_props.get("provcheck:serial:pattern"), f,
                         "provcheck:serial:pattern")
    components: list[DeclaredComponent] = []
    regions: list[DeclaredRegion] = []
    raw_components = bom.get("components") or []
    if not isinstance(raw_components, list):
        raise f.error("'components' must be a list")
    for item in _walk(raw_components):
        props = _properties(item)
        kind = item.get("type")
        if kind == "firmware":
            region = _region(item, props, f)
            if region is not None:
                regions.append(region)
            continue
        if kind != "device" and not any(k.startswith("cdx:device:") for k in props):
            continue
        components.append(_component(item, props, f))
    check_declared_regions(regions, f)
    supplier = _supplier_of(top) or _supplier_of(metadata)
    return DeviceManifest(
        manufacturer=manufacturer,
        model=_text(top, "name"),
        board_revision=_text(top, "version"),
        serial=serial,
        components=tuple(components),
        firmware_regions=tuple(regions),
        supplier=supplier,
        source="cyclonedx",
        supplier_json=party_json(supplier) if supplier is not None else None,
    )


def _walk(components: list[object], depth: int = 0) -> list[Mapping[str, object]]:
    out: list[Mapping[str, object]] = []
    if depth > MAX_NESTING:
        return out
    for item in components:
        if isinstance(item, Mapping):
            out.append(item)
            nested = item.get("components")
            if isinstance(nested, list):
                out.extend(_walk(nested, depth + 1))
    return out
