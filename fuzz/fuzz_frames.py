"""The attest-protocol frame decoder and the protocol logic above it; the first byte picks the mode.

Even first byte: the rest is raw line bytes, cut into chunks (sizes taken from the input) and fed
through ``FrameSplitter`` + ``decode_frame`` + the CBOR decoding the host does, then the payload
and certificate-chain readers the attest profile applies to what a device sends.

Odd first byte: a scripted device. The rest is a sequence of answers, each
``control (1 byte) || length (2 bytes, big-endian) || CBOR body``. Every request ``read_attest``
writes is answered with the next body, framed with the request's sequence number and a valid
CRC, then damaged as the control byte says (flipped CRC, wrong sequence, NAK, cut short, lost
delimiter, delivered in small pieces). When the script runs out, the line either goes silent
or drops, per the second byte. Read timeouts are milliseconds and the session deadline
0.25 s, so no input can hold the reader near libFuzzer's 1 s limit.

Only ``hw.errors.HardwareError`` may escape. ``read_attest`` raises ``ValueError`` solely for a
nonce of the wrong length, an option the harness always gets right, so ``ValueError`` is not
allowed: one escaping would be a bug.

Seeds in ``fuzz/corpus/frames/`` were recorded from the simulator with
``python fuzz/fuzz_frames.py --record fuzz/corpus/frames``, which also writes ``hostile-*.bin``: answers
outside the strict CBOR profile (``hostile_bodies``), among them the 191-byte shared-value bomb
that once held the reader for 52 s and 888 MiB.
"""

from __future__ import annotations

import contextlib
import struct
import sys
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["hw"]):
    from hw.attest import NONCE_BYTES, _chain_certs, _leaf_key, decode_payload, payload_facts, read_attest
    from hw.device_cbor import bounded_text, decode_device_cbor
    from hw.errors import DeviceProtocolError, HardwareError
    from hw.framing import CorruptFrame, Frame, FrameSplitter, Kind, decode_frame, encode_frame
    from hw.profile import ProfileFacts, ReadOptions
    from hw.transcript import Transcript
    from hw.transport import Deadline

from _harness import run
from _scripted import ScriptedLine

NONCE = bytes(range(NONCE_BYTES))
SESSION_SECONDS = 0.25
READ_TIMEOUT = 0.002


def host_cbor(body: bytes) -> object:
    """CBOR decoding exactly as ``AttestClient.request`` does it: the strict device profile."""
    return decode_device_cbor(body, what="fuzz frame")


def raw_line(data: bytes) -> None:
    if not data:
        return
    chunk = data[0] % 64 + 1
    splitter = FrameSplitter()
    stream = data[1:]
    for start in range(0, len(stream), chunk):
        for encoded in splitter.feed(stream[start : start + chunk]):
            if encoded is None:
                continue
            try:
                frame = decode_frame(encoded)
                message = host_cbor(frame.body)
            except (CorruptFrame, DeviceProtocolError):
                continue
            if not isinstance(message, dict):
                continue
            facts = ProfileFacts("attest")
            # The readers the profile applies to a device's answers, fed whatever this frame holds.
            for value in message.values():
                if isinstance(value, bytes):
                    with contextlib.suppress(DeviceProtocolError):
                        payload_facts(facts, decode_payload(value), b"")
                    with contextlib.suppress(DeviceProtocolError):
                        _leaf_key(_chain_certs(value)[0])
            payload_facts(facts, message, b"")
            bounded_text(message.get("message"))  # what an error answer's text becomes


