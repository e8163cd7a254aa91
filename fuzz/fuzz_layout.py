"""in-toto layout and link loading (Metablock and DSSE), without verification or inspections."""

from __future__ import annotations

import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["attestations"]):
    from attestations.errors import AttestationError
    from attestations.layout import layout_inspections

# attestations.layout imports in-toto on first use; done here, so that the first input is not charged with
# seconds of imports on a loaded machine (libFuzzer's 1 s limit once flagged the empty input as a timeout).
import in_toto.models.layout
import in_toto.models.link
import in_toto.models.metadata  # noqa: F401
import securesystemslib.signer  # noqa: F401
from _harness import run

WORKDIR = Path(tempfile.mkdtemp(prefix="provcheck-fuzz-layout-"))
LAYOUT = WORKDIR / "root.layout"


def target(data: bytes) -> None:
    LAYOUT.write_bytes(data)
    layout_inspections(LAYOUT, WORKDIR)


if __name__ == "__main__":
    run(target, (AttestationError,))
