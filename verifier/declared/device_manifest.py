"""The declared device: parsed from the project's device-manifest predicate or a CycloneDX HBOM.

Accepted inputs (``load_device_manifest``):

- the predicate itself (docs/predicates.md, ``https://provcheck.dev/device-manifest/v1``);
- an in-toto Statement carrying it, or a DSSE envelope / .intoto.jsonl line holding such a
  Statement. Signatures are not checked here: ``attest verify`` and ``intake`` do that;
- a CycloneDX 1.4-1.6 BOM whose components describe hardware (``verifier.declared.hbom``).

Whatever the input, the result is one ``DeviceManifest`` (``verifier.declared.device_model``), parsed
here once: the device judges, the measured-boot judge (its ``boot``), the supplier rules (its parties)
and the intake report's component diff all read that object, never the JSON.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path

from attestations import strict_json
from verifier.declared.boot import BootReference
from verifier.declared.device_model import (
    DeclaredComponent,
    DeclaredIdentity,
    DeclaredMeasurement,
    DeclaredRegion,
    DeviceManifest,
    SerialRule,
    check_declared_regions,
    quantity,
    serial_rule,
)
from verifier.declared.fields import HEX64, FieldReader, JsonValue
from verifier.declared.hbom import manifest_from_cyclonedx
from verifier.declared.parties import DeclaredParty, parties_from_json, party_from_json
from verifier.errors import BadInputError

__all__ = [
    "DEVICE_MANIFEST_TYPE",
    "BootReference",
    "DeclaredComponent",
    "DeclaredIdentity",
    "DeclaredParty",
    "DeclaredRegion",
    "DeviceManifest",
    "SerialRule",
    "load_device_manifest",
    "manifest_from_cyclonedx",
    "manifest_from_document",
    "manifest_from_predicate",
]

DEVICE_MANIFEST_TYPE = "https://provcheck.dev/device-manifest/v1"
MAX_MANIFEST_BYTES = 16 * 1024 * 1024


# --- loading ----------------------------------------------------------------------------------------------


def _loads(data: str | bytes, what: str) -> object:
    """The strict JSON reader (attestations.strict_json): a key written twice (or twice up to case), a lone
    surrogate or an integer beyond 2**53 is read one way here and maybe another by the tool that made or signed the
    manifest, so it is refused rather than resolved. Not JSON at all is ``JsonSyntaxError``, for the caller."""
    try:
        return strict_json.loads(data, what)
    except strict_json.AmbiguousJsonError as exc:
        raise BadInputError(str(exc)) from None


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
        data = _loads(text, f"device manifest {path}")
    except strict_json.JsonSyntaxError:
        # An .intoto.jsonl file: the first line that parses and carries a device manifest.
        data = _first_jsonl_manifest(text, path)

    return manifest_from_document(data, where=str(path))


def _first_jsonl_manifest(text: str, path: Path) -> object:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            candidate = _loads(line, f"device manifest {path} line {number}")
        except strict_json.JsonSyntaxError as exc:
            raise BadInputError(str(exc)) from None
        if _find_predicate(candidate) is not None:
            return candidate
    raise BadInputError(f"device manifest {path} holds no device-manifest statement")


def manifest_from_document(data: object, where: str = "device manifest") -> DeviceManifest:
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


def _find_predicate(data: object) -> tuple[str, object] | None:
    if not isinstance(data, Mapping):
        return None
    if "payload" in data and "payloadType" in data:
        try:
            inner = _loads(base64.b64decode(str(data["payload"]), validate=True), "the envelope's payload")
        except (ValueError, strict_json.JsonSyntaxError):  # not base64, or not JSON: no manifest here
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
    if any(key in data for key in ("manufacturer", "model", "components", "firmware_regions", "serial",
                                   "spdm_measurements")):
        return "predicate", data
    return None


# --- the predicate -----------------------------------------------------------------------------------------


def manifest_from_predicate(
    data: object, *, where: str = "device manifest", source: str = "predicate"
) -> DeviceManifest:
    """The device-manifest predicate (docs/predicates.md) as a ``DeviceManifest``; bad input names the field."""
    f = FieldReader(where)
    if not isinstance(data, Mapping):
        raise f.error("the device-manifest predicate must be a JSON object")
    boot = data.get("boot_measurements")
    if boot is not None and not isinstance(boot, Mapping):
        raise f.error("'boot_measurements' must be an object")
    supplier = data.get("supplier")
    return DeviceManifest(
        manufacturer=f.text(data, "manufacturer"),
        model=f.text(data, "model"),
        board_revision=f.text(data, "board_revision"),
        serial=_serial(data, f),
        components=_components(data, f),
        firmware_regions=_regions(data, f),
        boot=_boot(boot, f),
        identity=_identity(data, f),
        supplier=party_from_json(supplier, f, "supplier"),
        subcontractors=parties_from_json(data.get("subcontractors"), f, "subcontractors"),
        source=source,
        spdm_measurements=_spdm_measurements(data, f),
        boot_measurements_json=_as_json(dict(boot)) if boot is not None else None,
        supplier_json=_as_json(dict(supplier)) if isinstance(supplier, Mapping) else None,
    )


MAX_MEASUREMENT_HEX = 2 * 4096


def _spdm_measurements(data: Mapping[str, object], f: FieldReader) -> tuple[DeclaredMeasurement, ...]:
    raw = data.get("spdm_measurements") or []
    if not isinstance(raw, list):
        raise f.error("'spdm_measurements' must be a list")
    out: list[DeclaredMeasurement] = []
    seen: set[int] = set()
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping):
            raise f.error(f"'spdm_measurements[{i}]' must be an object")
        index = f.integer(item, "index", f"spdm_measurements[{i}].index")
        if index is None or not 1 <= index <= 254:
            raise f.error(f"'spdm_measurements[{i}].index' must be an integer from 1 to 254")
        if index in seen:
            raise f.error(f"'spdm_measurements[{i}].index' {index} is declared twice")
        seen.add(index)
        value = f.text(item, "value", f"spdm_measurements[{i}].value")
        if value is None or not value or len(value) > MAX_MEASUREMENT_HEX or len(value) % 2 or not all(
            c in "0123456789abcdefABCDEF" for c in value
        ):
            raise f.error(f"'spdm_measurements[{i}].value' must be hex digits (whole bytes, at most 4096)")
        out.append(DeclaredMeasurement(index, value.lower()))
    return tuple(out)


def _as_json(value: dict[str, object]) -> dict[str, JsonValue]:
    """A part of the parsed JSON kept as written (it came from ``json.loads``, so it is JSON)."""
    return value  # type: ignore[return-value]


def _boot(boot: Mapping[str, object] | None, f: FieldReader) -> BootReference:
    if boot is None:
        return BootReference()
    try:
        return BootReference.from_json(boot)
    except BadInputError as exc:
        raise f.error(str(exc)) from None


def _serial(data: Mapping[str, object], f: FieldReader) -> SerialRule | None:
    raw = data.get("serial")
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = {"exact": [raw]}
    if not isinstance(raw, Mapping):
        raise f.error("'serial' must be an object with 'exact' and/or 'pattern'")
    exact = raw.get("exact") or []
    if isinstance(exact, str):
        exact = [exact]
    if not isinstance(exact, list) or not all(isinstance(s, str) for s in exact):
        raise f.error("'serial.exact' must be a list of strings")
    return serial_rule(tuple(exact), f.text(raw, "pattern", "serial.pattern"), f, "serial.pattern")


def _components(data: Mapping[str, object], f: FieldReader) -> tuple[DeclaredComponent, ...]:
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
        count = f.integer(item, "quantity", f"components[{i}].quantity")
        components.append(
            DeclaredComponent(
                cls,
                f.text(item, "manufacturer", f"components[{i}].manufacturer"),
                f.text(item, "model", f"components[{i}].model"),
                f.text(item, "serial", f"components[{i}].serial"),
                f.text(item, "revision", f"components[{i}].revision"),
                required,
                party_from_json(supplier, f, f"components[{i}].supplier"),
                quantity(count if count is not None else 1, f, f"components[{i}].quantity"),
                _as_json(dict(supplier)) if isinstance(supplier, Mapping) else None,
            )
        )
    return tuple(components)


def _regions(data: Mapping[str, object], f: FieldReader) -> tuple[DeclaredRegion, ...]:
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
        if digest is not None and not HEX64.fullmatch(digest):
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
    check_declared_regions(regions, f)
    return tuple(regions)


def _identity(data: Mapping[str, object], f: FieldReader) -> DeclaredIdentity | None:
    raw_identity = data.get("identity")
    if raw_identity is None:
        return None
    if not isinstance(raw_identity, Mapping):
        raise f.error("'identity' must be an object")
    fingerprint = f.text(raw_identity, "fingerprint_sha256", "identity.fingerprint_sha256")
    if fingerprint is not None and not HEX64.fullmatch(fingerprint.replace(":", "")):
        raise f.error("'identity.fingerprint_sha256' must be 64 hex digits")
    identity = DeclaredIdentity(
        f.text(raw_identity, "ca_pem", "identity.ca_pem"),
        f.text(raw_identity, "public_key_pem", "identity.public_key_pem"),
        fingerprint.replace(":", "").lower() if fingerprint else None,
    )
    return None if identity == DeclaredIdentity() else identity
