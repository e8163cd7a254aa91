"""A transparency log entry as a Sigstore bundle holds it (``tlogEntries[0]``), parsed once into ``LogEntry``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from attestations.errors import InputError
from attestations.sigstore.bundle import b64_field

_MAX_UNIX_TIME = 100_000_000_000  # year 5138: beyond it a time is garbage, and datetime cannot hold it for long


@dataclass(frozen=True)
class LogEntry:
    log_index: int
    log_id: bytes
    kind: str
    version: str
    integrated_time: int | None
    signed_entry_timestamp: bytes | None
    body: bytes
    proof_index: int
    tree_size: int
    root_hash: bytes
    proof_hashes: tuple[bytes, ...]
    checkpoint: str


def _int_field(value: object, what: str, maximum: int = 2**63 - 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InputError(f"{what} is missing or not an integer")
    try:
        number = int(value)
    except ValueError:
        raise InputError(f"{what} is not an integer") from None
    if number < 0 or number > maximum:
        raise InputError(f"{what} is out of range")
    return number


def parse_log_entry(entry: dict[str, Any], source: str) -> LogEntry:
    """The entry's fields, or ``InputError`` naming the one that is missing or malformed."""
    where = f"bundle {source}: log entry"
    proof = entry.get("inclusionProof")
    if not isinstance(proof, dict):
        raise InputError(f"{where} has no inclusion proof")
    checkpoint = proof.get("checkpoint")
    envelope = checkpoint.get("envelope") if isinstance(checkpoint, dict) else None
    if not isinstance(envelope, str):
        raise InputError(f"{where}: the inclusion proof has no checkpoint")
    hashes = proof.get("hashes", [])
    if not isinstance(hashes, list) or len(hashes) > 64:
        raise InputError(f"{where}: the inclusion proof's hashes are not a list of at most 64 hashes")
    log_id = entry.get("logId")
    promise = entry.get("inclusionPromise")
    kind_version = entry["kindVersion"]
    return LogEntry(
        log_index=_int_field(entry.get("logIndex"), f"{where} logIndex"),
        log_id=b64_field(log_id.get("keyId") if isinstance(log_id, dict) else None, f"{where} logId"),
        kind=str(kind_version.get("kind")),
        version=str(kind_version.get("version")),
        integrated_time=(
            _int_field(entry["integratedTime"], f"{where} integratedTime", maximum=_MAX_UNIX_TIME)
            if "integratedTime" in entry
            else None
        ),
        signed_entry_timestamp=(
            b64_field(promise.get("signedEntryTimestamp"), f"{where} signedEntryTimestamp")
            if isinstance(promise, dict)
            else None
        ),
        body=b64_field(entry.get("canonicalizedBody"), f"{where} canonicalizedBody"),
        proof_index=_int_field(proof.get("logIndex"), f"{where} inclusion proof logIndex"),
        tree_size=_int_field(proof.get("treeSize"), f"{where} inclusion proof treeSize"),
        root_hash=b64_field(proof.get("rootHash"), f"{where} inclusion proof rootHash"),
        proof_hashes=tuple(b64_field(h, f"{where} inclusion proof hash") for h in hashes),
        checkpoint=envelope,
    )
