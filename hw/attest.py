"""The attest profile: host side of the framed, signed measurement protocol.

Flow (SPDM-shaped; docs/attest-protocol.md is normative):

1. ``get_version``: agree on a protocol version.
2. ``get_certificate`` (in chunks): the device's certificate chain, leaf first, up to the vendor CA.
3. ``get_measurements`` with a fresh 32-byte nonce: the device returns a CBOR payload holding the
   nonce, the sha256 of the chain it presented, its identity, components and region digests,
   signed with the key of the leaf certificate.

A frame that arrives damaged is asked for again, up to ``retries`` times; after that the
session is inconclusive (``TransportError``). A well-formed answer whose signature fails
is kept as evidence with ``signature_verified = False``: that is the verifier's fail.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Mapping
from typing import Any

from hw.device_cbor import bounded_text, decode_device_cbor
from hw.errors import DeviceProtocolError, TransportError
from hw.evidence import Component, Fact, IdentityKey, Observable, RegionDigest, SignedMeasurements
from hw.framing import MAX_BODY, CorruptFrame, Frame, FrameSplitter, Kind, decode_frame, encode_frame
from hw.profile import ProfileFacts, ReadOptions
from hw.transport import Transport

# Heavy, so imported inside the functions that use them (pyproject's TID253): cryptography, loaded only
# when a device's attestation is verified, and cbor2 (~80 ms), loaded when a frame is built or read: every
# --profile choice imports this module through the registry.

PROTOCOL_VERSIONS = (1,)
SIGNING_CONTEXT = b"provcheck-attest/v1 measurements\x00"
CERT_CHUNK = 1024
MAX_CHAIN_BYTES = 64 * 1024
NONCE_BYTES = 32
ALGORITHMS = ("ecdsa-p256-sha256", "ecdsa-p384-sha384", "ed25519")


class AttestClient:
    """Request/response over frames, with sequence numbers and a bounded retry."""

    def __init__(self, transport: Transport, *, read_timeout: float, retries: int = 3) -> None:
        self.transport = transport
        self.read_timeout = read_timeout
        self.retries = retries
        self._seq = 0
        self._splitter = FrameSplitter()
        self.retransmissions = 0

    def request(self, message: Mapping[str, Any], *, timeout: float | None = None) -> dict[str, Any]:
        self._seq = (self._seq + 1) & 0xFF
        seq = self._seq
        import cbor2

        body = cbor2.dumps(dict(message))
        wire = encode_frame(Frame(seq, Kind.REQUEST, body))
        wait = timeout or self.read_timeout
        for attempt in range(self.retries + 1):
            if attempt:
                self.retransmissions += 1
                self.transport.transcript.note(f"retry seq={seq} attempt={attempt}")
            self.transport.write(wire)
            frame = self._await(seq, wait)
            if frame is None:
                continue
            # A CRC-valid body outside the strict profile is the device's fault, not the line's: no retry.
            decoded = decode_device_cbor(frame.body, what=f"the device's answer to {message.get('op')}")
            self.transport.deadline.check("attest session")
            if not isinstance(decoded, dict):
                raise DeviceProtocolError("the device sent a CBOR message that is not a map")
            if decoded.get("op") == "error":
                raise DeviceProtocolError(
                    f"the device refused {message.get('op')}: {bounded_text(decoded.get('message', ''))}"
                )
            return decoded
        raise TransportError(
            f"no intact answer to {message.get('op')} after {self.retries + 1} attempts: the line is too noisy"
        )

    def _await(self, seq: int, wait: float) -> Frame | None:
        """The response to ``seq``; None when it should be asked for again (NAK, damage, silence)."""
        end = time.monotonic() + wait
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return None
            self.transport.deadline.check("attest session")
            data = self.transport.read(MAX_BODY, left)
            for encoded in self._splitter.feed(data):
                if encoded is None:
                    return None
                try:
                    frame = decode_frame(encoded)
                except CorruptFrame:
                    return None
                if frame.kind is Kind.NAK:
                    return None
                if frame.kind is Kind.RESPONSE and frame.seq == seq:
                    return frame
                # A late answer to an earlier request: ignore it.


def probe(transport: Transport, *, timeout: float) -> bool:
    """True when the port answers a get_version frame."""
    client = AttestClient(transport, read_timeout=timeout, retries=1)
    try:
        answer = client.request({"op": "get_version"})
    except (TransportError, DeviceProtocolError):
        return False
    return answer.get("op") == "version"


def read_attest(transport: Transport, options: ReadOptions) -> ProfileFacts:
    if options.nonce is None or len(options.nonce) != NONCE_BYTES:
        raise ValueError(f"the attest profile needs a {NONCE_BYTES}-byte nonce")
    facts = ProfileFacts(AttestProfile.name)
    client = AttestClient(transport, read_timeout=options.read_timeout)

    started = time.monotonic()
    version_msg = client.request({"op": "get_version", "versions": list(PROTOCOL_VERSIONS)})
    offered = version_msg.get("versions")
    # Only plain integers: a device may put anything in the list, and lists or maps are unhashable.
    listed = offered if isinstance(offered, list) else []
    common = sorted({v for v in listed if isinstance(v, int) and not isinstance(v, bool)} & set(PROTOCOL_VERSIONS))
    if not common:
        shown = "[" + ", ".join(bounded_text(v, 20) for v in listed[:8]) + "]" if listed else bounded_text(offered)
        raise DeviceProtocolError(f"the device speaks protocol versions {shown}; provcheck speaks 1")
    version = common[-1]
    facts.steps["version"] = round(time.monotonic() - started, 6)

    started = time.monotonic()
    chain_blob = _fetch_chain(client)
    facts.steps["certificate"] = round(time.monotonic() - started, 6)

    started = time.monotonic()
    answer = client.request({"op": "get_measurements", "v": version, "nonce": options.nonce})
    facts.steps["measurements"] = round(time.monotonic() - started, 6)
    if client.retransmissions:
        facts.notes.append(f"{client.retransmissions} frame(s) retransmitted after line errors")

    signed = answer.get("signed")
    signature = answer.get("signature")
    algorithm = answer.get("alg")
    if not isinstance(signed, bytes) or not isinstance(signature, bytes) or algorithm not in ALGORITHMS:
        raise DeviceProtocolError("the measurements answer lacks 'signed', 'signature' or a known 'alg'")
    chain_der = _chain_certs(chain_blob)
    leaf_key_pem, fingerprint = _leaf_key(chain_der[0])
    verified = verify_signature(chain_der[0], str(algorithm), signed, signature)
    facts.attestation = SignedMeasurements(
        version, str(algorithm), base64.b64encode(signed).decode(), base64.b64encode(signature).decode(), verified
    )
    facts.identity_key = IdentityKey(fingerprint, leaf_key_pem, tuple(_pem(der) for der in chain_der), "signed")
    payload = decode_payload(signed)
    payload_facts(facts, payload, hashlib.sha256(chain_blob).digest())
    return facts


def _fetch_chain(client: AttestClient) -> bytes:
    blob = bytearray()
    total: int | None = None
    while total is None or len(blob) < total:
        answer = client.request({"op": "get_certificate", "offset": len(blob), "length": CERT_CHUNK})
        data, offered_total = answer.get("data"), answer.get("total")
        if not isinstance(data, bytes) or not isinstance(offered_total, int) or answer.get("offset") != len(blob):
            raise DeviceProtocolError("malformed certificate answer")
        if not 0 < offered_total <= MAX_CHAIN_BYTES or (total is not None and offered_total != total):
            raise DeviceProtocolError(f"certificate chain of {offered_total} bytes is not acceptable")
        total = offered_total
        if not data:
            raise DeviceProtocolError("the device stopped sending its certificate chain")
        blob.extend(data[: total - len(blob)])
    return bytes(blob)


def _chain_certs(blob: bytes) -> list[bytes]:
    certs = decode_device_cbor(blob, what="certificate chain")
    if not isinstance(certs, list) or not certs or not all(isinstance(c, bytes) for c in certs):
        raise DeviceProtocolError("certificate chain must be a non-empty CBOR array of DER certificates")
    return list(certs)


def _leaf_key(der: bytes) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    try:
        cert = x509.load_der_x509_certificate(der)
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm, x509.InvalidVersion) as exc:
        raise DeviceProtocolError(f"leaf certificate is not valid DER X.509: {exc}") from exc
    spki = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return pem, hashlib.sha256(spki).hexdigest()


def chain_blob_of(chain_der: list[bytes]) -> bytes:
    """The chain as the protocol carries it: a definite-length CBOR array of DER certificates."""
    import cbor2

    return cbor2.dumps(list(chain_der))


def _pem(der: bytes) -> str:
    body = base64.encodebytes(der).decode().replace("\n", "")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def verify_signature(leaf_der: bytes, algorithm: str, signed: bytes, signature: bytes) -> bool:
    """Whether ``signature`` over the signing context and ``signed`` verifies with the leaf's key."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    try:
        key = x509.load_der_x509_certificate(leaf_der).public_key()
    except (ValueError, UnsupportedAlgorithm, x509.InvalidVersion):
        return False
    message = SIGNING_CONTEXT + signed
    try:
        if algorithm == "ed25519" and isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, message)
            return True
        if algorithm.startswith("ecdsa-") and isinstance(key, ec.EllipticCurvePublicKey):
            curve = {"ecdsa-p256-sha256": "secp256r1", "ecdsa-p384-sha384": "secp384r1"}[algorithm]
            if key.curve.name != curve:
                return False
            digest = hashes.SHA256() if algorithm.endswith("sha256") else hashes.SHA384()
            key.verify(signature, message, ec.ECDSA(digest))
            return True
    except (InvalidSignature, ValueError):
        return False
    return False


