"""Serial-line inputs that once broke the hw readers under fuzz/fuzz_frames.py and fuzz/fuzz_console.py.

Each input is replayed through the harness that found it, so it reaches the real ``read_attest`` /
``read_uboot`` / ``read_linux`` over the harness's scripted device (a ``Transport`` that plays the
device's side from the input: the one stand-in here, because the point is to replay bytes exactly).
The contract: only ``hw.errors.HardwareError`` escapes, and the error says what the device did wrong.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import pytest

# Imported before the harnesses, so that atheris leaves the modules under test uninstrumented here.
import hw.attest
import hw.linux
import hw.uboot
from hw.errors import DeviceProtocolError, HardwareError

DATA = Path(__file__).parent / "data"
FUZZ = Path(__file__).resolve().parents[2] / "fuzz"


def harness(name: str) -> ModuleType:
    if str(FUZZ) not in sys.path:
        sys.path.insert(0, str(FUZZ))
    return importlib.import_module(f"fuzz_{name}")


def replay(name: str, finding: str) -> HardwareError | None:
    try:
        harness(name).target((DATA / finding).read_bytes())
    except HardwareError as exc:
        return exc
    return None


def test_attest_leaf_certificate_with_unknown_key_algorithm() -> None:
    # cryptography raised UnsupportedAlgorithm (not a ValueError) from public_key() for a leaf whose
    # SubjectPublicKeyInfo names an unknown algorithm OID.
    error = replay("frames", "attest-leaf-certificate-with-unknown-key-algorithm.bin")
    assert isinstance(error, DeviceProtocolError)
    assert "leaf certificate" in str(error)


def test_unknown_key_algorithm_never_verifies() -> None:
    blob = (DATA / "attest-leaf-certificate-with-unknown-key-algorithm.bin").read_bytes()
    chain = _chain_in_script(blob)
    with pytest.raises(DeviceProtocolError):
        hw.attest._leaf_key(chain[0])
    assert hw.attest.verify_signature(chain[0], "ecdsa-p256-sha256", b"x", b"y") is False


def test_attest_version_list_holding_a_list() -> None:
    # get_version answered versions: [[1]]; set() of an unhashable element raised TypeError.
    error = replay("frames", "attest-version-list-holding-a-list.bin")
    assert isinstance(error, DeviceProtocolError)
    # The recorded answer also carries a stray byte after the map, which the strict CBOR profile refuses
    # first (hw/device_cbor.py); the same answer without it reaches the version check.
    assert "after the CBOR item" in str(error)
    import cbor2

    body = cbor2.dumps({"op": "version", "versions": [[1]]})
    script = b"\x01\x01\x00" + len(body).to_bytes(2, "big") + body  # scripted mode, hang up, one answer
    error = None
    try:
        harness("frames").target(script)
    except HardwareError as exc:
        error = exc
    assert isinstance(error, DeviceProtocolError)
    assert "protocol versions [<list>]" in str(error)


def _chain_in_script(data: bytes) -> list[bytes]:
    """The DER certificates of the certificate answers in a scripted-device input."""
    import struct

    import cbor2

    script, pos, blob = data[2:], 0, b""
    while pos + 3 <= len(script):
        length = struct.unpack(">H", script[pos + 1 : pos + 3])[0]
        body = script[pos + 3 : pos + 3 + length]
        pos += 3 + length
        try:
            message = cbor2.loads(body)
        except Exception:  # bodies the fuzzer damaged are skipped, as the host does
            continue
        if isinstance(message, dict) and message.get("op") == "certificate":
            blob += message["data"]
    certs: list[bytes] = cbor2.loads(blob)
    return certs


def test_attest_leaf_certificate_with_invalid_x509_version() -> None:
    # cryptography raised x509.InvalidVersion (not a ValueError) for a leaf whose version field is 34.
    error = replay("frames", "attest-leaf-certificate-with-invalid-x509-version.bin")
    assert isinstance(error, DeviceProtocolError)
    assert "leaf certificate" in str(error) and "version" in str(error)
    chain = _chain_in_script((DATA / "attest-leaf-certificate-with-invalid-x509-version.bin").read_bytes())
    assert hw.attest.verify_signature(chain[0], "ecdsa-p256-sha256", b"x", b"y") is False
