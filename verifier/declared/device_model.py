"""The declared device as typed, frozen objects: what every device judge takes.

Built by ``verifier.declared.device_manifest`` (the predicate) and ``verifier.declared.hbom``
(a CycloneDX HBOM); nothing here reads a file or a dict. ``to_predicate`` writes the predicate
back (``release sign`` signs it): the parts a predicate may carry beyond what the judges read
(a supplier's extra fields, ``boot_measurements`` as written) are kept as written for that, in
the manner of python-tuf's ``unrecognized_fields``, and are never judged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from hw.profile import RegionSpec
from verifier.declared.boot import BootReference
from verifier.declared.fields import FieldReader, JsonObject, JsonValue
from verifier.declared.parties import DeclaredParty

MAX_QUANTITY = 4096


@dataclass(frozen=True)
class SerialRule:
    """The serial numbers a unit may have: exact values, a whole-string pattern, or both."""

    exact: tuple[str, ...] = ()
    pattern: str | None = None

    def __post_init__(self) -> None:
        if self.pattern is not None:
            # A pattern that does not compile is refused here, whichever declaration it came from.
            re.compile(self.pattern)

    def to_json(self) -> dict[str, JsonValue]:
        out: dict[str, JsonValue] = {}
        if self.exact:
            out["exact"] = list(self.exact)
        if self.pattern is not None:
            out["pattern"] = self.pattern
        return out


def serial_rule(exact: tuple[str, ...], pattern: str | None, f: FieldReader, name: str) -> SerialRule | None:
    """The rule, or None when nothing is declared; a pattern ``re`` cannot compile is bad input naming ``name``."""
    if not exact and pattern is None:
        return None
    try:
        return SerialRule(exact, pattern)
    # OverflowError: a repetition count beyond what re accepts ({9999...}); found by fuzzing.
    except (re.error, OverflowError, RecursionError) as exc:
        raise f.error(f"'{name}' is not a valid regular expression: {exc}") from exc


@dataclass(frozen=True)
class DeclaredComponent:
    cls: str
    manufacturer: str | None = None
    model: str | None = None
    serial: str | None = None
    revision: str | None = None
    required: bool = True
    supplier: DeclaredParty | None = None
    quantity: int = 1
    #: The supplier object as the predicate wrote it (re-emitted by ``to_predicate``; the judges read ``supplier``).
    supplier_json: JsonObject | None = None

    def label(self) -> str:
        return " ".join(x for x in (self.cls, self.manufacturer, self.model) if x)

    def to_json(self) -> dict[str, JsonValue]:
        out: dict[str, JsonValue] = {
            "class": self.cls,
            "manufacturer": self.manufacturer,
            "model": self.model,
            "serial": self.serial,
            "revision": self.revision,
            "required": self.required,
        }
        if self.supplier_json is not None:
            out["supplier"] = dict(self.supplier_json)
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

    def to_json(self) -> dict[str, JsonValue]:
        out: dict[str, JsonValue] = {"name": self.name, "address": self.address, "size": self.size,
                                     "sha256": self.sha256}
        if self.path is not None:
            out["path"] = self.path
        return out


@dataclass(frozen=True)
class DeclaredIdentity:
    ca_pem: str | None = None
    public_key_pem: str | None = None
    fingerprint_sha256: str | None = None

    def to_json(self) -> dict[str, JsonValue]:
        return {
            "ca_pem": self.ca_pem,
            "public_key_pem": self.public_key_pem,
            "fingerprint_sha256": self.fingerprint_sha256,
        }


@dataclass(frozen=True)
class DeclaredMeasurement:
    """An SPDM measurement block's expected value: its index (1-254) and the value's bytes in lowercase hex."""

    index: int
    value: str

    def to_json(self) -> dict[str, JsonValue]:
        return {"index": self.index, "value": self.value}


@dataclass(frozen=True)
class DeviceManifest:
    manufacturer: str | None = None
    model: str | None = None
    board_revision: str | None = None
    serial: SerialRule | None = None
    components: tuple[DeclaredComponent, ...] = ()
    firmware_regions: tuple[DeclaredRegion, ...] = ()
    #: The expected boot measurements, parsed (what the measured-boot judge reads).
    boot: BootReference = field(default_factory=BootReference)
    identity: DeclaredIdentity | None = None
    #: The vendor, and those it names as its subcontractors (what the supplier rules read).
    supplier: DeclaredParty | None = None
    subcontractors: tuple[DeclaredParty, ...] = ()
    source: str = "predicate"
    #: Expected SPDM measurement values per index (what ``spdm.measurement-*`` compare).
    spdm_measurements: tuple[DeclaredMeasurement, ...] = ()
    #: ``boot_measurements`` and ``supplier`` as the predicate wrote them, re-emitted by ``to_predicate`` only.
    boot_measurements_json: JsonObject | None = None
    supplier_json: JsonObject | None = None

    @property
    def declares_boot_measurements(self) -> bool:
        """Whether the manifest writes a non-empty ``boot_measurements`` object (as the TPM checks have always
        decided whether to run without a quote), even one whose fields declare nothing."""
        return bool(self.boot_measurements_json)

    def region_specs(self) -> list[RegionSpec]:
        """What ``hw.reader.read_device`` should measure for this manifest."""
        return [RegionSpec(r.name, r.address, r.size, r.path) for r in self.firmware_regions]

    def to_predicate(self) -> dict[str, JsonValue]:
        out: dict[str, JsonValue] = {}
        for key, value in (("manufacturer", self.manufacturer), ("model", self.model),
                           ("board_revision", self.board_revision)):
            if value is not None:
                out[key] = value
        if self.serial is not None:
            out["serial"] = self.serial.to_json()
        out["components"] = [c.to_json() for c in self.components]
        out["firmware_regions"] = [r.to_json() for r in self.firmware_regions]
        if self.boot_measurements_json is not None:
            out["boot_measurements"] = dict(self.boot_measurements_json)
        if self.identity is not None:
            out["identity"] = self.identity.to_json()
        if self.supplier_json is not None:
            out["supplier"] = dict(self.supplier_json)
        if self.spdm_measurements:
            out["spdm_measurements"] = [m.to_json() for m in self.spdm_measurements]
        return out


def quantity(value: int, f: FieldReader, name: str) -> int:
    """How many of a component the device has: at least one (a part not fitted is not declared), and bounded."""
    if not 1 <= value <= MAX_QUANTITY:
        raise f.error(f"'{name}' must be between 1 and {MAX_QUANTITY}, not {value}")
    return value


def check_declared_regions(regions: list[DeclaredRegion], f: FieldReader) -> None:
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
