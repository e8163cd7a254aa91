"""A 191-byte CBOR bomb from a device took 52 s and 888 MiB under ``--timeout 5``.

The device answered ``get_version`` with an ``error`` whose ``message`` nests shared values (CBOR tags
28/29), doubling per level: cbor2 decodes it in microseconds, but turning it into text built gigabytes.
Device CBOR is now decoded with the strict profile of docs/attest-protocol.md (hw/device_cbor.py):
no tags at all, bounded depth and item count, declared lengths checked against the bytes that follow.

Inputs are replayed through fuzz/fuzz_frames.py's scripted device (the one stand-in: a ``Transport``
that plays the device's side from bytes), which drives the real ``read_attest``; the evidence-file
path runs the real ``check_device`` on evidence read from the simulator.
"""

from __future__ import annotations

import base64
import dataclasses
import importlib
import struct
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import cbor2
import pytest

# Imported before the harness, so that atheris leaves the modules under test uninstrumented here.
import hw.attest  # noqa: F401
from hw.errors import DeviceProtocolError, HardwareError

DATA = Path(__file__).parent / "data"
FUZZ = Path(__file__).resolve().parents[2] / "fuzz"


def frames_harness() -> ModuleType:
    if str(FUZZ) not in sys.path:
        sys.path.insert(0, str(FUZZ))
    return importlib.import_module("fuzz_frames")


def device_answers(body: bytes) -> str:
    """What ``read_attest`` reports when the device's first answer is ``body`` (then it hangs up)."""
    script = b"\x01\x01" + struct.pack(">BH", 0, len(body)) + body
    try:
        frames_harness().target(script)
    except HardwareError as exc:
        assert isinstance(exc, DeviceProtocolError), exc
        return str(exc)
    raise AssertionError("a hostile answer was accepted")


def test_error_message_of_nested_shared_values_is_refused_not_expanded() -> None:
    recorded = (DATA / "attest-error-message-shared-value-bomb.bin").read_bytes()
    bomb = recorded[5:]
    assert len(bomb) == 191 and bomb == frames_harness().shared_value_bomb()
    # The same bytes decode under plain cbor2 to a value of 2**26 leaves: the bomb is real.
    assert isinstance(cbor2.loads(bomb)["message"], list)
    message = device_answers(bomb)
    assert "tag 28 (a shared value) is not allowed" in message
    assert len(message) < 200


