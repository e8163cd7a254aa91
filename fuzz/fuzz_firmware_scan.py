"""``scan_firmware`` of a mutated image against the manifest of a clean seed of the same kind.

The references are the inventories of the clean seeds in ``fuzz/corpus/firmware`` (and the Debian iPXE ROM when
present), made once at start-up; each input is judged against the one whose format its first bytes announce, so
that the comparison code (functions, sections, modules, embedded images) runs on near-misses of a real match.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import atheris

with atheris.instrument_imports(include=["verifier.firmware"]):
    from verifier.errors import ProvcheckError
    from verifier.firmware import capabilities
    from verifier.firmware.inventory import build_manifest
    from verifier.workflows.firmware_scan import scan_firmware

from _harness import run

FUZZ = Path(__file__).resolve().parent
SEEDS = [*sorted((FUZZ / "corpus" / "firmware").glob("*")), Path("/usr/lib/ipxe/qemu/efi-e1000.rom")]
WORKDIR = Path(tempfile.mkdtemp(prefix="provcheck-fuzz-firmware-scan-"))
IMAGE = WORKDIR / "image.bin"
RULES = capabilities.compile_rules()
# scan_firmware compiles the shipped rules on every call; they cannot change between inputs, so compile them once.
capabilities.compile_rules = lambda extra=None: RULES  # type: ignore[assignment]


def _references() -> dict[str, Mapping[str, Any]]:
    found: dict[str, Mapping[str, Any]] = {}
    for seed in SEEDS:
        if seed.is_file():
            predicate = build_manifest(seed, rules=RULES).to_predicate()
            found.setdefault(str(predicate["format"]), predicate)
    return found


REFERENCES = _references()


def _reference_for(data: bytes) -> Mapping[str, Any]:
    if data[:4] == b"\x7fELF":
        kind = "elf"
    elif data[:2] == b"MZ":
        kind = "pe"
    elif data[:2] == b"\x55\xaa":
        kind = "option-rom"
    elif b"_FVH" in data[:4096]:
        kind = "uefi-volume"
    elif data.lstrip()[:1] == b":":
        kind = "intel-hex"
    elif data.lstrip()[:1] == b"S":
        kind = "srec"
    else:
        # Anything else is judged against some reference: a format mismatch is a path worth fuzzing too.
        names = sorted(REFERENCES)
        kind = names[data[0] % len(names)] if data else names[0]
    return REFERENCES.get(kind) or REFERENCES[sorted(REFERENCES)[0]]


def target(data: bytes) -> None:
    IMAGE.write_bytes(data)
    for finding in scan_firmware(IMAGE, manifest=_reference_for(data)):
        finding.to_json()


if __name__ == "__main__":
    run(target, (ProvcheckError,))
