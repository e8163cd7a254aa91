"""A Sigstore bundle whose leaf certificate has no KeyUsage extension escaped as ``ExtensionNotFound``.

sigstore-python reads the leaf's KeyUsage while loading the bundle without asking whether it is there.
Found by the first run of the sigstore_bundle harness on the seeds fuzz/seedgen.py makes (a bundle from
a private log) when the public vectors are absent. It must be an input error, one line, exit 2.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from attestations.errors import InputError
from attestations.sigstore import TrustConfigChoice, load_trust_root, verify_bundle_bytes
from tests.helpers import assert_clean_error, run_cli

BUNDLE = Path(__file__).parent / "data" / "sigstore-bundle-leaf-without-key-usage.json"


def test_leaf_without_key_usage_is_an_input_error() -> None:
    trust = load_trust_root(TrustConfigChoice.production())
    with pytest.raises(InputError, match="keyUsage"):
        verify_bundle_bytes(BUNDLE.read_bytes(), source="x", artifact=None, trust=trust, policy=None,
                            unsafe_no_identity=True)


def test_leaf_without_key_usage_on_the_command_line(tmp_path: Path) -> None:
    artifact = tmp_path / "artifact.txt"
    artifact.write_bytes(b"provcheck fuzz artifact\n")
    result = run_cli(["attest", "verify", "--bundle", BUNDLE, artifact,
                      "--insecure-skip-identity"])
    assert_clean_error(result, 2)
    assert "keyUsage" in result.stderr
