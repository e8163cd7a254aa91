"""The firmware manifest: a deterministic inventory of one firmware file (predicate
``https://provcheck.dev/firmware-manifest/v1``, documented in docs/firmware-manifest.md).

``analyse`` turns a loaded image into an ``Analysis``: the predicate content plus the code regions that
``scan`` needs to hash declared functions in another binary. ``build_manifest`` is the public entry point.
Addresses are hex strings so that 64-bit values survive JSON readers that use doubles.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from verifier.errors import BadInputError
from verifier.firmware import functions as fn
from verifier.firmware.capabilities import compile_rules, string_matches
from verifier.firmware.image_facts import entropy, hexaddr, sha256
from verifier.firmware.inventory_elf import elf_predicate
from verifier.firmware.inventory_macho import macho_predicate
from verifier.firmware.inventory_pe import pe_predicate, te_predicate
from verifier.firmware.limits import DEFAULT_LIMITS, Limits
from verifier.firmware.loaded import declare
from verifier.firmware.loader import Image, load_file
from verifier.firmware.raw_image import layout

FIRMWARE_MANIFEST = "https://provcheck.dev/firmware-manifest/v1"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Analysis:
    """The predicate content for one image, and what a scan needs beyond it."""

    image: Image
    predicate: dict[str, Any]
    regions: tuple[fn.CodeRegion, ...] = ()
    children: tuple[Analysis, ...] = ()


@dataclass(frozen=True)
class FirmwareManifest:
    predicate: Mapping[str, Any] = field(default_factory=dict)

    def to_predicate(self) -> dict[str, Any]:
        return json.loads(self.canonical_bytes())  # type: ignore[no-any-return]

    def canonical_bytes(self) -> bytes:
        return canonical_json(self.predicate)


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def build_manifest(path: Path, *, limits: Limits = DEFAULT_LIMITS, rules: Any = None) -> FirmwareManifest:
    """Inventory ``path``; raises BadInputError when it cannot be read or is over the size limit."""
    image = load_file(path, limits)
    if image.kind == "too-large":
        raise BadInputError(f"{path}: {image.events[0].detail}")
    return FirmwareManifest(analyse(image, rules=rules, declare_bytes=True).predicate)


def analyse(image: Image, *, rules: Any = None, top: bool = True, declare_bytes: bool = False) -> Analysis:
    """The predicate of ``image``; with ``declare_bytes`` (a manifest, a baseline) also its ``loaded`` bytes,
    which a plain scan of the image itself does not need."""
    if rules is None:
        rules = compile_rules()
    if image.kind == "elf":
        predicate, regions = elf_predicate(image)
    elif image.kind == "pe":
        predicate, regions = pe_predicate(image)
    elif image.kind == "macho":
        predicate, regions = macho_predicate(image)
    elif image.kind == "te":
        predicate, regions = te_predicate(image)
    else:
        predicate, regions = {"format": image.kind}, []
    if declare_bytes and image.kind in ("elf", "pe"):
        loaded = declare(image, predicate)
        if loaded is not None:
            predicate["loaded"] = loaded
    children = tuple(analyse(child, rules=rules, top=False, declare_bytes=declare_bytes)
                     for child in image.children)
    _attach_children(image, predicate, children)
    predicate["strings"] = [m.to_json() for m in string_matches(rules, image.data)]
    if top:
        predicate["file"] = {"size": len(image.data), "sha256": sha256(image.data)}
        predicate["schema_version"] = SCHEMA_VERSION
        predicate["limits"] = [e.to_json() for e in image.events]
        if image.kind == "elf" and predicate.get("file_type") != "rel":
            predicate["raw_image"] = layout(image.binary, image.data)  # where objcopy -O binary puts each section
    else:
        predicate["size"] = len(image.data)
        predicate["sha256"] = sha256(image.data)
    if image.kind in ("raw", "option-rom", "uefi-volume", "intel-hex", "srec"):
        predicate["entropy"] = entropy(image.data)
    return Analysis(image, predicate, tuple(regions), children)


def _attach_children(image: Image, predicate: dict[str, Any], children: tuple[Analysis, ...]) -> None:
    if image.kind == "uefi-volume":
        modules = []
        for child in children:
            attrs = child.image.attributes
            modules.append({
                "guid": attrs.get("guid", ""), "index": attrs.get("index", 0), "name": attrs.get("ui_name", ""),
                "file_type": attrs.get("file_type", ""), "section": attrs.get("section", ""),
                "sha256": attrs.get("file_sha256", ""), "image": child.predicate,
            })
        predicate["modules"] = sorted(modules, key=lambda m: (m["guid"], m["index"]))
        predicate["volume_offset"] = hexaddr(int(image.attributes.get("volume_offset", 0)))
    elif children:
        embedded = []
        for child in children:
            attrs = child.image.attributes
            entry = {"name": str(attrs.get("key", child.image.name)), "image": child.predicate}
            for key in ("offset", "address", "vendor_id", "device_id", "code_type", "compressed"):
                if key in attrs:
                    value = attrs[key]
                    entry[key] = hexaddr(value) if key in ("offset", "address") else value
            embedded.append(entry)
        predicate["embedded"] = embedded
