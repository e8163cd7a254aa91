"""The simulated SPDM responder: the device side of the ``spdm`` profile, over MCTP serial or spdm-emu's TCP socket.

It serves DMTF libspdm's sample ECDSA P-384 chains (slots 0 and 1, ``hw/sim/data/spdm``) and signs with their leaf
key, as DMTF's ``spdm_responder_emu`` does; its deterministic answers (VERSION, CAPABILITIES, ALGORITHMS for a given
request, DIGESTS, CERTIFICATE, the measurement blocks) are the recorded reference responder's bytes
(tests/hw/spdm/test_sim_equals_recorded.py compares them). Tamper knobs make it lie the ways a test needs.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
import time
from dataclasses import dataclass
from importlib import resources
from typing import ClassVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

from hw.sim.device import STALE_NONCE, SimulatedDevice, SimulatorState
from hw.sim.keys import DeviceKeys
from hw.spdm import emu, mctp
from hw.spdm import messages as msg
from hw.spdm.measurements import encode_block
from hw.spdm.profile import SPDM
from hw.spdm.transcript import CHALLENGE_CONTEXT, MEASUREMENTS_CONTEXT, to_be_signed

# The recorded responder's hash-extended measurement (index 0x11), SHA-384; how libspdm derives it is its own.
_HEM_SHA384 = bytes.fromhex(
    "f0a9502bbdb057b94c26e8805c507d20dc7a4afc4f0fff25f6030126400c180b8fc041a92f12690fabf70d5615966e5b"
)
_DEVICE_MODE = bytes.fromhex("3f000000040000001f00000011000000")
_CAPABILITY_FLAGS = msg.CAP_CERT | msg.CAP_CHAL | msg.CAP_MEAS_SIG | msg.CAP_MEAS_FRESH
_TRANSFER_SIZE = 0x1200
_HASHES = {0x01: ("SHA-256", hashes.SHA256), 0x02: ("SHA-384", hashes.SHA384)}
# Preference among what a requester offers in each algorithm structure (DHE, AEAD, ReqBaseAsymAlg, KeySchedule).
_STRUCT_PREFERENCE = {2: (0x10, 0x08, 0x02, 0x01), 3: (0x02, 0x01, 0x04), 4: (0x08, 0x04, 0x02, 0x01), 5: (0x01,)}
_ERROR_INVALID, _ERROR_UNEXPECTED, _ERROR_UNSUPPORTED, _ERROR_VERSION = 0x01, 0x04, 0x07, 0x41

SPDM_TAMPERS = frozenset(
    {
        "swapped-firmware", "bad-signature", "replayed-nonce", "wrong-device-key", "other-key",
        "flipped-measurement", "weak-algorithms", "silent", "truncated", "slow", "drop-bytes", "garble-bytes",
        "disconnect", "flood",
    }
)


@dataclass(frozen=True)
class ResponderData:
    """What the responder holds: its chains (SPDM wire form, per slot) and its leaf key."""

    chains: dict[int, bytes]
    roots: dict[int, bytes]
    key: ec.EllipticCurvePrivateKey


def _file(name: str) -> bytes:
    return resources.files("hw.sim").joinpath("data", "spdm", name).read_bytes()


def chain_blob(certs: bytes, root_der: bytes, hash_name: str) -> bytes:
    """``Length | reserved | H(root) | certificates``: a chain as a slot holds it."""
    root_hash = hashlib.new(hash_name.replace("-", "").lower(), root_der).digest()
    length = 4 + len(root_hash) + len(certs)
    return length.to_bytes(2, "little") + bytes(2) + root_hash + certs


def root_certificate(slot: int) -> bytes:
    """The DER root of slot 0 or 1: what an operator passes as ``--trust-anchor``."""
    return _file("ca.cert.der" if slot == 0 else "ca1.cert.der")


def root_pem(slot: int = 0) -> str:
    return x509.load_der_x509_certificate(root_certificate(slot)).public_bytes(serialization.Encoding.PEM).decode()


def load_data(hash_name: str = "SHA-384", *, other_chain: bool = False) -> ResponderData:
    key = serialization.load_pem_private_key(_file("end_responder.key"), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    certs = {0: _file("bundle_responder.certchain.der"), 1: _file("bundle_responder.certchain1.der")}
    roots = {0: root_certificate(0), 1: root_certificate(1)}
    if other_chain:  # slot 1's chain (a root with slot 0's name and another key) served in slot 0
        certs[0], roots[0] = certs[1], roots[1]
    chains = {slot: chain_blob(certs[slot], roots[slot], hash_name) for slot in certs}
    return ResponderData(chains, roots, key)


def measurement_record(hash_name: str, *, swapped_firmware: bool = False) -> list[bytes]:
    """The blocks the reference responder measures, in its order: 1-4, SVN, HEM, manifest, device mode."""
    algorithm = hash_name.replace("-", "").lower()
    blocks = []
    for index in (1, 2, 3, 4):
        data = bytes([index]) * 72
        if swapped_firmware and index == 2:
            data = data[:-1] + b"\x03"
        blocks.append(encode_block(index, index - 1, hashlib.new(algorithm, data).digest()))
    blocks.append(encode_block(0x10, 0x07, (7).to_bytes(8, "little"), raw=True))
    hem = _HEM_SHA384 if hash_name == "SHA-384" else hashlib.new(algorithm, _HEM_SHA384).digest()
    blocks.append(encode_block(0x11, 0x08, hem))
    blocks.append(encode_block(0xFD, 0x04, b"\xfd" * 128, raw=True))
    blocks.append(encode_block(0xFE, 0x05, _DEVICE_MODE, raw=True))
    return blocks


class SpdmResponder:
    """DSP0274 responder logic, transport-free: ``respond`` takes an SPDM request and gives the response."""

    def __init__(self, *, versions: tuple[int, ...] = (0x12, 0x13), tamper: frozenset[str] = frozenset()) -> None:
        self.versions = versions
        self.tamper = tamper
        self.weak = "weak-algorithms" in tamper
        self.hash_bit = 0x01 if self.weak else 0x02
        self.hash_name, self.hash_class = _HASHES[self.hash_bit]
        self.data = load_data(self.hash_name, other_chain="wrong-device-key" in tamper)
        self.signing_key = self.data.key
        if "other-key" in tamper:
            self.signing_key = ec.derive_private_key(
                int.from_bytes(hashlib.sha384(b"provcheck-sim-spdm-other-key").digest(), "big") >> 8, ec.SECP384R1()
            )
        self.blocks = measurement_record(self.hash_name, swapped_firmware="swapped-firmware" in tamper)
        self.version = 0
        self.vca = bytearray()
        self.b = bytearray()
        self.l_log = bytearray()
        self.negotiated = False
        self.requests = 0

    # -- helpers ------------------------------------------------------------------------------------------------

    def _error(self, code: int, data: int = 0) -> bytes:
        return bytes([self.version or 0x10, msg.Code.ERROR, code, data])

    def _hash(self, data: bytes) -> bytes:
        return hashlib.new(self.hash_name.replace("-", "").lower(), data).digest()

    def _sign(self, context: bytes, transcript: bytes, *, key: ec.EllipticCurvePrivateKey | None = None) -> bytes:
        message = to_be_signed(self.version, context, transcript, self.hash_name)
        der = (key or self.signing_key).sign(message, ec.ECDSA(self.hash_class()))
        r, s = utils.decode_dss_signature(der)
        signature = r.to_bytes(48, "big") + s.to_bytes(48, "big")
        if "bad-signature" in self.tamper:
            signature = signature[:-1] + bytes([signature[-1] ^ 0x01])
        return signature

    # -- the responder ------------------------------------------------------------------------------------------

    def respond(self, request: bytes) -> bytes:
        self.requests += 1
        try:
            head = msg.header(request, "request")
        except msg.SpdmFormatError:
            return self._error(_ERROR_INVALID)
        try:
            return self._dispatch(head, request)
        except (msg.SpdmFormatError, ValueError):
            return self._error(_ERROR_INVALID)

    def _dispatch(self, head: msg.Header, request: bytes) -> bytes:
        if head.code == msg.Code.GET_VERSION:
            self.version, self.negotiated = 0, False
            self.vca, self.b, self.l_log = bytearray(), bytearray(), bytearray()
            entries = b"".join((v << 8).to_bytes(2, "little") for v in self.versions)
            response = bytes([0x10, msg.Code.VERSION, 0, 0, 0, len(self.versions)]) + entries
            self.vca += request + response
            return response
        if head.code == msg.Code.GET_CAPABILITIES:
            if head.version not in self.versions:
                return self._error(_ERROR_VERSION)
            msg.decode_get_capabilities(request)
            self.version = head.version
            response = bytes([self.version, msg.Code.CAPABILITIES, 0, 0, 0, 0, 0, 0])
            response += _CAPABILITY_FLAGS.to_bytes(4, "little")
            if self.version >= 0x12:
                response += _TRANSFER_SIZE.to_bytes(4, "little") * 2
            self.vca += request + response
            return response
        if not self.version or head.version != self.version:
            return self._error(_ERROR_VERSION if self.version else _ERROR_UNEXPECTED)
        if head.code == msg.Code.NEGOTIATE_ALGORITHMS:
            response = self._algorithms(msg.decode_negotiate_algorithms(request))
            if response[1] == msg.Code.ALGORITHMS:
                self.negotiated = True
                self.vca += request + response
            return response
        if not self.negotiated:
            return self._error(_ERROR_UNEXPECTED)
        if head.code == msg.Code.GET_DIGESTS:
            supported = 0x03 if self.version >= 0x13 else 0x00
            response = bytes([self.version, msg.Code.DIGESTS, supported, 0x03])
            response += self._hash(self.data.chains[0]) + self._hash(self.data.chains[1])
            self.b += request + response
            return response
        if head.code == msg.Code.GET_CERTIFICATE:
            response = self._certificate(msg.decode_get_certificate(request))
            if response[1] == msg.Code.CERTIFICATE:
                self.b += request + response
            return response
        if head.code == msg.Code.CHALLENGE:
            return self._challenge(request, msg.decode_challenge(request))
        if head.code == msg.Code.GET_MEASUREMENTS:
            return self._measurements(request, msg.decode_get_measurements(request))
        return self._error(_ERROR_UNSUPPORTED, head.code)

    def _algorithms(self, offer: msg.NegotiateRequest) -> bytes:
        if not offer.base_asym & 0x80 or not offer.base_hash & self.hash_bit:
            return self._error(_ERROR_UNSUPPORTED)  # this responder signs with ECDSA P-384 only
        spec = msg.MEAS_SPEC_DMTF if offer.measurement_spec & msg.MEAS_SPEC_DMTF else 0
        other = offer.other_params & 0x02
        if self.version >= 0x13:
            other |= 0x10  # as the reference responder answers at 1.3
        measurement_hash = (0x02 if self.weak else 0x04) if spec else 0
        structs = b""
        for item in offer.structs:
            chosen = next((bit for bit in _STRUCT_PREFERENCE.get(item.alg_type, ()) if item.supported & bit), 0)
            structs += bytes([item.alg_type, 0x20]) + chosen.to_bytes(2, "little")
        length = 36 + len(structs)
        return (
            bytes([self.version, msg.Code.ALGORITHMS, len(offer.structs), 0])
            + length.to_bytes(2, "little")
            + bytes([spec, other])
            + measurement_hash.to_bytes(4, "little")
            + (0x80).to_bytes(4, "little")
            + self.hash_bit.to_bytes(4, "little")
            + bytes(12 + 4)
            + structs
        )

    def _certificate(self, asked: msg.CertificateRequest) -> bytes:
        chain = self.data.chains.get(asked.slot)
        if chain is None or asked.offset >= len(chain):
            return self._error(_ERROR_INVALID)
        portion = chain[asked.offset : asked.offset + min(asked.length, _TRANSFER_SIZE - 8)]
        remainder = len(chain) - asked.offset - len(portion)
        return (
            bytes([self.version, msg.Code.CERTIFICATE, asked.slot, 0])
            + len(portion).to_bytes(2, "little")
            + remainder.to_bytes(2, "little")
            + portion
        )

    def _challenge(self, request: bytes, asked: msg.ChallengeRequest) -> bytes:
        slot = asked.slot & 0x0F
        chain = self.data.chains.get(slot)
        if chain is None:
            return self._error(_ERROR_INVALID)
        response = bytes([self.version, msg.Code.CHALLENGE_AUTH, slot, 0x03]) + self._hash(chain) + os.urandom(32)
        if asked.summary_type:
            response += self._hash(b"".join(self.blocks))
        response += bytes(2) + (asked.context if self.version >= 0x13 else b"")
        signature = self._sign(CHALLENGE_CONTEXT, bytes(self.vca) + bytes(self.b) + request + response)
        self.b = bytearray()
        return response + signature

    def _measurements(self, request: bytes, asked: msg.MeasurementsRequest) -> bytes:
        if asked.operation == 0:
            blocks: list[bytes] = []
        elif asked.operation == 0xFF:
            blocks = self.blocks
        else:
            blocks = [block for block in self.blocks if block[0] == asked.operation]
            if not blocks:
                return self._error(_ERROR_INVALID)
        record = b"".join(blocks)
        param1 = len(self.blocks) if asked.operation == 0 else 0
        param2 = (0x20 | asked.slot) if asked.signature else 0
        response = (
            bytes([self.version, msg.Code.MEASUREMENTS, param1, param2, len(blocks)])
            + len(record).to_bytes(3, "little")
            + record
            + os.urandom(32)
            + bytes(2)
            + (asked.context if self.version >= 0x13 else b"")
        )
        if not asked.signature:
            self.l_log += request + response
            return response
        head = bytes(self.vca) if self.version >= 0x12 else b""  # 1.1's L1/L2 leaves VCA out
        if "replayed-nonce" in self.tamper:
            # An answer recorded for an earlier request: signed over another nonce than this one.
            stale = msg.get_measurements(
                self.version, operation=asked.operation, nonce=STALE_NONCE, slot=asked.slot, context=asked.context
            )
            signature = self._sign(MEASUREMENTS_CONTEXT, head + bytes(self.l_log) + stale + response)
        else:
            signature = self._sign(MEASUREMENTS_CONTEXT, head + bytes(self.l_log) + request + response)
        self.l_log = bytearray()
        if "flipped-measurement" in self.tamper and record:
            at = 8 + 4 + 8  # a byte inside block 1's digest, changed after signing (a man in the middle)
            response = response[:at] + bytes([response[at] ^ 0x01]) + response[at + 1 :]
        return response + signature


class SpdmDevice(SimulatedDevice):
    """A responder on a simulated serial line, speaking MCTP's serial binding (DSP0253)."""

    profile = SPDM
    tampers: ClassVar[frozenset[str]] = SPDM_TAMPERS

    def __init__(self, sim: SimulatorState) -> None:
        super().__init__(sim)
        self.responder = SpdmResponder(tamper=sim.tamper)

    @classmethod
    def declared(cls, manifest: dict[str, object], config: object) -> dict[str, object]:
        identity = dict(manifest.get("identity") or {})  # type: ignore[call-overload]
        identity.update({"ca_pem": root_pem(0), "fingerprint_sha256": None})
        # The responder proves its leaf certificate and measurements, nothing of a console's identity strings.
        dropped = ("manufacturer", "model", "board_revision", "serial")
        kept = {key: value for key, value in manifest.items() if key not in dropped}
        declared = [
            {"index": block[0], "value": block[7:].hex()} for block in measurement_record("SHA-384")
        ]
        return {**kept, "identity": identity, "components": [], "firmware_regions": [],
                "spdm_measurements": declared}

    @classmethod
    def trust_anchor_pem(cls, keys: DeviceKeys) -> str:
        return root_pem(0)

    def run(self) -> None:
        decoder = mctp.FrameDecoder()
        reassembler = mctp.Reassembler(tag_owner=True)
        tag = 0
        while not self.sim.stopped and not self.line.closed:
            data = self.line.read(0.1)
            if not data:
                continue
            self.line.arrive(len(data))
            for packet in decoder.feed(data):
                tag = packet.tag
                message = reassembler.add(packet)
                if message is None or message[0] & 0x7F != mctp.MESSAGE_TYPE_SPDM:
                    continue
                self.answer(message[1:], tag)
                if self.line.closed:
                    return

    def answer(self, request: bytes, tag: int) -> None:
        self.slow()
        if "flood" in self.sim.tamper and self.responder.requests >= 1:
            end = time.monotonic() + 120
            while not self.sim.stopped and not self.line.closed and time.monotonic() < end:
                self.line.write(b"\x01" * 4096)
            return
        response = self.responder.respond(request)
        code = request[1] if len(request) > 1 else 0
        if code == msg.Code.GET_MEASUREMENTS and "silent" in self.sim.tamper:
            return
        wire = mctp.encode_message(bytes([mctp.MESSAGE_TYPE_SPDM]) + response, tag_owner=False, tag=tag)
        if code == msg.Code.GET_MEASUREMENTS and "truncated" in self.sim.tamper:
            wire = wire[: len(wire) // 2]
        self.line.write(wire)


class EmuServer:
    """The responder on 127.0.0.1 with spdm-emu's TCP framing (MCTP or NONE transport), one client at a time."""

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, tamper: frozenset[str] = frozenset(),
        versions: tuple[int, ...] = (0x12, 0x13), transport: int = emu.TRANSPORT_MCTP,
    ) -> None:
        self.tamper = tamper
        self.versions = versions
        self.transport = transport
        self._listener = socket.create_server((host, port))
        self.host, self.port = self._listener.getsockname()[:2]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="sim-spdm-emu", daemon=True)

    @property
    def url(self) -> str:
        suffix = "?transport=none" if self.transport == emu.TRANSPORT_NONE else ""
        return f"spdm-emu://{self.host}:{self.port}{suffix}"

    def __enter__(self) -> EmuServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        self._thread.join(timeout=5)

    def _serve(self) -> None:
        self._listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with client:
                self._session(client)

    def _session(self, client: socket.socket) -> None:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.settimeout(0.1)
        responder = SpdmResponder(versions=self.versions, tamper=self.tamper)
        splitter = emu.EmuSplitter()
        while not self._stop.is_set():
            try:
                data = client.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            try:
                frames = splitter.feed(data)
            except Exception:
                return
            for item in frames:
                if item.command in (emu.COMMAND_CONTINUE, emu.COMMAND_SHUTDOWN):
                    with contextlib.suppress(OSError):
                        client.sendall(emu.encode(item.command, self.transport, b""))
                    return
                if item.command != emu.COMMAND_NORMAL or item.transport != self.transport:
                    with contextlib.suppress(OSError):
                        client.sendall(emu.encode(emu.COMMAND_UNKNOWN, self.transport, b""))
                    continue
                payload = item.payload
                if self.transport == emu.TRANSPORT_MCTP:
                    if not payload or payload[0] != mctp.MESSAGE_TYPE_SPDM:
                        continue
                    payload = payload[1:]
                code = payload[1] if len(payload) > 1 else 0
                response = responder.respond(payload)
                if code == msg.Code.GET_MEASUREMENTS and "silent" in self.tamper:
                    continue
                if self.transport == emu.TRANSPORT_MCTP:
                    response = bytes([mctp.MESSAGE_TYPE_SPDM]) + response
                wire = emu.encode(emu.COMMAND_NORMAL, self.transport, response)
                if code == msg.Code.GET_MEASUREMENTS and "truncated" in self.tamper:
                    wire = wire[: len(wire) // 2]
                with contextlib.suppress(OSError):
                    client.sendall(wire)
