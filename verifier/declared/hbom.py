"""A CycloneDX 1.4-1.6 HBOM as the declared device (see ``verifier.declared.device_manifest``), read with
cyclonedx-python-lib.

``metadata.component`` gives manufacturer (``manufacturer.name``, ``supplier.name`` or ``group``),
model (``name``) and board revision (``version``); a ``cdx:device:serialNumber`` property on it
gives the serial, ``provcheck:serial:pattern`` a serial pattern. Each component of type ``device``
(or with ``cdx:device:*`` properties) becomes a component: class from ``cdx:device:function``
(else ``cdx:device:deviceType``), manufacturer from ``manufacturer`` or ``supplier``, model from
``name``, revision from ``version``, required unless ``scope`` is ``optional``. Components of type
``firmware`` with a SHA-256 hash become firmware regions (``provcheck:region:address``, ``size``
and ``path`` properties bind them).

One reading, in three steps, each on exactly what the one before accepted:

1. the strict JSON reader (``attestations.strict_json``, run by whoever read the bytes: a key written
   twice, keys equal up to case, lone surrogates and unsafe integers never get here);
2. the JSON schema of the BOM's ``specVersion`` (1.4, 1.5 or 1.6), with the library's validator
   (``cyclonedx.validation.json``): anything the schema refuses is bad input naming the JSON path;
3. the library's model (py-serializable), one component at a time in document order: the library keeps
   components, properties and hashes in sorted sets, which lose the order and merge equal entries.

What other CycloneDX tools would read differently is refused rather than resolved: two identical
device or firmware entries (a library-based tool sees one part, a list walker two; a count is
``cdx:device:quantity``), and a property provcheck reads, or a firmware's SHA-256, written twice with
different values. Nothing of the library's model leaves this module: callers get the frozen
declarations of ``verifier.declared.device_model`` and ``BomParty``.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from itertools import islice
from typing import TYPE_CHECKING, Protocol, TypeVar

from verifier.declared.device_model import (
    DeclaredComponent,
    DeclaredRegion,
    DeviceManifest,
    check_declared_regions,
    quantity,
    serial_rule,
)
from verifier.declared.fields import HEX64, FieldReader
from verifier.declared.parties import DeclaredParty, party_json

if TYPE_CHECKING:
    from cyclonedx.model.bom import BomMetaData
    from cyclonedx.model.component import Component
    from cyclonedx.model.contact import OrganizationalEntity

#: The CycloneDX versions read. 1.4 too: the official HBOM example (and much of what vendors ship) is 1.4, and
#: everything provcheck reads from an HBOM but ``manufacturer`` (1.6) is in the 1.4 schema.
SPEC_VERSIONS = ("1.4", "1.5", "1.6")
MAX_NESTING = 16
#: The properties provcheck judges by: each may be written once per component (or with one value).
READ_PROPERTIES = frozenset({
    "cdx:device:function", "cdx:device:deviceType", "cdx:device:quantity", "cdx:device:serialNumber",
    "cdx:device:serial", "provcheck:serial:pattern", "provcheck:region:address", "provcheck:region:size",
    "provcheck:region:path",
})
#: A schema message quotes the offending value: one line, and cut, however large the value.
MAX_MESSAGE = 300
MAX_QUOTE = 80
#: Schema errors looked at to choose the one reported (an invalid BOM can have one per component).
MAX_ERRORS = 100

_T = TypeVar("_T")


class SchemaValidator(Protocol):
    """What is used of a jsonschema validator (jsonschema has no type information)."""

    def iter_errors(self, instance: object) -> Iterator[SchemaError]: ...


class SchemaError(Protocol):
    """What is read of a jsonschema ValidationError (the library hands them over as they are)."""

    message: str
    instance: object
    json_path: str
    absolute_path: Sequence[object]
    context: list[SchemaError]


@dataclass(frozen=True)
class BomParty:
    """An organisation a CycloneDX BOM names: its name and country as written, its role, and where it is named."""

    name: str
    country: str | None
    role: str  # vendor | supplier | manufacturer
    source: str
    component: str | None = None


# --- reading: schema, then the library ------------------------------------------------------------------


@cache
def _validator(version: str) -> SchemaValidator:
    """The library's validator for ``version``: its schema and the registry of the schemas that one refers to,
    run by jsonschema with two keywords made linear.

    As the library runs it, a hostile BOM can hold it for hours (measured on this machine, idle):
    ``uniqueItems`` compares every pair of items (4,000 one-line components, 147 KB: 35 s CPU), and the
    ``iri-reference`` format goes through rfc3987_syntax's Earley parser (about 1 ms per character: one 4 KB URL,
    4 s). Here ``uniqueItems`` compares canonical JSON texts in a set (the same equality: 1 equals 1.0, never
    true), and ``iri``/``iri-reference`` are not checked: provcheck reads no URL. Every other keyword and format
    (``date-time``, ``idn-email``, patterns) is the library's.
    """
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator
    from jsonschema import FormatChecker, validators  # type: ignore[import-untyped]

    library = JsonStrictValidator(SchemaVersion.from_version(version))._validator
    formats = FormatChecker(formats=[name for name in type(library).FORMAT_CHECKER.checkers
                                     if name not in ("iri", "iri-reference")])
    linear = validators.extend(type(library), {"uniqueItems": _unique_items})
    validator: SchemaValidator = linear(library.schema, registry=library._registry, format_checker=formats)
    return validator


def _canonical(value: object) -> object:
    """A JSON value as JSON schema compares it: 1.0 is 1, key order does not count (true stays true, not 1)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_canonical(item) for item in value]
    if isinstance(value, dict):
        return {key: _canonical(item) for key, item in value.items()}
    return value


