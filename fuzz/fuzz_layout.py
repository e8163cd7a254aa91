"""in-toto layout and link loading (Metablock and DSSE), without verification or inspections."""

from __future__ import annotations

import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["attestations"]):
    from attestations.errors import AttestationError
    from attestations.layout import layout_inspections

from _harness import run

WORKDIR = Path(tempfile.mkdtemp(prefix="provcheck-fuzz-layout-"))
LAYOUT = WORKDIR / "root.layout"


def target(data: bytes) -> None:
    LAYOUT.write_bytes(data)
    layout_inspections(LAYOUT, WORKDIR)


if __name__ == "__main__":
    run(target, (AttestationError,))
