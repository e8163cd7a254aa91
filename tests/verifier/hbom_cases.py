"""The CycloneDX BOMs the tests accepted before the reader moved onto cyclonedx-python-lib (issue 14).

What the hand-written reader made of each is recorded in data/hbom_declarations_before_library.json (written
once by that reader, at the commit before the move); test_hbom_library.py checks that the library-based reader
makes the same declarations of every one. Pure data: nothing here imports provcheck.
"""

from __future__ import annotations

import copy
from typing import Any


def _flash(cls: str = "flash", quantity: str = "2", **extra: Any) -> dict[str, Any]:
    part = {"type": "device", "name": "0x0018", "manufacturer": {"name": "Intel"},
            "supplier": {"name": "Flash Distribution Ltd", "address": {"country": "GB"}},
            "properties": [{"name": "cdx:device:function", "value": cls},
                           {"name": "cdx:device:quantity", "value": quantity}], **extra}
    return {key: value for key, value in part.items() if value is not None}


def _binding(component: dict[str, Any]) -> dict[str, Any]:
    """tests/regressions/test_device_binding.py's HBOM."""
    return {
        "bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
        "metadata": {"component": {"type": "device", "name": "linux,dummy-virt",
                                   "supplier": {"name": "Emulation Inc", "address": {"country": "FI"}}},
                     "manufacturer": {"name": "Emulation Inc"}},
        "components": [component],
    }


def _qemu(quantity: str) -> dict[str, Any]:
    """tests/hw/test_qemu_uboot.py's HBOM of QEMU virt's two CFI flash banks."""
    return {
        "bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
        "metadata": {"component": {"type": "device", "name": "linux,dummy-virt",
                                   "manufacturer": {"name": "emulation"}}},
        "components": [{"type": "device", "name": "0x0018", "manufacturer": {"name": "Intel"},
                        "properties": [{"name": "cdx:device:function", "value": "flash"},
                                       {"name": "cdx:device:quantity", "value": quantity}]}],
    }


def _region_binding(address: str) -> dict[str, Any]:
    """tests/hw/test_device_manifest.py's region-binding HBOM (the accepted case)."""
    return {"bomFormat": "CycloneDX", "specVersion": "1.6",
            "metadata": {"component": {"type": "device", "name": "RTU-9", "properties": []}},
            "components": [{"type": "firmware", "name": "boot",
                            "properties": [{"name": "provcheck:region:address", "value": address}],
                            "hashes": [{"alg": "SHA-256", "content": "ab" * 32}]}]}


#: tests/hw/test_device_manifest.py's HBOM of the simulated attest device (its declared manifest, written out).
SIMULATED_DEVICE = {
    "bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
    "metadata": {"component": {
        "type": "device", "name": "RTU-9", "version": "B2", "manufacturer": {"name": "Acme Industrial"},
        "properties": [{"name": "cdx:device:serialNumber", "value": "ACME-000123"}]}},
    "components": [
        {"type": "device", "name": "I210", "version": "3", "manufacturer": {"name": "Intel"},
         "properties": [{"name": "cdx:device:function", "value": "nic"},
                        {"name": "cdx:device:serialNumber", "value": "00:1b:21:aa:bb:cc"}]},
        {"type": "device", "name": "W25Q128", "manufacturer": {"name": "Winbond"}, "scope": "optional",
         "properties": [{"name": "cdx:device:function", "value": "flash"}]},
        {"type": "firmware", "name": "bootloader", "hashes": [{"alg": "SHA-256", "content": "5d" * 32}],
         "properties": [{"name": "provcheck:region:size", "value": "65536"}]},
    ],
}

#: tests/workflows/test_intake.py's and test_release.py's SBOMs (read for their suppliers).
SBOM_INTAKE = {
    "bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
    "components": [{"type": "library", "name": "libsensor",
                    "supplier": {"name": "Sensorix", "address": {"country": "NL"}}}],
}
SBOM_RELEASE = {
    "bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
    "metadata": {"supplier": {"name": "Acme Industrial", "address": {"country": "DE"}}},
    "components": [{"type": "library", "name": "libsensor", "version": "2.1",
                    "supplier": {"name": "Sensorix", "address": {"country": "NL"}}}],
}

#: Nested parts, a publisher-only component, metadata.manufacture (1.5's, deprecated in 1.6), a firmware without
#: SHA-256, a part that is not of type device but has cdx:device properties.
NESTED = {
    "bomFormat": "CycloneDX", "specVersion": "1.6", "version": 1,
    "metadata": {"manufacture": {"name": "Board Works", "address": {"country": "de"}},
                 "component": {"type": "device", "name": "gateway", "group": "com.example", "author": "J. Doe"}},
    "components": [
        {"type": "device", "name": "mainboard", "bom-ref": "mb", "supplier": {"name": "Board Works"},
         "components": [
             {"type": "device", "name": "SoC", "supplier": {"name": "Chips Inc", "address": {"country": "US"}},
              "properties": [{"name": "cdx:device:function", "value": "soc"},
                             {"name": "cdx:device:location", "value": "U1"}]},
             {"type": "firmware", "name": "rom", "version": "1.0",
              "hashes": [{"alg": "SHA-384", "content": "cd" * 48}]},
             {"type": "library", "name": "zlib", "publisher": "zlib authors"},
         ]},
        {"type": "file", "name": "sensor", "properties": [{"name": "cdx:device:deviceType", "value": "i2c"}]},
    ],
}

CASES: dict[str, dict[str, Any]] = {
    "binding": _binding(_flash()),
    "binding-one": _binding(_flash(quantity="1")),
    "binding-nic": _binding(_flash(cls="nic")),
    "binding-maker-only": _binding(_flash(supplier=None,
                                          manufacturer={"name": "Intel", "address": {"country": "US"}})),
    "qemu-1": _qemu("1"),
    "qemu-2": _qemu("2"),
    "qemu-3": _qemu("3"),
    "region-binding": _region_binding("0x1000"),
    "simulated-device": SIMULATED_DEVICE,
    "sbom-intake": SBOM_INTAKE,
    "sbom-release": SBOM_RELEASE,
    "nested": NESTED,
}


def cases() -> dict[str, dict[str, Any]]:
    """A fresh copy of every case (tests may change theirs)."""
    return copy.deepcopy(CASES)
