"""Property tests: the firmware manifest is deterministic, whatever is appended to or patched into an image."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from verifier.firmware.inventory import build_manifest

SEED = Path(__file__).resolve().parents[2] / "fuzz" / "corpus" / "firmware" / "elf-x86_64-symbols"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    tail=st.binary(max_size=512),
    patch_at=st.integers(min_value=0),
    patch=st.binary(min_size=1, max_size=8),
)
def test_same_bytes_give_the_same_manifest_bytes(tail: bytes, patch_at: int, patch: bytes) -> None:
    data = bytearray(SEED.read_bytes())
    offset = 0x1000 + patch_at % 0x800  # inside the code, where a patch changes what is inventoried
    data[offset : offset + len(patch)] = patch
    data += tail
    with tempfile.TemporaryDirectory() as tmp:
        first = Path(tmp) / "a.bin"
        second = Path(tmp) / "copy-with-another-name.bin"
        first.write_bytes(bytes(data))
        shutil.copy(first, second)
        one = build_manifest(first).canonical_bytes()
        again = build_manifest(first).canonical_bytes()
        other = build_manifest(second).canonical_bytes()
    assert one == again
    assert json.loads(one) == json.loads(other) or one.replace(b"a.bin", b"copy-with-another-name.bin") == other
    # canonical: re-serialising the parsed manifest the canonical way gives the same bytes
    assert json.dumps(json.loads(one), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() == one
