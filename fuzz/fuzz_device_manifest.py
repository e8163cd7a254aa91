"""The device manifest: the project's predicate, a Statement or envelope carrying it, or a CycloneDX HBOM."""

from __future__ import annotations

import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["verifier.declared"]):
    from verifier.declared.device_manifest import load_device_manifest
    from verifier.declared.fields import FieldReader
    from verifier.declared.hbom import SPEC_VERSIONS, validate_bom
    from verifier.errors import ProvcheckError

from _harness import run

# The CycloneDX schemas load on first use (~0.5 s): before the first input, which libFuzzer times.
for _version in SPEC_VERSIONS:
    validate_bom({"bomFormat": "CycloneDX", "specVersion": _version}, FieldReader("warm-up"))

WORKDIR = Path(tempfile.mkdtemp(prefix="provcheck-fuzz-manifest-"))
MANIFEST = WORKDIR / "manifest.json"


def target(data: bytes) -> None:
    MANIFEST.write_bytes(data)
    manifest = load_device_manifest(MANIFEST)
    manifest.to_predicate()
    manifest.region_specs()


if __name__ == "__main__":
    run(target, (ProvcheckError,))
