"""The declared device: parsed from the project's device-manifest predicate or a CycloneDX HBOM.

Accepted inputs (``load_device_manifest``):

- the predicate itself (docs/predicates.md, ``https://provcheck.dev/device-manifest/v1``);
- an in-toto Statement carrying it, or a DSSE envelope / .intoto.jsonl line holding such a
  Statement. Signatures are not checked here: ``attest verify`` and ``intake`` do that;
- a CycloneDX 1.4-1.6 BOM whose components describe hardware (``cdx:device:*`` properties).

From CycloneDX: ``metadata.component`` gives manufacturer (``manufacturer.name``, ``supplier.name``
or ``group``), model (``name``) and board revision (``version``); a ``cdx:device:serialNumber``
property on it gives the serial. Each component of type ``device`` becomes a component: class
from ``cdx:device:function`` (else ``cdx:device:deviceType``), manufacturer from ``manufacturer``
or ``supplier``, model from ``name``, revision from ``version``, required unless ``scope`` is
``optional``. Components of type ``firmware`` with a SHA-256 hash become firmware regions.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hw.profile import RegionSpec
from verifier.errors import BadInputError

DEVICE_MANIFEST_TYPE = "https://provcheck.dev/device-manifest/v1"
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True)
class SerialRule:
    exact: tuple[str, ...] = ()
    pattern: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.exact:
            out["exact"] = list(self.exact)
        if self.pattern is not None:
            out["pattern"] = self.pattern
        return out


@dataclass(frozen=True)
class DeclaredComponent:
    cls: str
    manufacturer: str | None = None
    model: str | None = None
    serial: str | None = None
    revision: str | None = None
    required: bool = True
    supplier: Mapping[str, Any] | None = None
    quantity: int = 1

    def label(self) -> str:
        return " ".join(x for x in (self.cls, self.manufacturer, self.model) if x)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "class": self.cls,
            "manufacturer": self.manufacturer,
            "model": self.model,
            "serial": self.serial,
            "revision": self.revision,
            "required": self.required,
        }
        if self.supplier is not None:
            out["supplier"] = dict(self.supplier)
        if self.quantity != 1:
            out["quantity"] = self.quantity
        return out


@dataclass(frozen=True)
class DeclaredRegion:
    name: str
    address: int | None
    size: int | None
    sha256: str | None
    path: str | None = None
    crc32: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "address": self.address, "size": self.size, "sha256": self.sha256}
        if self.path is not None:
            out["path"] = self.path
        return out


@dataclass(frozen=True)
class DeclaredIdentity:
    ca_pem: str | None = None
    public_key_pem: str | None = None
    fingerprint_sha256: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "ca_pem": self.ca_pem,
            "public_key_pem": self.public_key_pem,
            "fingerprint_sha256": self.fingerprint_sha256,
        }


@dataclass(frozen=True)
class DeviceManifest:
    manufacturer: str | None = None
    model: str | None = None
    board_revision: str | None = None
    serial: SerialRule | None = None
    components: tuple[DeclaredComponent, ...] = ()
    firmware_regions: tuple[DeclaredRegion, ...] = ()
    boot_measurements: Mapping[str, Any] | None = None
    identity: DeclaredIdentity | None = None
    supplier: Mapping[str, Any] | None = None
    source: str = "predicate"

    def region_specs(self) -> list[RegionSpec]:
        """What ``hw.reader.read_device`` should measure for this manifest."""
        return [RegionSpec(r.name, r.address, r.size, r.path) for r in self.firmware_regions]

    def to_predicate(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key in ("manufacturer", "model", "board_revision"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.serial is not None:
            out["serial"] = self.serial.to_json()
        out["components"] = [c.to_json() for c in self.components]
        out["firmware_regions"] = [r.to_json() for r in self.firmware_regions]
        if self.boot_measurements is not None:
            out["boot_measurements"] = dict(self.boot_measurements)
        if self.identity is not None:
            out["identity"] = self.identity.to_json()
        if self.supplier is not None:
            out["supplier"] = dict(self.supplier)
        return out


# --- loading ----------------------------------------------------------------------------------------------


def load_device_manifest(path: Path) -> DeviceManifest:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise BadInputError(f"cannot read device manifest {path}: {exc.strerror}") from exc
    if size > MAX_MANIFEST_BYTES:
        raise BadInputError(f"device manifest {path} is larger than {MAX_MANIFEST_BYTES} bytes")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(f"cannot read device manifest {path}: {exc}") from exc
    try:
        data = json.loads(text)
    except RecursionError as exc:
        raise BadInputError(f"device manifest {path} is nested too deeply") from exc
    except ValueError:  # JSONDecodeError, or an integer past Python's digit limit
        # An .intoto.jsonl file: the first line that parses and carries a device manifest.
        data = _first_jsonl_manifest(text, path)

    return manifest_from_document(data, where=str(path))


def _first_jsonl_manifest(text: str, path: Path) -> Any:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            candidate = json.loads(line)
        except RecursionError:
            raise BadInputError(f"device manifest {path} is nested too deeply at line {number}") from None
        except ValueError as exc:  # JSONDecodeError, or an integer past Python's digit limit
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "an integer with too many digits"
            raise BadInputError(f"device manifest {path} is not valid JSON: {reason} at line {number}") from None
        if _find_predicate(candidate) is not None:
            return candidate
    raise BadInputError(f"device manifest {path} holds no device-manifest statement")


def manifest_from_document(data: Any, where: str = "device manifest") -> DeviceManifest:
    if isinstance(data, Mapping) and data.get("bomFormat") == "CycloneDX":
        return manifest_from_cyclonedx(data, where=where)
    predicate = _find_predicate(data)
    if predicate is None:
        raise BadInputError(
            f"{where}: not a device manifest (expected the {DEVICE_MANIFEST_TYPE} predicate, a Statement or DSSE "
            "envelope carrying it, or a CycloneDX BOM)"
        )
    kind, body = predicate
    if kind == "cyclonedx":
        return manifest_from_cyclonedx(body, where=where)
    return manifest_from_predicate(body, where=where, source=kind)


def _find_predicate(data: Any) -> tuple[str, Any] | None:
    if not isinstance(data, Mapping):
        return None
    if "payload" in data and "payloadType" in data:
        try:
            inner = json.loads(base64.b64decode(str(data["payload"]), validate=True))
        except (ValueError, json.JSONDecodeError):
            return None
        found = _find_predicate(inner)
        return ("dsse", found[1]) if found and found[0] != "cyclonedx" else found
    if "dsseEnvelope" in data:
        return _find_predicate(data["dsseEnvelope"])
    if "predicateType" in data:
        ptype = str(data.get("predicateType"))
        if ptype == DEVICE_MANIFEST_TYPE:
            return "statement", data.get("predicate")
        if ptype.startswith("https://cyclonedx.org/bom"):
            return "cyclonedx", data.get("predicate")
        return None
    if any(key in data for key in ("manufacturer", "model", "components", "firmware_regions", "serial")):
        return "predicate", data
    return None


class _Fields:
    def __init__(self, where: str) -> None:
        self.where = where

    def error(self, what: str) -> BadInputError:
        return BadInputError(f"{self.where}: {what}")

    def text(self, obj: Mapping[str, Any], key: str, name: str | None = None) -> str | None:
        value = obj.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.error(f"'{name or key}' must be a string")
        return value

    def integer(self, obj: Mapping[str, Any], key: str, name: str) -> int | None:
        value = obj.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.error(f"'{name}' must be a non-negative integer")
        return value


def manifest_from_predicate(
    data: Any, *, where: str = "device manifest", source: str = "predicate"
) -> DeviceManifest:
    f = _Fields(where)
    if not isinstance(data, Mapping):
        raise f.error("the device-manifest predicate must be a JSON object")
    serial = None
    if data.get("serial") is not None:
        raw = data["serial"]
        if isinstance(raw, str):
            raw = {"exact": [raw]}
        if not isinstance(raw, Mapping):
            raise f.error("'serial' must be an object with 'exact' and/or 'pattern'")
        exact = raw.get("exact") or []
        if isinstance(exact, str):
            exact = [exact]
        if not isinstance(exact, list) or not all(isinstance(s, str) for s in exact):
            raise f.error("'serial.exact' must be a list of strings")
        pattern = f.text(raw, "pattern", "serial.pattern")
        if pattern is not None:
            try:
                re.compile(pattern)
            # OverflowError: a repetition count beyond what re accepts ({9999...}); found by fuzzing.
            except (re.error, OverflowError, RecursionError) as exc:
                raise f.error(f"'serial.pattern' is not a valid regular expression: {exc}") from exc
        if exact or pattern is not None:
            serial = SerialRule(tuple(exact), pattern)
    components = []
    raw_components = data.get("components") or []
    if not isinstance(raw_components, list):
        raise f.error("'components' must be a list")
    for i, item in enumerate(raw_components):
        if not isinstance(item, Mapping):
            raise f.error(f"'components[{i}]' must be an object")
        cls = f.text(item, "class", f"components[{i}].class")
        if not cls:
            raise f.error(f"'components[{i}].class' is required")
        required = item.get("required", True)
        if not isinstance(required, bool):
            raise f.error(f"'components[{i}].required' must be true or false")
        supplier = item.get("supplier")
        quantity = f.integer(item, "quantity", f"components[{i}].quantity")
        components.append(
            DeclaredComponent(
                cls,
                f.text(item, "manufacturer", f"components[{i}].manufacturer"),
                f.text(item, "model", f"components[{i}].model"),
                f.text(item, "serial", f"components[{i}].serial"),
                f.text(item, "revision", f"components[{i}].revision"),
                required,
                dict(supplier) if isinstance(supplier, Mapping) else None,
                _quantity(quantity if quantity is not None else 1, f, f"components[{i}].quantity"),
            )
        )
    regions = []
    raw_regions = data.get("firmware_regions") or []
    if not isinstance(raw_regions, list):
        raise f.error("'firmware_regions' must be a list")
    for i, item in enumerate(raw_regions):
        if not isinstance(item, Mapping):
            raise f.error(f"'firmware_regions[{i}]' must be an object")
        name = f.text(item, "name", f"firmware_regions[{i}].name")
        if not name:
            raise f.error(f"'firmware_regions[{i}].name' is required")
        digest = f.text(item, "sha256", f"firmware_regions[{i}].sha256")
        if digest is not None and not _HEX64.fullmatch(digest):
            raise f.error(f"'firmware_regions[{i}].sha256' must be 64 hex digits")
        crc = f.text(item, "crc32", f"firmware_regions[{i}].crc32")
        regions.append(
            DeclaredRegion(
                name,
                f.integer(item, "address", f"firmware_regions[{i}].address"),
                f.integer(item, "size", f"firmware_regions[{i}].size"),
                digest.lower() if digest else None,
                f.text(item, "path", f"firmware_regions[{i}].path"),
                crc.lower() if crc else None,
            )
        )
    _check_declared_regions(regions, f)
    identity = None
    raw_identity = data.get("identity")
    if raw_identity is not None:
        if not isinstance(raw_identity, Mapping):
            raise f.error("'identity' must be an object")
        fingerprint = f.text(raw_identity, "fingerprint_sha256", "identity.fingerprint_sha256")
        if fingerprint is not None and not _HEX64.fullmatch(fingerprint.replace(":", "")):
            raise f.error("'identity.fingerprint_sha256' must be 64 hex digits")
        identity = DeclaredIdentity(
            f.text(raw_identity, "ca_pem", "identity.ca_pem"),
            f.text(raw_identity, "public_key_pem", "identity.public_key_pem"),
            fingerprint.replace(":", "").lower() if fingerprint else None,
        )
        if identity == DeclaredIdentity():
            identity = None
    boot = data.get("boot_measurements")
    if boot is not None and not isinstance(boot, Mapping):
        raise f.error("'boot_measurements' must be an object")
    supplier = data.get("supplier")
    return DeviceManifest(
        manufacturer=f.text(data, "manufacturer"),
        model=f.text(data, "model"),
        board_revision=f.text(data, "board_revision"),
        serial=serial,
        components=tuple(components),
        firmware_regions=tuple(regions),
        boot_measurements=dict(boot) if boot is not None else None,
        identity=identity,
        supplier=dict(supplier) if isinstance(supplier, Mapping) else None,
        source=source,
    )


MAX_QUANTITY = 4096


def _quantity(value: int, f: _Fields, name: str) -> int:
    """How many of a component the device has: at least one (a part not fitted is not declared), and bounded."""
    if not 1 <= value <= MAX_QUANTITY:
        raise f.error(f"'{name}' must be between 1 and {MAX_QUANTITY}, not {value}")
    return value


def _check_declared_regions(regions: list[DeclaredRegion], f: _Fields) -> None:
    """A region is declared once and covers at least one byte; anything else cannot be bound to a measurement.

    Two declarations of one name would let either digest "match"; a 0-byte region has a digest every
    empty read gives (sha256 of nothing), so it proves nothing about the flash.
    """
    seen: set[str] = set()
    for region in regions:
        if region.name in seen:
            raise f.error(f"firmware region {region.name!r} is declared twice")
        seen.add(region.name)
        if region.size == 0:
            raise f.error(f"firmware region {region.name!r} has size 0: it would prove nothing")


# --- CycloneDX --------------------------------------------------------------------------------------------


def _properties(component: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for prop in component.get("properties") or []:
        if isinstance(prop, Mapping) and isinstance(prop.get("name"), str) and isinstance(prop.get("value"), str):
            out.setdefault(prop["name"], prop["value"])
    return out


def _party(entity: Any) -> dict[str, str] | None:
    """A CycloneDX organizationalEntity as the predicate's supplier: its name and country, nothing invented."""
    if not isinstance(entity, Mapping) or not isinstance(entity.get("name"), str) or not entity["name"].strip():
        return None
    out = {"name": entity["name"].strip()}
    country = entity.get("country")
    address = entity.get("address")
    if not isinstance(country, str) and isinstance(address, Mapping):
        country = address.get("country")
    if isinstance(country, str) and country.strip():
        out["country"] = country.strip()
    return out


