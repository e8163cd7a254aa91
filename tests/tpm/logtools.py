"""Writing TCG event logs back to bytes, for tampered copies of a real log and small synthetic ones."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from dataclasses import replace

from hw.tpm.algorithms import hash_by_name
from hw.tpm.eventlog import EV_NO_ACTION, SPEC_ID_SIGNATURE, Event, EventLog
from hw.tpm.replay import replay


def serialize(log: EventLog, events: Iterable[Event] | None = None) -> bytes:
    items = list(log.events if events is None else events)
    header, rest = items[0], items[1:]
    out = bytearray(struct.pack("<II", header.pcr, header.type) + header.digests["sha1"])
    out += struct.pack("<I", len(header.data)) + header.data
    for e in rest:
        out += struct.pack("<III", e.pcr, e.type, len(e.digests))
        for bank, digest in e.digests.items():
            out += struct.pack("<H", hash_by_name(bank).alg_id) + digest
        out += struct.pack("<I", len(e.data)) + e.data
    return bytes(out)


def with_data(event: Event, data: bytes, *, rehash: bool) -> Event:
    """The same event with new data; ``rehash`` recomputes its digests as an honest firmware would."""
    digests = {b: hash_by_name(b).digest(data) for b in event.digests} if rehash else dict(event.digests)
    return replace(event, data=data, digests=digests)


def pcr_lines(log: EventLog) -> str:
    """'bank index hex' lines of the replayed log, as the boot initramfs prints them."""
    banks = replay(log).pcrs.items()
    return "".join(f"{bank} {i} {v.hex()}\n" for bank, vals in banks for i, v in sorted(vals.items()))


def spec_id_event(banks: Iterable[str]) -> bytes:
    algs = [hash_by_name(b) for b in banks]
    body = SPEC_ID_SIGNATURE + struct.pack("<IBBBBI", 0, 0, 2, 0, 2, len(algs))
    body += b"".join(struct.pack("<HH", a.alg_id, a.digest_size) for a in algs) + b"\x00"
    return struct.pack("<II", 0, EV_NO_ACTION) + bytes(20) + struct.pack("<I", len(body)) + body


def synthetic_log(banks: tuple[str, ...] = ("sha1", "sha256")) -> bytes:
    """A small crypto-agile log: a StartupLocality event, an action, a firmware blob and separators."""
    out = bytearray(spec_id_event(banks))

    def event(pcr: int, kind: int, data: bytes, digested: bytes | None = None) -> None:
        nonlocal out
        out += struct.pack("<III", pcr, kind, len(banks))
        for b in banks:
            alg = hash_by_name(b)
            preimage = data if digested is None else digested
            digest = bytes(alg.digest_size) if kind == EV_NO_ACTION else alg.digest(preimage)
            out += struct.pack("<H", alg.alg_id) + digest
        out += struct.pack("<I", len(data)) + data

    event(0, EV_NO_ACTION, b"StartupLocality\x00\x03")
    event(0, 0x80000008, struct.pack("<QQ", 0x820000, 0xE0000), digested=hashlib.sha256(b"firmware").digest())
    event(4, 0x80000007, b"Calling EFI Application from Boot Option")
    for pcr in range(8):
        event(pcr, 0x4, b"\x00\x00\x00\x00")
    return bytes(out)