def _unique_items(validator: object, unique: object, instance: object, schema: object) -> Iterable[Exception]:
    """JSON schema's ``uniqueItems``, in one pass over canonical texts (jsonschema compares every pair)."""
    from jsonschema.exceptions import ValidationError  # type: ignore[import-untyped]

    if not unique or not isinstance(instance, list):
        return
    seen: set[str] = set()
    for item in instance:
        text = json.dumps(_canonical(item), sort_keys=True, allow_nan=False)
        if text in seen:
            yield ValidationError(f"{instance!r} has non-unique elements")
            return
        seen.add(text)


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


def validate_bom(bom: object, f: FieldReader) -> str:
    """The BOM's ``specVersion`` once the BOM is valid under that version's schema; else bad input naming where."""
    if not isinstance(bom, Mapping):
        raise f.error("the CycloneDX BOM must be a JSON object")
    version = bom.get("specVersion")
    if version is None:
        raise f.error(f"'specVersion' is required (CycloneDX {', '.join(SPEC_VERSIONS)})")
    if version not in SPEC_VERSIONS:
        shown = _one_line(json.dumps(version))[:40]
        raise f.error(f"'specVersion' must be one of {', '.join(SPEC_VERSIONS)}, not {shown}")
    assert isinstance(version, str)
    text = json.dumps(bom, ensure_ascii=False, allow_nan=False)
    try:
        # What the validator reads is the value the strict reader made, written back and read again by json:
        # exactly what the library's own validate_str would see.
        best = _deepest(islice(_validator(version).iter_errors(json.loads(text)), MAX_ERRORS))
        if best is None:
            return version
    except RecursionError:
        raise f.error("the CycloneDX BOM is nested too deeply") from None
    raise f.error(f"not a valid CycloneDX {version} BOM: {best.json_path}: {_schema_message(best)}")


def _schema_message(error: SchemaError) -> str:
    """jsonschema's message, with the value it quotes first (the whole list, for uniqueItems) cut short."""
    message = error.message
    quoted = repr(error.instance)
    if len(quoted) > MAX_QUOTE and message.startswith(quoted):
        message = quoted[: MAX_QUOTE - 3] + "..." + message[len(quoted):]
    return _one_line(message)


def _deepest(errors: Iterable[SchemaError]) -> SchemaError | None:
    """The error that names the deepest place (jsonschema's own choice, best_match, costs importing jsonschema
    at module level); inside a oneOf/anyOf, the alternative that got furthest."""
    best: SchemaError | None = None
    for error in errors:
        while error.context:
            error = max(error.context, key=lambda sub: len(sub.absolute_path))
        if best is None or len(error.absolute_path) > len(best.absolute_path):
            best = error
    return best


def _from_json(cls: type[_T], data: Mapping[str, object], f: FieldReader, where: str) -> _T:
    """The library's object for one schema-valid JSON object; whatever the library cannot read is bad input."""
    try:
        with warnings.catch_warnings():
            # The library warns of fields 1.6 deprecates (author, metadata.manufacture): still read, as declared.
            warnings.simplefilter("ignore")
            made = cls.from_json(dict(data))  # type: ignore[attr-defined]  # added by py-serializable at run time
    except RecursionError:
        raise f.error(f"'{where}' is nested too deeply") from None
    except Exception as exc:  # py-serializable and the model raise many types (ValueError, KeyError, ...)
        raise f.error(f"'{where}': cyclonedx-python-lib cannot read it: {_one_line(str(exc))}") from None
    if not isinstance(made, cls):
        raise f.error(f"'{where}': cyclonedx-python-lib cannot read it")
    return made


