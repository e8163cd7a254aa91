"""The simulated attest device: the device side of the ``attest`` profile (docs/attest-protocol.md)."""

from __future__ import annotations

import hashlib
import time
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from hw.attest import ATTEST, CERT_CHUNK, PROTOCOL_VERSIONS, SIGNING_CONTEXT
from hw.framing import MIN_ENCODED, CorruptFrame, Frame, FrameSplitter, Kind, decode_frame, encode_frame
from hw.sim.device import COMMON_TAMPERS, STALE_NONCE, SimulatedDevice, SimulatorState
from hw.sim.keys import make_keys


class AttestDevice(SimulatedDevice):
    """A device that speaks the attest protocol: framed CBOR, its certificate chain, signed measurements."""

    profile = ATTEST
    tampers = COMMON_TAMPERS | {"replayed-nonce", "bad-signature", "wrong-device-key"}

    def __init__(self, sim: SimulatorState) -> None:
        super().__init__(sim)
        self.keys = make_keys(self.cfg, rogue="wrong-device-key" in sim.tamper)
        self.chain_blob = cbor2.dumps(list(self.keys.chain))
        self.last_seq: int | None = None
        self.last_answer = b""
        self.ignored_first = "lost-before-attach" not in sim.tamper
        self.frames_seen = 0

    def run(self) -> None:
        splitter = FrameSplitter()
        while not self.sim.stopped and not self.line.closed:
            data = self.line.read(0.1)
            if not data:
                continue
            self.line.arrive(len(data))
            for encoded in splitter.feed(data):
                self.on_frame(encoded)
                if self.line.closed:
                    return

    def on_frame(self, encoded: bytes | None) -> None:
        self.frames_seen += 1
        if not self.ignored_first:
            # Still booting: this frame is lost, as output is before a reader attaches.
            self.ignored_first = True
            return
        if encoded is None:
            self.line.write(encode_frame(Frame(0xFF, Kind.NAK, b"")))
            return
        if len(encoded) < MIN_ENCODED:
            return  # line noise between frames, not a damaged frame
        try:
            frame = decode_frame(encoded)
        except CorruptFrame:
            self.line.write(encode_frame(Frame(0xFF, Kind.NAK, b"")))
            return
        if frame.kind is not Kind.REQUEST:
            return
        self.slow()
        if "flood" in self.sim.tamper and self.frames_seen >= 2:
            junk = b"\x01" * 4096
            end = time.monotonic() + 120
            while not self.sim.stopped and not self.line.closed and time.monotonic() < end:
                self.line.write(junk)
            return
        if frame.seq == self.last_seq:
            self.line.write(self.last_answer)
            return
        try:
            request = cbor2.loads(frame.body)
        except Exception:
            request = None
        answer = self.handle(request if isinstance(request, dict) else {})
        wire = encode_frame(Frame(frame.seq, Kind.RESPONSE, cbor2.dumps(answer)))
        self.last_seq, self.last_answer = frame.seq, wire
        self.line.write(wire)

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "get_version":
            return {"op": "version", "versions": list(PROTOCOL_VERSIONS), "max_body": 4096}
        if op == "get_certificate":
            offset, length = request.get("offset", 0), request.get("length", CERT_CHUNK)
            if not isinstance(offset, int) or not isinstance(length, int) or offset < 0 or length <= 0:
                return {"op": "error", "code": 2, "message": "bad offset or length"}
            length = min(length, CERT_CHUNK)
            return {
                "op": "certificate",
                "offset": offset,
                "total": len(self.chain_blob),
                "data": self.chain_blob[offset : offset + length],
            }
        if op == "get_measurements":
            nonce = request.get("nonce")
            if not isinstance(nonce, bytes) or len(nonce) != 32:
                return {"op": "error", "code": 3, "message": "nonce must be 32 bytes"}
            return self.measurements(nonce)
        return {"op": "error", "code": 1, "message": f"unknown op {op!r}"}

    def measurements(self, nonce: bytes) -> dict[str, Any]:
        if "replayed-nonce" in self.sim.tamper:
            nonce = STALE_NONCE
        payload = {
            "v": 1,
            "nonce": nonce,
            "chain_sha256": hashlib.sha256(self.chain_blob).digest(),
            "identity": {
                "manufacturer": self.cfg.manufacturer,
                "model": self.cfg.model,
                "serial": self.serial,
                "board_revision": self.cfg.board_revision,
                "macs": list(self.cfg.macs),
                "firmware_version": self.cfg.firmware_version,
            },
            "components": [
                {"class": c.cls, "manufacturer": c.manufacturer, "model": c.model, "serial": c.serial,
                 "revision": c.revision}
                for c in self.components
            ],
            "regions": [
                {"name": r.name, "address": r.address, "size": r.size, "alg": "sha256",
                 "digest": hashlib.sha256(r.data).digest()}
                for r in self.regions
            ],
        }
        signed = cbor2.dumps(payload)
        signature = self.keys.device_key.sign(SIGNING_CONTEXT + signed, ec.ECDSA(hashes.SHA256()))
        if "bad-signature" in self.sim.tamper:
            signature = signature[:-1] + bytes([signature[-1] ^ 0x01])
        return {"op": "measurements", "signed": signed, "signature": signature, "alg": "ecdsa-p256-sha256"}
