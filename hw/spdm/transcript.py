"""SPDM transcripts: M1/M2 (CHALLENGE_AUTH), L1/L2 (MEASUREMENTS) and the 1.2+ signing context.

Hand-written: no maintained Python SPDM requester exists. As DSP0274 defines them (and as DMTF's reference
responder signs, checked against its recorded bytes):

- A = GET_VERSION, VERSION, GET_CAPABILITIES, CAPABILITIES, NEGOTIATE_ALGORITHMS, ALGORITHMS (the "VCA");
- M1/M2 = A || B || C, B every GET_DIGESTS/DIGESTS/GET_CERTIFICATE/CERTIFICATE since A, C the CHALLENGE and the
  CHALLENGE_AUTH without its signature;
- L1/L2 = A || GET_MEASUREMENTS || MEASUREMENTS without its signature (1.2+; 1.1 leaves A out);
- from 1.2 the signature is over ``prefix || H(transcript)``, the prefix being ``dmtf-spdm-v1.N.*`` four times,
  zero padding and the context string (100 bytes); 1.1 signs the transcript itself.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

CHALLENGE_CONTEXT = b"responder-challenge_auth signing"
MEASUREMENTS_CONTEXT = b"responder-measurements signing"
_HASHES = {"SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}


def digest(hash_name: str, data: bytes) -> bytes:
    return hashlib.new(_HASHES[hash_name], data).digest()


def signing_prefix(version: int, context: bytes) -> bytes:
    """The combined SPDM prefix of 1.2+ (64 bytes of version prefix, zero padding, the context: 100 bytes)."""
    if len(context) > 36:
        raise ValueError("an SPDM signing context is at most 36 bytes")
    return f"dmtf-spdm-v{version >> 4}.{version & 0x0F}.*".encode() * 4 + bytes(36 - len(context)) + context


def to_be_signed(version: int, context: bytes, transcript: bytes, hash_name: str) -> bytes:
    """The message the responder's signature algorithm (with the negotiated hash) signs."""
    if version >= 0x12:
        return signing_prefix(version, context) + digest(hash_name, transcript)
    return transcript


@dataclass
class Transcripts:
    """The messages of one connection, in the order the requester sent and received them."""

    vca: bytearray = field(default_factory=bytearray)
    b: bytearray = field(default_factory=bytearray)

    def add_vca(self, request: bytes, response: bytes) -> None:
        self.vca += request + response

    def add_b(self, request: bytes, response: bytes) -> None:
        self.b += request + response

    def m1(self, challenge: bytes, auth_unsigned: bytes) -> bytes:
        return bytes(self.vca) + bytes(self.b) + challenge + auth_unsigned

    def l1(self, version: int, request: bytes, response_unsigned: bytes) -> bytes:
        head = bytes(self.vca) if version >= 0x12 else b""
        return head + request + response_unsigned
