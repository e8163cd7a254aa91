"""What an SPDM exchange proves, replayed from its messages: the one place a transcript becomes facts.

Hand-written: no maintained Python SPDM requester exists. The live requester feeds each request and response
here as it goes; a recorded exchange (a pcap, or the messages kept in an evidence file) is fed the same way
offline, so what ``intake --evidence`` re-derives is what the reader derived, from the bytes alone.

Per DSP0274: GET_VERSION starts a connection (A is reset), B collects GET_DIGESTS/GET_CERTIFICATE pairs until a
CHALLENGE consumes it, a signed GET_MEASUREMENTS closes the L1/L2 log that unsigned ones opened.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hw.spdm import messages as msg
from hw.spdm.measurements import MeasurementBlock, decode_blocks
from hw.spdm.transcript import (
    CHALLENGE_CONTEXT,
    MEASUREMENTS_CONTEXT,
    Transcripts,
    digest,
    to_be_signed,
)
from hw.spdm.verify import SpdmChain, leaf_key, parse_chain, verify_signature


def _verifies(
    chain: SpdmChain, negotiated: msg.Algorithms, message: bytes, signature: bytes, keys: dict[bytes, PublicKeyTypes]
) -> bool:
    """Whether the chain's leaf key signed ``message``; a leaf whose key cannot be read signed nothing."""
    key = keys.get(chain.blob)
    if key is None:
        try:
            key = keys[chain.blob] = leaf_key(chain)
        except msg.SpdmFormatError:
            return False
    return verify_signature(key, negotiated.asym_name, negotiated.hash_name, message, signature)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

MAX_MESSAGES = 1024
MAX_CHAIN = 0xFFFF


@dataclass(frozen=True)
class ChallengeResult:
    slot: int
    requester_nonce: bytes
    responder_nonce: bytes
    cert_chain_hash: bytes
    summary_type: int
    summary_hash: bytes
    signature_verified: bool
    #: Whether CertChainHash is the hash of the chain read from the slot (None: that chain was not read).
    chain_hash_matches: bool | None


@dataclass(frozen=True)
class MeasurementsResult:
    slot: int
    requester_nonce: bytes
    responder_nonce: bytes
    blocks: tuple[MeasurementBlock, ...]
    signed: bool
    signature_verified: bool