def _supplier_of(obj: Mapping[str, Any]) -> dict[str, str] | None:
    """Who supplies it: the supplier, else the manufacturer (CycloneDX 1.6), else the 1.5 'manufacture'."""
    for key in ("supplier", "manufacturer", "manufacture"):
        party = _party(obj.get(key))
        if party is not None:
            return party
    return None


def _party_name(component: Mapping[str, Any]) -> str | None:
    for key in ("manufacturer", "supplier"):
        party = component.get(key)
        if isinstance(party, Mapping) and isinstance(party.get("name"), str):
            return str(party["name"])
    author = component.get("author")
    return author if isinstance(author, str) else None


def manifest_from_cyclonedx(bom: Any, *, where: str = "CycloneDX BOM") -> DeviceManifest:
    f = _Fields(where)
    if not isinstance(bom, Mapping):
        raise f.error("the CycloneDX BOM must be a JSON object")
    metadata = bom.get("metadata") if isinstance(bom.get("metadata"), Mapping) else {}
    assert isinstance(metadata, Mapping)
    top = metadata.get("component") if isinstance(metadata.get("component"), Mapping) else {}
    assert isinstance(top, Mapping)
    top_props = _properties(top)
    manufacturer = _party_name(top)
    if manufacturer is None and isinstance(metadata.get("manufacturer"), Mapping):
        name = metadata["manufacturer"].get("name")
        manufacturer = name if isinstance(name, str) else None
    if manufacturer is None and isinstance(top.get("group"), str):
        manufacturer = top["group"]
    serial_value = top_props.get("cdx:device:serialNumber") or top_props.get("cdx:device:serial")
    serial_pattern = top_props.get("provcheck:serial:pattern")
    serial = None
    if serial_value or serial_pattern:
        serial = SerialRule((serial_value,) if serial_value else (), serial_pattern)
    components: list[DeclaredComponent] = []
    regions: list[DeclaredRegion] = []
    raw_components = bom.get("components") or []
    if not isinstance(raw_components, list):
        raise f.error("'components' must be a list")
    for item in _walk(raw_components):
        props = _properties(item)
        kind = item.get("type")
        if kind == "firmware":
            digest = next(
                (
                    h.get("content")
                    for h in item.get("hashes") or []
                    if isinstance(h, Mapping) and h.get("alg") == "SHA-256" and isinstance(h.get("content"), str)
                ),
                None,
            )
            if digest and _HEX64.fullmatch(digest) and isinstance(item.get("name"), str):
                address = props.get("provcheck:region:address")
                size = props.get("provcheck:region:size")
                regions.append(
                    DeclaredRegion(
                        item["name"],
                        int(address, 0) if address and _is_int(address) else None,
                        int(size, 0) if size and _is_int(size) else None,
                        digest.lower(),
                        props.get("provcheck:region:path"),
                    )
                )
            continue
        if kind != "device" and not any(k.startswith("cdx:device:") for k in props):
            continue
        cls = props.get("cdx:device:function") or props.get("cdx:device:deviceType") or "device"
        label = item.get("name") if isinstance(item.get("name"), str) else cls
        raw_quantity = props.get("cdx:device:quantity", "1").strip()
        if not re.fullmatch(r"[0-9]{1,6}", raw_quantity):
            raise f.error(f"component {label!r}: cdx:device:quantity must be a whole number, not {raw_quantity!r}")
        components.append(
            DeclaredComponent(
                cls,
                _party_name(item),
                item.get("name") if isinstance(item.get("name"), str) else None,
                props.get("cdx:device:serialNumber"),
                item.get("version") if isinstance(item.get("version"), str) else None,
                item.get("scope") != "optional",
                _supplier_of(item),
                _quantity(int(raw_quantity), f, f"component {label!r} cdx:device:quantity"),
            )
        )
    _check_declared_regions(regions, f)
    return DeviceManifest(
        manufacturer=manufacturer,
        model=top.get("name") if isinstance(top.get("name"), str) else None,
        board_revision=top.get("version") if isinstance(top.get("version"), str) else None,
        serial=serial,
        components=tuple(components),
        firmware_regions=tuple(regions),
        supplier=_supplier_of(top) or _supplier_of(metadata),
        source="cyclonedx",
    )


def _walk(components: list[Any], depth: int = 0) -> list[Mapping[str, Any]]:
    out: list[Mapping[str, Any]] = []
    if depth > 16:
        return out
    for item in components:
        if isinstance(item, Mapping):
            out.append(item)
            nested = item.get("components")
            if isinstance(nested, list):
                out.extend(_walk(nested, depth + 1))
    return out


def _is_int(text: str) -> bool:
    try:
        int(text, 0)
    except ValueError:
        return False
    return True
