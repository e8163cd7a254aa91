"""The ``spdm`` console profile: an SPDM responder on a serial line (MCTP, DSP0253) or spdm-emu's TCP socket.

Hand-written: no maintained Python SPDM requester exists. The reader's facts are what ``hw.spdm.exchange`` derived
while the messages arrived; the evidence keeps every message (``SpdmRecord``) so that the verifier derives them
again, offline, against the trust anchor it is given: nothing the file says about itself is taken.
"""

from __future__ import annotations

import base64
from typing import Any

from hw.errors import DeviceProtocolError, TransportError
from hw.evidence import Fact, IdentityKey, Observable, SpdmRecord
from hw.profile import ProfileFacts, ReadOptions
from hw.spdm import messages as msg
from hw.spdm.exchange import Exchange
from hw.spdm.requester import attest, channel_for
from hw.spdm.verify import leaf_fingerprint, leaf_key, load_certificate
from hw.transport import Transport


def summary(exchange: Exchange, slot: int) -> dict[str, Any]:
    """What the exchange says, for people: version, algorithms, capabilities, blocks, what verified."""
    out: dict[str, Any] = {"version": msg.version_text(exchange.version) if exchange.version else None}
    if exchange.capabilities is not None:
        out["capabilities"] = list(exchange.capabilities.flag_names())
    if exchange.algorithms is not None:
        a = exchange.algorithms
        out["algorithms"] = {"asym": a.asym_name, "hash": a.hash_name, "measurement_hash": a.measurement_hash_name}
    if exchange.challenge is not None:
        out["challenge_signature_verified"] = exchange.challenge.signature_verified
    if exchange.measurements is not None:
        out["measurements_signature_verified"] = exchange.measurements.signature_verified
        out["blocks"] = [
            {"index": b.index, "type": b.type_name, "form": b.form, "value": b.value.hex()}
            for b in exchange.measurements.blocks
        ]
    out["slot"] = slot
    return out


def _pem(der: bytes) -> str:
    body = base64.encodebytes(der).decode().replace("\n", "")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def facts_of(exchange: Exchange, slot: int) -> ProfileFacts:
    from cryptography.hazmat.primitives import serialization

    facts = ProfileFacts(SpdmProfile.name)
    record = tuple(base64.b64encode(m).decode() for m in exchange.messages)
    facts.spdm = SpdmRecord(record, slot, summary(exchange, slot))
    chain = exchange.chain(slot)
    verified = bool(
        exchange.challenge and exchange.challenge.signature_verified
        and exchange.measurements and exchange.measurements.signature_verified
    )
    strength = "signed" if verified else "reported"
    if chain is not None:
        leaf = load_certificate(chain.certs[-1])
        pem = leaf_key(chain).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
        facts.identity_key = IdentityKey(
            leaf_fingerprint(chain), pem, tuple(_pem(der) for der in reversed(chain.certs)), strength
        )
        facts.identity["subject"] = Fact(leaf.subject.rfc4514_string()[:256], strength, "spdm leaf certificate")
    if not verified:
        facts.notes.append("an SPDM signature did not verify with the leaf of the slot's certificate chain")
    return facts


def probe(transport: Transport, *, timeout: float) -> bool:
    try:
        response = channel_for(transport).request(msg.get_version(), timeout=timeout)
        msg.decode_version(response)
    except (TransportError, DeviceProtocolError):
        return False
    return True


class SpdmProfile:
    """SPDM's binding of ``hw.profile.ConsoleProfile``."""

    name = "spdm"
    # Measurement blocks and the leaf certificate, no component list.
    observable = Observable.of()

    def recognizes(self, console_tail: bytes) -> bool:
        return False  # MCTP frames, not text: only the probe tells

    def answers_probe(self, transport: Transport, *, timeout: float) -> bool:
        return probe(transport, timeout=timeout)

    def read(self, transport: Transport, options: ReadOptions, session_seconds: float) -> ProfileFacts:
        if options.nonce is None or len(options.nonce) != msg.NONCE_BYTES:
            raise ValueError(f"the spdm profile needs a {msg.NONCE_BYTES}-byte nonce")
        session = attest(channel_for(transport), nonce=options.nonce, timeout=options.read_timeout)
        facts = facts_of(session.exchange, 0)
        facts.steps.update(session.steps)
        return facts


SPDM = SpdmProfile()
