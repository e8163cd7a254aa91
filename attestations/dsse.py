"""DSSE envelopes: parse, sign, and check which keys signed them.

This module establishes facts only (which keys produced a valid signature);
whether that is enough is the verifier's decision.
"""

from __future__ import annotations

import base64
import binascii
import json
import multiprocessing
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attestations.errors import InputError, UnsupportedError
from attestations.files import write_atomic
from attestations.keys import PublicKey, Signer, public_key_from_crypto
from attestations.predicates import INTOTO_PAYLOAD_TYPE

# Heavy, so imported inside the functions that use it: cryptography (~20-50 ms),
# loaded only when keys are rebuilt in a worker process.

KNOWN_PAYLOAD_TYPES = frozenset({INTOTO_PAYLOAD_TYPE})


@dataclass(frozen=True)
class DsseSignature:
    keyid: str
    sig: bytes


@dataclass(frozen=True)
class Envelope:
    payload: bytes
    payload_type: str
    signatures: tuple[DsseSignature, ...]
    source: str = ""

    def pae(self) -> bytes:
        return pae(self.payload_type, self.payload)

    def to_json(self) -> dict[str, Any]:
        return {
            "payload": base64.b64encode(self.payload).decode(),
            "payloadType": self.payload_type,
            "signatures": [{"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode()} for s in self.signatures],
        }


@dataclass(frozen=True)
class SignatureCheck:
    """Which distinct keys produced a valid signature over the envelope."""

    valid_keyids: tuple[str, ...]
    signature_count: int
    invalid_count: int

    @property
    def distinct_valid(self) -> int:
        return len(self.valid_keyids)


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: what is actually signed."""
    type_bytes = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(type_bytes), type_bytes, len(payload), payload)


_URLSAFE_TO_STANDARD = str.maketrans("-_", "+/")


def _b64decode(text: Any, what: str, source: str) -> bytes:
    """Base64 that decodes to one byte string in every decoder.

    DSSE allows the standard and the URL-safe alphabet, padded or not. Anything looser is refused: lenient
    decoders skip characters outside the alphabet (Python) where others stop or fail, a mix of both
    alphabets is read differently, and unused trailing bits that are not zero let two texts carry the
    same bytes. Whitespace is refused for the same reason.
    """
    if not isinstance(text, str):
        raise InputError(f"{source}: {what} is not a base64 string")
    body = text.rstrip("=")
    padding = len(text) - len(body)
    urlsafe = "-" in body or "_" in body
    if urlsafe and ("+" in body or "/" in body):
        raise InputError(f"{source}: {what} is not valid base64 (standard and URL-safe alphabets mixed)")
    if len(body) % 4 == 1 or (padding and (padding > 2 or len(text) % 4)):
        raise InputError(f"{source}: {what} is not valid base64 (wrong length or padding)")
    standard = body.translate(_URLSAFE_TO_STANDARD) if urlsafe else body
    try:
        # strict_mode: anything outside the alphabet is an error, never skipped.
        data = binascii.a2b_base64(standard + "=" * (-len(body) % 4), strict_mode=True)
    except (binascii.Error, ValueError):
        raise InputError(f"{source}: {what} is not valid base64 (a character outside the alphabet)") from None
    tail = len(body) % 4
    if tail and base64.b64encode(data[-(tail - 1) :]).decode().rstrip("=") != standard[-tail:]:
        raise InputError(f"{source}: {what} is not canonical base64 (its unused trailing bits are not zero)")
    return data


def parse_envelope(obj: Any, source: str = "envelope") -> Envelope:
    """An ``Envelope`` from its JSON form; ``InputError`` names what is wrong with it."""
    if not isinstance(obj, dict):
        raise InputError(f"{source}: a DSSE envelope must be a JSON object")
    if "payload" not in obj:
        raise InputError(f"{source}: not a DSSE envelope (no 'payload')")
    payload_type = obj.get("payloadType")
    if not isinstance(payload_type, str):
        raise InputError(f"{source}: the envelope has no payloadType")
    if payload_type not in KNOWN_PAYLOAD_TYPES:
        raise UnsupportedError(
            f"{source}: unknown payloadType {payload_type!r}; provcheck verifies {INTOTO_PAYLOAD_TYPE}"
        )
    payload = _b64decode(obj.get("payload"), "payload", source)
    raw_signatures = obj.get("signatures")
    if not isinstance(raw_signatures, list) or not raw_signatures:
        raise InputError(f"{source}: the envelope has no signatures")
    signatures = []
    for index, raw in enumerate(raw_signatures):
        if not isinstance(raw, dict):
            raise InputError(f"{source}: signature #{index} is not an object")
        keyid = raw.get("keyid", "")
        if not isinstance(keyid, str):
            raise InputError(f"{source}: signature #{index} has a keyid that is not a string")
        sig = _b64decode(raw.get("sig"), f"signature #{index}", source)
        if not sig:
            raise InputError(f"{source}: signature #{index} is empty")
        signatures.append(DsseSignature(keyid=keyid, sig=sig))
    return Envelope(payload=payload, payload_type=payload_type, signatures=tuple(signatures), source=source)


def sign_envelope(payload: bytes, payload_type: str, signers: Sequence[Signer]) -> Envelope:
    """An envelope over ``payload`` with one signature per signer."""
    if not signers:
        raise InputError("at least one signing key is needed")
    message = pae(payload_type, payload)
    signatures = tuple(DsseSignature(keyid=s.public.keyid, sig=s.sign(message)) for s in signers)
    return Envelope(payload=payload, payload_type=payload_type, signatures=signatures)


def verify_signatures(envelope: Envelope, keys: Sequence[PublicKey]) -> SignatureCheck:
    """Check every signature against the keys; a key that signed twice counts once."""
    message = envelope.pae()
    valid: dict[str, None] = {}
    invalid = 0
    for signature in envelope.signatures:
        # The keyid is only a hint: try the hinted keys first, then the rest.
        ordered = sorted(keys, key=lambda k: not k.matches_hint(signature.keyid))
        for key in ordered:
            if key.verify(signature.sig, message):
                valid[key.keyid] = None
                break
        else:
            invalid += 1
    return SignatureCheck(valid_keyids=tuple(valid), signature_count=len(envelope.signatures), invalid_count=invalid)


def envelopes_to_jsonl(envelopes: Iterable[Envelope]) -> bytes:
    return b"".join(json.dumps(e.to_json(), sort_keys=True, separators=(",", ":")).encode() + b"\n" for e in envelopes)


def write_jsonl(path: Path, envelopes: Iterable[Envelope]) -> None:
    """Write envelopes as ``.intoto.jsonl``, atomically."""
    write_atomic(path, envelopes_to_jsonl(envelopes))


#: Below this many envelopes, starting worker processes costs more than it saves.
PARALLEL_THRESHOLD = 512
_worker_keys: list[PublicKey] = []


def _init_worker(key_material: list[tuple[bytes, str, frozenset[str]]]) -> None:
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    global _worker_keys
    _worker_keys = [
        public_key_from_crypto(load_der_public_key(der), source=source, aliases=aliases)
        for der, source, aliases in key_material
    ]


def _verify_chunk(chunk: list[Envelope]) -> list[SignatureCheck]:
    return [verify_signatures(envelope, _worker_keys) for envelope in chunk]


def verify_many(
    envelopes: Sequence[Envelope], keys: Sequence[PublicKey], *, jobs: int | None = None
) -> list[SignatureCheck]:
    """``verify_signatures`` for each envelope, spread over processes for large batches.

    Signature checks hold the GIL, so threads do not help; a release of
    thousands of statements is split across worker processes instead.
    """
    workers = jobs if jobs is not None else min(os.cpu_count() or 1, 8)
    if workers <= 1 or len(envelopes) < PARALLEL_THRESHOLD or "fork" not in multiprocessing.get_all_start_methods():
        return [verify_signatures(envelope, keys) for envelope in envelopes]
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    material = [
        (k.key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo), k.source, k.aliases) for k in keys
    ]
    size = max(64, len(envelopes) // (workers * 4))
    chunks = [list(envelopes[i : i + size]) for i in range(0, len(envelopes), size)]
    context = multiprocessing.get_context("fork")
    with context.Pool(workers, initializer=_init_worker, initargs=(material,)) as pool:
        results = pool.map(_verify_chunk, chunks)
    return [check for chunk in results for check in chunk]
