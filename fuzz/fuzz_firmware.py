"""The firmware loader and inventory on mutated real binaries (ELF, PE, option ROM, UEFI volume, hex/srec)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["verifier.firmware"]):
    from verifier.errors import ProvcheckError
    from verifier.firmware.capabilities import compile_rules
    from verifier.firmware.inventory import build_manifest

# The loader imports its parsers on first use; done here, so that the first input is not charged with seconds
# of imports on a loaded machine (libFuzzer's 1 s limit once flagged a seed as a timeout while LIEF loaded).
import bincopy  # noqa: F401
import lief  # noqa: F401
import numpy  # noqa: F401
import uefi_firmware  # noqa: F401
from _harness import run

WORKDIR = Path(tempfile.mkdtemp(prefix="provcheck-fuzz-firmware-"))
IMAGE = WORKDIR / "image.bin"
RULES = compile_rules()


def target(data: bytes) -> None:
    IMAGE.write_bytes(data)
    build_manifest(IMAGE, rules=RULES).canonical_bytes()


if __name__ == "__main__":
    run(target, (ProvcheckError,))
