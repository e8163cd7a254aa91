"""Replaying an event log into PCR values, and explaining where it departs from quoted PCRs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hw.tpm.eventlog import Event, EventLog

PcrBanks = dict[str, dict[int, bytes]]
DRTM_PCRS = frozenset(range(17, 23))
# The platform firmware must log every extend of PCRs 0-7; later PCRs belong to
# the OS (IMA uses 10, systemd 11-15), whose events are not in this log.
FIRMWARE_PCRS = frozenset(range(8))


@dataclass(frozen=True)
class Replay:
    pcrs: PcrBanks  # only the PCRs the log extends
    missing_digests: tuple[tuple[int, str], ...]  # (event number, bank) for events lacking a bank's digest

    def hex(self) -> dict[str, dict[str, str]]:
        return {bank: {str(i): v.hex() for i, v in sorted(vals.items())} for bank, vals in self.pcrs.items()}


def initial_value(log: EventLog, bank: str, pcr: int) -> bytes:
    size = next(a.digest_size for a in log.algorithms if a.name == bank)
    if pcr == 0 and log.startup_locality:
        # H-CRTM / locality-3 starts leave the locality in PCR0's last byte (PFP 10.4.5.3).
        return bytes(size - 1) + bytes([log.startup_locality])
    if pcr in DRTM_PCRS:
        return b"\xff" * size  # DRTM PCRs power on as all ones and only a DRTM launch resets them
    return bytes(size)


def replay(log: EventLog, *, upto: int | None = None) -> Replay:
    """Extend every event's digest, bank by bank; ``upto`` stops after that event number."""
    pcrs: PcrBanks = {a.name: {} for a in log.algorithms}
    missing: list[tuple[int, str]] = []
    for event in log.events:
        if upto is not None and event.number > upto:
            break
        if not event.extends:
            continue
        for alg in log.algorithms:
            digest = event.digests.get(alg.name)
            if digest is None:
                missing.append((event.number, alg.name))
                continue
            bank = pcrs[alg.name]
            current = bank.get(event.pcr, initial_value(log, alg.name, event.pcr))
            bank[event.pcr] = alg.digest(current + digest)
    return Replay(pcrs, tuple(missing))


@dataclass(frozen=True)
class PcrMismatch:
    bank: str
    pcr: int
    quoted: bytes
    replayed: bytes | None  # None: the log never extends this PCR
    event: Event | None  # the first event that explains the difference, when one does
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "bank": self.bank,
            "pcr": self.pcr,
            "quoted": self.quoted.hex(),
            "replayed": self.replayed.hex() if self.replayed is not None else None,
            "event": self.event.to_json() if self.event else None,
            "event_label": self.event.label() if self.event else None,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Comparison:
    matched: tuple[tuple[str, int], ...]
    mismatches: tuple[PcrMismatch, ...]
    not_in_log: tuple[str, ...]  # quoted banks the log has no digests for
    uncovered: tuple[tuple[str, int], ...]  # OS-owned PCRs the log never extends, not at their initial value


def _explain(log: EventLog, bank: str, pcr: int, quoted: bytes) -> tuple[Event | None, str]:
    alg = next(a for a in log.algorithms if a.name == bank)
    in_pcr = [e for e in log.events if e.extends and e.pcr == pcr]
    for event in in_pcr:
        if event.data_matches_digest() is False:
            return event, "its data does not hash to its digest: the event was altered"
    for event in in_pcr:
        if bank not in event.digests:
            return event, f"it has no {bank} digest, so the log cannot reproduce that bank"
    value = initial_value(log, bank, pcr)
    if value == quoted and in_pcr:
        return in_pcr[0], "the TPM holds the initial value: no event in the log was extended into it"
    for i, event in enumerate(in_pcr):
        value = alg.digest(value + event.digests[bank])
        if value == quoted and i + 1 < len(in_pcr):
            return in_pcr[i + 1], "the quoted value stops before this event: the log has events the TPM never saw"
    if not in_pcr:
        return None, "the log has no event for this PCR but the TPM value is not the initial one"
    return in_pcr[0], (
        "no prefix of the log reproduces the quoted value: an event was removed, reordered or changed; "
        "the events of this PCR start here"
    )


def compare(log: EventLog, quoted: Mapping[str, Mapping[int, bytes]]) -> Comparison:
    """Compare the replayed log with quoted PCR values, naming the event that explains each difference."""
    replayed = replay(log).pcrs
    matched: list[tuple[str, int]] = []
    mismatches: list[PcrMismatch] = []
    not_in_log: list[str] = []
    uncovered: list[tuple[str, int]] = []
    for bank, values in quoted.items():
        if bank not in replayed:
            not_in_log.append(bank)
            continue
        for pcr, value in sorted(values.items()):
            ours = replayed[bank].get(pcr)
            expected = ours if ours is not None else initial_value(log, bank, pcr)
            if expected == value:
                matched.append((bank, pcr))
                continue
            if ours is None and pcr not in FIRMWARE_PCRS:
                uncovered.append((bank, pcr))
                continue
            event, reason = _explain(log, bank, pcr, value)
            mismatches.append(PcrMismatch(bank, pcr, value, ours, event, reason))
    return Comparison(tuple(matched), tuple(mismatches), tuple(not_in_log), tuple(uncovered))