@dataclass
class Exchange:
    """Facts of one SPDM connection, fed request/response pairs in order."""

    offered_versions: tuple[int, ...] = ()
    version: int = 0
    capabilities: msg.Capabilities | None = None
    algorithms: msg.Algorithms | None = None
    digests: dict[int, bytes] = field(default_factory=dict)
    chains: dict[int, bytes] = field(default_factory=dict)
    chain_complete: dict[int, bool] = field(default_factory=dict)
    challenge: ChallengeResult | None = None
    measurements: MeasurementsResult | None = None
    transcripts: Transcripts = field(default_factory=Transcripts)
    messages: list[bytes] = field(default_factory=list)
    _l_log: bytearray = field(default_factory=bytearray)
    _parsed: dict[int, tuple[tuple[bytes, str], SpdmChain]] = field(default_factory=dict)
    _keys: dict[bytes, PublicKeyTypes] = field(default_factory=dict)

    # -- helpers ------------------------------------------------------------------------------------------------

    def _negotiated(self) -> msg.Algorithms:
        if self.algorithms is None or not self.version:
            raise msg.SpdmFormatError("a message that needs negotiated algorithms came before ALGORITHMS")
        return self.algorithms

    def chain(self, slot: int) -> SpdmChain | None:
        blob = self.chains.get(slot)
        if blob is None or not self.chain_complete.get(slot):
            return None
        hash_name = self._negotiated().hash_name
        cached = self._parsed.get(slot)
        if cached is None or cached[0] != (blob, hash_name):
            cached = ((blob, hash_name), parse_chain(blob, hash_name))
            self._parsed[slot] = cached
        return cached[1]

    # -- the replay ---------------------------------------------------------------------------------------------

    def feed(self, request: bytes, response: bytes) -> None:
        if len(self.messages) >= 2 * MAX_MESSAGES:
            raise msg.SpdmFormatError(f"more than {MAX_MESSAGES} requests in one exchange")
        self.messages += [request, response]
        head = msg.header(request, "request")
        code = head.code
        if code == msg.Code.GET_VERSION:
            if request != msg.get_version():
                raise msg.SpdmFormatError("GET_VERSION is not 10 84 00 00")
            self.offered_versions = msg.decode_version(response).versions
            self._reset()
            self.transcripts.add_vca(request, response)
            return
        if not self.offered_versions:
            raise msg.SpdmFormatError(f"request 0x{code:02x} before GET_VERSION")
        if code == msg.Code.GET_CAPABILITIES:
            if head.version not in self.offered_versions or head.version not in msg.VERSIONS:
                raise msg.SpdmFormatError(f"GET_CAPABILITIES at version 0x{head.version:02x}, which was not offered")
            self.version = head.version
            self.capabilities = msg.decode_capabilities(response, self.version)
            self.transcripts.add_vca(request, response)
            return
        if head.version != self.version:
            raise msg.SpdmFormatError(f"request at version 0x{head.version:02x} after 0x{self.version:02x} was chosen")
        if code == msg.Code.NEGOTIATE_ALGORITHMS:
            offer = msg.decode_negotiate_algorithms(request)
            algorithms = msg.decode_algorithms(response, self.version)
            if not algorithms.base_asym & offer.base_asym or not algorithms.base_hash & offer.base_hash:
                raise msg.SpdmFormatError("ALGORITHMS selects an algorithm the request did not offer")
            self.algorithms = algorithms
            self.transcripts.add_vca(request, response)
            return
        negotiated = self._negotiated()
        if code == msg.Code.GET_DIGESTS:
            self.digests = msg.decode_digests(response, self.version, negotiated.hash_size).digests
            self.transcripts.add_b(request, response)
        elif code == msg.Code.GET_CERTIFICATE:
            self._certificate(request, response)
            self.transcripts.add_b(request, response)
        elif code == msg.Code.CHALLENGE:
            self._challenge(request, response)
        elif code == msg.Code.GET_MEASUREMENTS:
            self._measurements(request, response)
        else:
            raise msg.SpdmFormatError(f"request code 0x{code:02x} is not part of the attestation flow")

    def _reset(self) -> None:
        self.version = 0
        self.capabilities = self.algorithms = None
        self.digests, self.chains, self.chain_complete = {}, {}, {}
        self.transcripts = Transcripts()
        self._l_log = bytearray()

    def _certificate(self, request: bytes, response: bytes) -> None:
        asked = msg.decode_get_certificate(request)
        got = msg.decode_certificate(response, self.version)
        if got.slot != asked.slot:
            raise msg.SpdmFormatError(f"CERTIFICATE for slot {got.slot}, slot {asked.slot} was asked for")
        have = self.chains.get(asked.slot, b"") if asked.offset else b""
        if asked.offset != len(have):
            raise msg.SpdmFormatError(f"GET_CERTIFICATE at offset {asked.offset}, {len(have)} bytes were read")
        if len(got.portion) > asked.length:
            raise msg.SpdmFormatError(f"CERTIFICATE sent {len(got.portion)} bytes, {asked.length} were asked for")
        blob = have + got.portion
        if len(blob) + got.remainder > MAX_CHAIN:
            raise msg.SpdmFormatError(f"a certificate chain of {len(blob) + got.remainder} bytes is too long")
        self.chains[asked.slot] = blob
        self.chain_complete[asked.slot] = got.remainder == 0

    def _challenge(self, request: bytes, response: bytes) -> None:
        negotiated = self._negotiated()
        asked = msg.decode_challenge(request)
        auth = msg.decode_challenge_auth(
            response,
            self.version,
            hash_size=negotiated.hash_size,
            signature_size=negotiated.signature_size,
            summary=asked.summary_type != 0,
        )
        if auth.slot != asked.slot & 0x0F:
            raise msg.SpdmFormatError(f"CHALLENGE_AUTH for slot {auth.slot}, slot {asked.slot} was challenged")
        transcript = self.transcripts.m1(request, auth.unsigned)
        self.transcripts.b = bytearray()
        chain = self.chain(auth.slot)
        verified = False
        chain_hash_matches = None
        if chain is not None:
            chain_hash_matches = digest(negotiated.hash_name, chain.blob) == auth.cert_chain_hash
            message = to_be_signed(self.version, CHALLENGE_CONTEXT, transcript, negotiated.hash_name)
            verified = _verifies(chain, negotiated, message, auth.signature, self._keys)
        self.challenge = ChallengeResult(
            auth.slot, asked.nonce, auth.nonce, auth.cert_chain_hash, asked.summary_type, auth.summary_hash, verified,
            chain_hash_matches,
        )

    def _measurements(self, request: bytes, response: bytes) -> None:
        negotiated = self._negotiated()
        asked = msg.decode_get_measurements(request)
        answer = msg.decode_measurements(
            response, self.version, signature_size=negotiated.signature_size if asked.signature else 0
        )
        digest_size = len(digest(negotiated.measurement_hash_name, b"")) if negotiated.measurement_hash > 1 else None
        blocks = decode_blocks(answer.record, answer.block_count, digest_size=digest_size)
        if asked.operation not in (0, 0xFF) and [b.index for b in blocks] != [asked.operation]:
            raise msg.SpdmFormatError(f"MEASUREMENTS answers other indices than {asked.operation}")
        if asked.signature and answer.slot != asked.slot:
            raise msg.SpdmFormatError(f"MEASUREMENTS signed with slot {answer.slot}, slot {asked.slot} was asked for")
        # Another RequesterContext than the request's (an answer replayed from another request) is not malformed:
        # the signature, over this request and that answer, fails, and that is the finding.
        self._l_log += request + (answer.unsigned if asked.signature else response)
        verified = False
        if asked.signature:
            head = bytes(self.transcripts.vca) if self.version >= 0x12 else b""
            transcript = head + bytes(self._l_log)
            self._l_log = bytearray()
            chain = self.chain(asked.slot)
            if chain is not None:
                message = to_be_signed(self.version, MEASUREMENTS_CONTEXT, transcript, negotiated.hash_name)
                verified = _verifies(chain, negotiated, message, answer.signature, self._keys)
        self.measurements = MeasurementsResult(
            answer.slot, asked.nonce, answer.nonce, blocks, asked.signature, verified
        )

    # -- derived facts ------------------------------------------------------------------------------------------

    def summary_matches(self) -> bool | None:
        """Whether CHALLENGE_AUTH's all-measurements summary hash is the hash of the blocks read; None if untold."""
        if self.challenge is None or self.measurements is None or self.challenge.summary_type != 0xFF:
            return None
        record = b"".join(block.encoded for block in self.measurements.blocks)
        return digest(self._negotiated().hash_name, record) == self.challenge.summary_hash

    def digest_matches(self, slot: int) -> bool | None:
        """Whether GET_DIGESTS's digest of ``slot`` is the hash of the chain read from it."""
        blob = self.chains.get(slot)
        if blob is None or slot not in self.digests or not self.chain_complete.get(slot):
            return None
        return digest(self._negotiated().hash_name, blob) == self.digests[slot]


def replay(pairs: list[tuple[bytes, bytes]]) -> Exchange:
    exchange = Exchange()
    for request, response in pairs:
        exchange.feed(request, response)
    return exchange


def pairs_of(messages: list[bytes]) -> list[tuple[bytes, bytes]]:
    """Alternating requests and responses as pairs; an odd count is a truncated recording."""
    if len(messages) % 2:
        raise msg.SpdmFormatError(f"{len(messages)} messages: a request without its response")
    if len(messages) > 2 * MAX_MESSAGES:
        raise msg.SpdmFormatError(f"more than {MAX_MESSAGES} requests in one exchange")
    return [(messages[i], messages[i + 1]) for i in range(0, len(messages), 2)]