def decode_payload(signed: bytes) -> dict[str, Any]:
    payload = decode_device_cbor(signed, what="signed measurements")
    if not isinstance(payload, dict):
        raise DeviceProtocolError("signed measurements must be a CBOR map")
    return payload


def _text(value: Any) -> str | None:
    return value[:256] if isinstance(value, str) else None


def payload_facts(facts: ProfileFacts, payload: Mapping[str, Any], chain_digest: bytes) -> None:
    """Add the facts a signed payload states to ``facts``; the verifier uses it to re-derive them."""
    source = "attest measurements"
    identity = payload.get("identity") if isinstance(payload.get("identity"), dict) else {}
    assert isinstance(identity, dict)
    for name in ("manufacturer", "model", "serial", "board_revision", "firmware_version"):
        value = _text(identity.get(name))
        if value is not None:
            facts.identity[name] = Fact(value, "signed", source)
    macs = identity.get("macs")
    if isinstance(macs, list) and all(isinstance(m, str) for m in macs):
        facts.identity["macs"] = Fact([m.lower()[:32] for m in macs[:64]], "signed", source)
    components = payload.get("components")
    for item in components[:256] if isinstance(components, list) else []:
        if isinstance(item, dict) and isinstance(item.get("class"), str):
            facts.components.append(
                Component(
                    item["class"][:64],
                    _text(item.get("manufacturer")),
                    _text(item.get("model")),
                    _text(item.get("serial")),
                    _text(item.get("revision")),
                    "signed",
                    source,
                )
            )
    regions = payload.get("regions")
    for item in regions[:256] if isinstance(regions, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        digest = item.get("digest")
        if item.get("alg") != "sha256" or not isinstance(digest, bytes) or len(digest) != 32:
            facts.notes.append(f"region {item['name'][:64]}: unsupported digest, ignored")
            continue
        address, size = item.get("address"), item.get("size")
        facts.regions.append(
            RegionDigest(
                item["name"][:64],
                address if isinstance(address, int) else None,
                size if isinstance(size, int) else None,
                "sha256",
                digest.hex(),
                "attest",
                "signed",
            )
        )
    if payload.get("chain_sha256") != chain_digest:
        facts.notes.append("the signed payload names a different certificate chain than the one presented")


class AttestProfile:
    """The attest protocol's binding of ``hw.profile.ConsoleProfile``."""

    name = "attest"
    # The device signs its own list of components, whatever their class.
    observable = Observable.ANY

    def recognizes(self, console_tail: bytes) -> bool:
        return False  # frames, not text: only the probe tells

    def answers_probe(self, transport: Transport, *, timeout: float) -> bool:
        return probe(transport, timeout=timeout)

    def read(self, transport: Transport, options: ReadOptions, session_seconds: float) -> ProfileFacts:
        return read_attest(transport, options)


ATTEST = AttestProfile()