# Each hostile answer, and the reason its refusal must give.
HOSTILE = {
    "bignum-version": "tag 2 (a bignum)",
    "negative-bignum-message": "tag 3 (a negative bignum)",
    "embedded-cbor-version": "tag 24 (embedded CBOR)",
    "decimal-fraction-version": "tag 4 (a decimal fraction)",
    "string-reference-namespace": "tag 256",
    "deep-arrays": "nesting deeper than 16",
    "deep-indefinite-maps": "nesting deeper than 16",
    "array-declares-2-pow-32-entries": "declares 4294967296 entries but only 0 bytes follow",
    "string-declares-2-pow-63-bytes": "declares 9223372036854775808 bytes",
    "duplicate-op-keys": "holds the key 'op' twice",
    "array-as-map-key": "map key is not a text or byte string",
    "trailing-bytes": "8 byte(s) after the CBOR item",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_cbor_outside_the_device_profile_is_refused(name: str) -> None:
    body = frames_harness().hostile_bodies()[name]
    message = device_answers(body)
    assert HOSTILE[name] in message, message
    assert message.startswith("the device's answer to get_version:"), message


def test_a_key_written_twice_is_refused_however_it_is_spelled() -> None:
    """cwt pins cbor2 below 6, whose loads keeps the last duplicate silently: the profile scan refuses them itself."""
    from hw.device_cbor import decode_device_cbor

    for body in (
        b"\xa2\x62op\x01\x62op\x02",  # the same key twice
        b"\xa2\x62op\x01\x78\x02op\x02",  # once with a one-byte length head: the same text
        b"\xa1\x61m\xa2\x61k\x01\x61k\x02",  # in a nested map
        b"\xbf\x61k\x01\x61k\x02\xff",  # in an indefinite-length map
    ):
        with pytest.raises(DeviceProtocolError, match="twice"):
            decode_device_cbor(body, what="test")
    # A text key and a byte-string key with the same bytes are different keys.
    assert decode_device_cbor(b"\xa2\x61k\x01\x41k\x02", what="test") == {"k": 1, b"k": 2}
    with pytest.raises(DeviceProtocolError, match="indefinite-length string"):
        decode_device_cbor(b"\xa1\x7f\x61k\xff\x01", what="test")


def test_shared_values_anywhere_are_refused() -> None:
    from hw.device_cbor import decode_device_cbor

    shared = b"\xd8\x1c\x61a"
    for body in (
        shared,  # at the top
        b"\xa1\x62op" + shared,  # as a value
        b"\x9f" + shared + b"\xff",  # inside an indefinite array
        b"\xa1\x61k\x81\xd8\x1d\x00",  # a bare reference
    ):
        with pytest.raises(DeviceProtocolError, match=r"tag 2[89]"):
            decode_device_cbor(body, what="test")


def test_what_the_protocol_sends_still_decodes() -> None:
    """The failing twin: the profile refuses nothing a conforming device sends, indefinite lengths included."""
    from hw.device_cbor import decode_device_cbor

    message = {"op": "version", "versions": [1], "max_body": 4096, "x": [None, True, 1.5, -3, b"\x00"]}
    assert decode_device_cbor(cbor2.dumps(message), what="test") == message
    indefinite = b"\xbf\x62op\x7f\x63ver\x64sion\xff\x68versions\x9f\x01\xff\xff"
    assert decode_device_cbor(indefinite, what="test") == {"op": "version", "versions": [1]}
    deep = [[[[[[[[[[[[[[[["x"]]]]]]]]]]]]]]]]  # 16 levels: the limit, not past it
    assert decode_device_cbor(cbor2.dumps(deep), what="test") == deep


def test_huge_integer_from_a_device_never_becomes_huge_text() -> None:
    from hw.device_cbor import bounded_text

    assert bounded_text(10**5000) == "<integer of 16610 bits>"
    assert len(bounded_text("x" * 10_000)) == 200
    assert bounded_text(["a"] * 10) == "<list>"


@pytest.fixture(scope="module")
def attest_evidence() -> Any:
    from hw.reader import read_device
    from hw.sim import Simulator

    with Simulator("attest") as sim:
        return read_device(sim.port, profile="attest", timeout=30, read_timeout=2), sim.declared_manifest()


def test_evidence_whose_signed_nonce_is_a_shared_value_bomb_is_malformed(attest_evidence: Any) -> None:
    # The evidence file is hostile input too: hw.nonce once printed repr() of whatever the payload's nonce was.
    from verifier.checks.device import check_device
    from verifier.declared.device_manifest import manifest_from_predicate
    from verifier.model import Status

    evidence, manifest = attest_evidence
    payload = cbor2.loads(base64.b64decode(evidence.attestation.payload_b64))
    encoded = cbor2.dumps({k: v for k, v in payload.items() if k != "nonce"})
    bomb = frames_harness().shared_value_bomb()
    nonce_value = bomb[bomb.index(b"message") + 7 :]
    forged = encoded[:1] + b"\x65nonce" + nonce_value + encoded[1:]
    forged = bytes([encoded[0] + 1]) + forged[1:]  # one more map entry
    attestation = dataclasses.replace(evidence.attestation, payload_b64=base64.b64encode(forged).decode())
    findings = check_device(dataclasses.replace(evidence, attestation=attestation), manifest_from_predicate(manifest))
    nonce = [f for f in findings if f.check == "hw.nonce"]
    assert nonce and all(f.status is Status.ERROR for f in nonce), nonce
    assert any("tag 28" in f.message for f in nonce), nonce
