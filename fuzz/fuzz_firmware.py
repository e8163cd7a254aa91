"""The firmware loader and inventory on mutated real binaries (ELF, PE, option ROM, UEFI volume, hex/srec)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["verifier.firmware"]):
    from verifier.errors import ProvcheckError
    from verifier.firmware.capabilities import compile_rules
    from verifier.firmware.inventory import build_manifest

from _harness import run

WORKDIR = Path(tempfile.mkdtemp(prefix="provcheck-fuzz-firmware-"))
IMAGE = WORKDIR / "image.bin"
RULES = compile_rules()


def target(data: bytes) -> None:
    IMAGE.write_bytes(data)
    build_manifest(IMAGE, rules=RULES).canonical_bytes()


if __name__ == "__main__":
    run(target, (ProvcheckError,))