@dataclass(frozen=True)
class _Read:
    """The BOM as the library read it: its metadata and every component, in document order, with its JSON path."""

    metadata: BomMetaData | None
    components: tuple[tuple[str, Component], ...]


def _read(bom: object, f: FieldReader) -> _Read:
    from cyclonedx.model.bom import BomMetaData
    from cyclonedx.model.component import Component

    validate_bom(bom, f)
    assert isinstance(bom, Mapping)
    raw_metadata = bom.get("metadata")
    metadata = None
    if isinstance(raw_metadata, Mapping):
        metadata = _from_json(BomMetaData, raw_metadata, f, "metadata")
    out: list[tuple[str, Component]] = []

    def walk(items: object, where: str, depth: int) -> None:
        if not isinstance(items, list):  # the schema makes it a list; nothing else is walked
            return
        if depth > MAX_NESTING:
            raise f.error(f"'{where}' nests components deeper than {MAX_NESTING} levels")
        for index, item in enumerate(items):
            path = f"{where}[{index}]"
            if not isinstance(item, Mapping):
                continue
            own = {key: value for key, value in item.items() if key != "components"}
            out.append((path, _from_json(Component, own, f, path)))
            walk(item.get("components"), f"{path}.components", depth + 1)

    walk(bom.get("components"), "components", 0)
    return _Read(metadata, tuple(out))


# --- what the library's objects say ------------------------------------------------------------------------