class ScriptedDevice(ScriptedLine):
    """A ``hw.transport.Transport`` whose device answers each request with the next scripted body."""

    def __init__(self, script: bytes, *, hang_up_when_done: bool) -> None:
        super().__init__(
            "scripted://fuzz",
            script,
            hang_up_when_done=hang_up_when_done,
            transcript_cap=64 * 1024,
            session_seconds=SESSION_SECONDS,
        )
        self._splitter = FrameSplitter()

    def write(self, data: bytes) -> None:
        self.deadline.check()
        self.transcript.sent(data)
        for encoded in self._splitter.feed(data):
            if encoded is None:
                continue
            request = decode_frame(encoded)  # the host's own frames are always intact
            answer = self._next_record()
            if answer is None:
                return
            self._pending.extend(self._frame(request.seq, *answer))

    def _frame(self, seq: int, control: int, body: bytes) -> bytes:
        damage = control & 0x0F
        self._piece = 4096 if control & 0x10 == 0 else (control >> 5) + 1
        kind = Kind.NAK if damage == 3 else Kind.RESPONSE
        if damage == 2:
            seq ^= 1 + (control >> 5)
        wire = bytearray(encode_frame(Frame(seq, kind, body[:4096])))
        if damage == 1 and len(wire) > 3:
            wire[-2] ^= 1 << (control >> 5)  # inside the CRC (or the COBS code byte before it)
        elif damage == 4:
            del wire[len(wire) // 2 :]  # cut short; the next frame's delimiter ends it
        elif damage == 5:
            del wire[-1]  # lost end delimiter: this frame runs into the next
        elif damage == 6:
            wire = bytearray(b"noise\r\n") + wire
        return bytes(wire)





def scripted(data: bytes) -> None:
    if not data:
        return
    device = ScriptedDevice(data[1:], hang_up_when_done=bool(data[0] & 1))
    read_attest(device, ReadOptions(nonce=NONCE, read_timeout=READ_TIMEOUT))


def target(data: bytes) -> None:
    if not data:
        return
    if data[0] & 1:
        scripted(data[1:])
    else:
        raw_line(data[1:])


# --- seeds ----------------------------------------------------------------------------------------


def _head(major: int, argument: int) -> bytes:
    if argument < 24:
        return bytes([major << 5 | argument])
    if argument < 256:
        return bytes([major << 5 | 24, argument])
    return bytes([major << 5 | 25]) + struct.pack(">H", argument)


def shared_value_bomb(levels: int = 27) -> bytes:
    """An ``error`` answer whose message is ``levels`` nested shared values (tags 28/29), doubling per level."""
    value = b"\xd8\x1c" + _head(3, 5) + b"abcde"
    for depth in range(levels - 2, -1, -1):
        value = b"\xd8\x1c\x82" + value + b"\xd8\x1d" + _head(0, depth + 1)
    return b"\xa3" + _text("op") + _text("error") + _text("code") + b"\x01" + _text("message") + value


def _text(value: str) -> bytes:
    return _head(3, len(value)) + value.encode()


def hostile_bodies() -> dict[str, bytes]:
    """Answers a hostile device may send, each outside the strict CBOR profile of docs/attest-protocol.md."""
    version = b"\xa2" + _text("op") + _text("version") + _text("versions")
    return {
        "shared-value-bomb": shared_value_bomb(),
        "bignum-version": version + b"\x81\xc2\x59\x0f\xa0" + b"\xff" * 4000,
        "negative-bignum-message": b"\xa3" + _text("op") + _text("error") + _text("code") + b"\x01"
        + _text("message") + b"\xc3\x59\x0f\xa0" + b"\x01" * 4000,
        "embedded-cbor-version": version + b"\x81\xd8\x18\x41\x01",
        "decimal-fraction-version": version + b"\x81\xc4\x82\x21\x19\x6a\xb3",
        "string-reference-namespace": b"\xd9\x01\x00" + version + b"\x81\x01",
        "deep-arrays": version + b"\x81" * 3000 + b"\x01",
        "deep-indefinite-maps": b"\xbf" + _text("op") + _text("version") + (_text("x") + b"\xbf") * 1000,
        "indefinite-string-of-many-chunks": version + b"\x81\x7f" + b"\x61a" * 1300 + b"\xff",
        "array-declares-2-pow-32-entries": version + b"\x9b" + (1 << 32).to_bytes(8, "big"),
        "string-declares-2-pow-63-bytes": version + b"\x81\x5b" + (1 << 63).to_bytes(8, "big"),
        "duplicate-op-keys": b"\xa2" + _text("op") + _text("version") + _text("op") + _text("error"),
        "array-as-map-key": b"\xa2" + _text("op") + _text("version") + b"\x81\x01\x01",
        "trailing-bytes": version + b"\x81\x01" + b"\x00" * 8,
    }




def record(into: Path) -> None:
    """Record real sessions with the simulator: the raw line bytes and the answers as a script."""
    from hw.sim import Simulator
    from hw.transport import open_transport

    into.mkdir(parents=True, exist_ok=True)
    for tamper in ((), ("bad-signature",)):
        with Simulator("attest", tamper=tamper) as sim:
            received = bytearray()
            transport = open_transport(sim.port, baud=None, deadline=Deadline(30), transcript=Transcript())
            original = transport.read

            def keep(
                max_bytes: int, timeout: float, original: object = original, received: bytearray = received
            ) -> bytes:
                data: bytes = original(max_bytes, timeout)  # type: ignore[operator]
                received.extend(data)
                return data

            transport.read = keep  # type: ignore[method-assign]
            try:
                read_attest(transport, ReadOptions(nonce=NONCE, read_timeout=5))
            finally:
                transport.close()
        name = "-".join(tamper) or "honest"
        (into / f"raw-{name}.bin").write_bytes(b"\x00" + b"\x10" + bytes(received))
        script = bytearray(b"\x01\x01")
        for encoded in FrameSplitter().feed(bytes(received)):
            assert encoded is not None
            body = decode_frame(encoded).body
            script += struct.pack(">BH", 0, len(body)) + body
        (into / f"script-{name}.bin").write_bytes(bytes(script))
    write_hostile(into)


def write_hostile(into: Path) -> None:
    for name, body in hostile_bodies().items():
        # Scripted (odd first byte): the device sends this as its first answer, then hangs up.
        (into / f"hostile-{name}.bin").write_bytes(b"\x01\x01" + struct.pack(">BH", 0, len(body)) + body)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--record"]:
        record(Path(sys.argv[2]))
    else:
        run(target, (HardwareError,))
