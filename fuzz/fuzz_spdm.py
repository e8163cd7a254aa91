"""SPDM response parsing: recorded exchanges, a scripted responder, MCTP serial bytes and spdm-emu frames.

The input's first bytes pick the mode:

- a pcap (its magic first): ``hw.spdm.pcap.read_pcap`` and the offline replay of every request/response pair, as
  the tests verify DMTF's recorded responder (the vectors' pcaps are seeds when ``../shared`` is there);
- first byte % 4 == 0: a scripted responder. The rest is answers, each ``length (2 bytes, big-endian) || SPDM
  message``; ``hw.spdm.requester.attest`` runs against them (each request gets the next answer; a script that runs
  out is a silent responder);
- 1: raw MCTP serial line bytes, fed in chunks (the size from the second byte) through the frame decoder and the
  reassembler, and every whole message through each response decoder at SPDM 1.2 and 1.3;
- 2: spdm-emu TCP bytes through its splitter, then the same decoders;
- 3: an evidence file's messages (``length (2 bytes) || message``, alternating requests and responses), replayed.

Only ``hw.errors.HardwareError`` may escape. Seeds for a fresh clone come from the simulated responder:
``python fuzz/fuzz_spdm.py --seeds DIR`` (``fuzz/run.py`` does it before each run).
"""

from __future__ import annotations

import contextlib
import struct
import sys
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["hw"]):
    from hw.errors import HardwareError, TransportError
    from hw.spdm import emu, mctp
    from hw.spdm import messages as msg
    from hw.spdm.exchange import pairs_of, replay
    from hw.spdm.measurements import decode_blocks
    from hw.spdm.pcap import read_pcap
    from hw.spdm.requester import attest
    from hw.spdm.verify import parse_chain

from _harness import run

NONCE = bytes(range(32))
PCAP_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")


class ScriptChannel:
    def __init__(self, script: bytes) -> None:
        self.script = script
        self.at = 0

    def request(self, message: bytes, *, timeout: float) -> bytes:
        if self.at + 2 > len(self.script):
            raise TransportError("the scripted responder fell silent")
        (length,) = struct.unpack_from(">H", self.script, self.at)
        answer = self.script[self.at + 2 : self.at + 2 + length]
        self.at += 2 + length
        return answer


def decode_any(message: bytes) -> None:
    """Every response decoder, at each version and with the sizes of the algorithms provcheck speaks."""
    for version in (0x12, 0x13):
        decoders = (
            lambda v: msg.decode_version(message),
            lambda v: msg.decode_capabilities(message, v),
            lambda v: msg.decode_algorithms(message, v),
            lambda v: msg.decode_digests(message, v, 48),
            lambda v: msg.decode_certificate(message, v),
            lambda v: msg.decode_challenge_auth(message, v, hash_size=48, signature_size=96, summary=True),
            lambda v: msg.decode_measurements(message, v, signature_size=96),
        )
        for decoder in decoders:
            with contextlib.suppress(HardwareError):
                decoder(version)
    with contextlib.suppress(HardwareError):
        answer = msg.decode_measurements(message, 0x12, signature_size=0)
        decode_blocks(answer.record, answer.block_count, digest_size=48)
    with contextlib.suppress(HardwareError):
        parse_chain(message, "SHA-384")


def target(data: bytes) -> None:
    if data[:4] in PCAP_MAGICS:
        replay(pairs_of([record.message for record in read_pcap(data)]))
        return
    if len(data) < 2:
        return
    mode, rest = data[0] % 4, data[1:]
    if mode == 0:
        attest(ScriptChannel(rest), nonce=NONCE, timeout=0.01)
    elif mode == 1:
        chunk = rest[0] % 64 + 1
        decoder, reassembler = mctp.FrameDecoder(), mctp.Reassembler()
        for start in range(1, len(rest), chunk):
            for packet in decoder.feed(rest[start : start + chunk]):
                whole = reassembler.add(packet)
                if whole is not None and len(whole) > 1:
                    decode_any(whole[1:])
    elif mode == 2:
        for item in emu.EmuSplitter().feed(rest):
            decode_any(item.payload[1:] if item.transport == emu.TRANSPORT_MCTP else item.payload)
    else:
        messages, at = [], 0
        while at + 2 <= len(rest):
            (length,) = struct.unpack_from(">H", rest, at)
            messages.append(rest[at + 2 : at + 2 + length])
            at += 2 + length
        replay(pairs_of(messages[: len(messages) // 2 * 2]))


# --- seeds made here, from the simulated responder ----------------------------------------------------


def _pcap(messages: list[bytes]) -> bytes:
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 0xFFFF, 291))
    for message in messages:
        record = b"\x00\x00\x00\xc0\x05" + message
        out += struct.pack("<IIII", 0, 0, len(record), len(record)) + record
    return bytes(out)


class Recording:
    """A channel into the simulated responder that keeps every message."""

    def __init__(self, responder: object) -> None:
        self.responder = responder
        self.messages: list[bytes] = []

    def request(self, message: bytes, *, timeout: float) -> bytes:
        answer: bytes = self.responder.respond(message)  # type: ignore[attr-defined]
        self.messages += [message, answer]
        return answer


def write_seeds(into: Path) -> None:
    from hw.sim.spdm import SpdmResponder

    into.mkdir(parents=True, exist_ok=True)
    for name, tamper, versions in (
        ("honest-13", frozenset(), (0x12, 0x13)),
        ("honest-12", frozenset(), (0x12,)),
        ("honest-11", frozenset(), (0x11,)),
        ("flipped", frozenset({"flipped-measurement"}), (0x13,)),
        ("weak", frozenset({"weak-algorithms"}), (0x12,)),
    ):
        recording = Recording(SpdmResponder(tamper=tamper, versions=versions))
        attest(recording, nonce=NONCE, timeout=1)
        messages = recording.messages
        answers = messages[1::2]
        (into / f"script-{name}.bin").write_bytes(b"\x00" + b"".join(struct.pack(">H", len(a)) + a for a in answers))
        line = b"".join(mctp.encode_message(b"\x05" + a, tag_owner=False, tag=i & 7) for i, a in enumerate(answers))
        (into / f"mctp-{name}.bin").write_bytes(b"\x01\x10" + line)
        frames = b"".join(emu.encode(1, 1, b"\x05" + a) for a in answers)
        (into / f"emu-{name}.bin").write_bytes(b"\x02" + frames)
        (into / f"evidence-{name}.bin").write_bytes(b"\x03" + b"".join(struct.pack(">H", len(m)) + m for m in messages))
        (into / f"recorded-{name}.pcap").write_bytes(_pcap(messages))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--seeds"]:
        write_seeds(Path(sys.argv[2]))
    else:
        run(target, (HardwareError,))