def _properties(component: Component, f: FieldReader, where: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for prop in component.properties:
        if prop.value is None:
            continue
        if prop.name in READ_PROPERTIES and out.get(prop.name, prop.value) != prop.value:
            raise f.error(f"'{where}' writes property {prop.name} twice with different values")
        out.setdefault(prop.name, prop.value)
    return out


def _entity(entity: OrganizationalEntity | None) -> DeclaredParty | None:
    """A CycloneDX organizationalEntity: its name and country, nothing invented; None if it names no one."""
    if entity is None or entity.name is None or not entity.name.strip():
        return None
    country = entity.address.country if entity.address is not None else None
    return DeclaredParty(entity.name.strip(), country.strip() if country and country.strip() else None)


def _supplier_of(*entities: OrganizationalEntity | None) -> DeclaredParty | None:
    """Who supplies it: the first that names someone (supplier, then manufacturer, then 1.5's 'manufacture')."""
    for entity in entities:
        party = _entity(entity)
        if party is not None:
            return party
    return None


def _party_name(component: Component) -> str | None:
    for entity in (component.manufacturer, component.supplier):
        if entity is not None and entity.name is not None:
            return entity.name
    return component.author


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


def _region(item: Component, props: Mapping[str, str], f: FieldReader, where: str) -> DeclaredRegion | None:
    from cyclonedx.model import HashAlgorithm

    digests = {h.content.lower() for h in item.hashes if h.alg is HashAlgorithm.SHA_256}
    if not digests:
        return None
    if len(digests) > 1:
        raise f.error(f"'{where}' ({item.name!r}) declares {len(digests)} different SHA-256 hashes")
    (digest,) = digests
    if not HEX64.fullmatch(digest):
        raise f.error(f"'{where}' ({item.name!r}): its SHA-256 hash must be 64 hex digits")
    return DeclaredRegion(
        item.name,
        _offset(props, "provcheck:region:address", item.name, f),
        _offset(props, "provcheck:region:size", item.name, f),
        digest,
        props.get("provcheck:region:path"),
    )


def _component(item: Component, props: Mapping[str, str], f: FieldReader) -> DeclaredComponent:
    from cyclonedx.model.component import ComponentScope

    cls = props.get("cdx:device:function") or props.get("cdx:device:deviceType") or "device"
    label = item.name or cls
    raw_quantity = props.get("cdx:device:quantity", "1").strip()
    if not re.fullmatch(r"[0-9]{1,6}", raw_quantity):
        raise f.error(f"component {label!r}: cdx:device:quantity must be a whole number, not {raw_quantity!r}")
    supplier = _supplier_of(item.supplier, item.manufacturer)
    return DeclaredComponent(
        cls,
        _party_name(item),
        item.name,
        props.get("cdx:device:serialNumber"),
        item.version,
        item.scope is not ComponentScope.OPTIONAL,
        supplier,
        quantity(int(raw_quantity), f, f"component {label!r} cdx:device:quantity"),
        party_json(supplier) if supplier is not None else None,
    )


def _no_repeats(declared: Iterable[tuple[str, Component]], f: FieldReader) -> None:
    """Two entries of one ``components`` list that the library reads as one (the schema compares JSON, so
    properties in another order make them differ there): a list walker counts two parts, the library one."""
    seen: dict[tuple[str, Component], str] = {}
    for where, item in declared:
        first = seen.setdefault((where.rpartition("[")[0], item), where)
        if first != where:
            raise f.error(
                f"'{where}' repeats '{first}' exactly: CycloneDX tools read the two as one part; "
                "declare how many with cdx:device:quantity"
            )


def manifest_from_cyclonedx(bom: object, *, where: str = "CycloneDX BOM") -> DeviceManifest:
    """The declared device of an HBOM (already read by the strict JSON reader); bad input names the JSON path."""
    from cyclonedx.model.component import ComponentType

    f = FieldReader(where)
    read = _read(bom, f)
    metadata = read.metadata
    top = metadata.component if metadata is not None else None
    top_props = _properties(top, f, "metadata.component") if top is not None else {}
    manufacturer = _party_name(top) if top is not None else None
    maker = metadata.manufacturer if metadata is not None else None
    if manufacturer is None and maker is not None:
        manufacturer = maker.name
    if manufacturer is None and top is not None:
        manufacturer = top.group
    serial_value = top_props.get("cdx:device:serialNumber") or top_props.get("cdx:device:serial")
    serial = serial_rule((serial_value,) if serial_value else (), top_props.get("provcheck:serial:pattern"), f,
                         "provcheck:serial:pattern")
    components: list[DeclaredComponent] = []
    regions: list[DeclaredRegion] = []
    declared: list[tuple[str, Component]] = []
    for path, item in read.components:
        props = _properties(item, f, path)
        if item.type is ComponentType.FIRMWARE:
            region = _region(item, props, f, path)
            if region is not None:
                regions.append(region)
                declared.append((path, item))
            continue
        if item.type is not ComponentType.DEVICE and not any(k.startswith("cdx:device:") for k in props):
            continue
        components.append(_component(item, props, f))
        declared.append((path, item))
    _no_repeats(declared, f)
    check_declared_regions(regions, f)
    supplier = None
    if top is not None:
        supplier = _supplier_of(top.supplier, top.manufacturer)
    if supplier is None and metadata is not None:
        supplier = _supplier_of(metadata.supplier, metadata.manufacturer, metadata.manufacture)
    return DeviceManifest(
        manufacturer=manufacturer,
        model=top.name if top is not None else None,
        board_revision=top.version if top is not None else None,
        serial=serial,
        components=tuple(components),
        firmware_regions=tuple(regions),
        supplier=supplier,
        source="cyclonedx",
        supplier_json=party_json(supplier) if supplier is not None else None,
    )


# --- the organisations a BOM names (the supplier rules) ----------------------------------------------------


def _bom_party(entity: OrganizationalEntity | None, role: str, source: str, component: str | None) -> list[BomParty]:
    party = _entity(entity)
    return [BomParty(party.name, party.country, role, source, component)] if party is not None else []


def parties_from_bom(bom: object, *, where: str = "CycloneDX BOM") -> tuple[BomParty, ...]:
    """The organisations a CycloneDX SBOM or HBOM names: metadata supplier/manufacturer and each component's.

    A component names its supplier and its manufacturer (once when they are the same name), else its
    publisher (a name alone).
    """
    f = FieldReader(where)
    read = _read(bom, f)
    out: list[BomParty] = []
    metadata = read.metadata
    if metadata is not None:
        for key, entity in (("supplier", metadata.supplier), ("manufacturer", metadata.manufacturer),
                            ("manufacture", metadata.manufacture)):
            out += _bom_party(entity, "vendor", f"SBOM metadata {key}", None)
        top = metadata.component
        if top is not None:
            for key, entity in (("supplier", top.supplier), ("manufacturer", top.manufacturer)):
                out += _bom_party(entity, "vendor", f"SBOM metadata component {key}", None)
    for _, item in read.components:
        label = (item.name or "").strip() or (item.bom_ref.value or "").strip() or "unnamed component"
        source = f"SBOM component {label}"
        supplier = _bom_party(item.supplier, "supplier", source, label)
        maker = _bom_party(item.manufacturer, "manufacturer", source, label)
        if supplier and maker and " ".join(supplier[0].name.casefold().split()) == " ".join(
            maker[0].name.casefold().split()
        ):
            maker = []
        out += supplier + maker
        if not supplier and not maker and item.publisher and item.publisher.strip():
            out.append(BomParty(item.publisher.strip(), None, "supplier", source, label))
    return tuple(out)
