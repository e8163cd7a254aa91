"""Property tests: event-log replay is order-sensitive exactly where the TPM is, and survives serialisation."""

from __future__ import annotations

import hashlib
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from hw.tpm.eventlog import parse_event_log
from hw.tpm.replay import replay
from tests.tpm.logtools import spec_id_event

EV_ACTION = 0x5


def build_log(events: list[tuple[int, bytes]]) -> bytes:
    """A crypto-agile sha256 log of EV_ACTION events, each extending ``pcr`` with sha256(data)."""
    out = bytearray(spec_id_event(("sha256",)))
    for pcr, data in events:
        out += struct.pack("<III", pcr, EV_ACTION, 1)
        out += struct.pack("<H", 0x000B) + hashlib.sha256(data).digest()
        out += struct.pack("<I", len(data)) + data
    return bytes(out)


events_strategy = st.lists(st.tuples(st.integers(0, 7), st.binary(min_size=1, max_size=16)), min_size=2, max_size=12)


@settings(max_examples=150, deadline=None)
@given(events=events_strategy, data=st.data())
def test_reordering_changes_a_pcr_exactly_when_one_pcrs_sequence_changes(
    events: list[tuple[int, bytes]], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(events))
    original = replay(parse_event_log(build_log(events))).pcrs["sha256"]
    reordered = replay(parse_event_log(build_log(shuffled))).pcrs["sha256"]
    for pcr in range(8):
        before = [d for p, d in events if p == pcr]
        after = [d for p, d in shuffled if p == pcr]
        if before == after:
            assert original.get(pcr) == reordered.get(pcr)
        else:
            # Extending is a hash chain: a different order of different digests gives a different value.
            assert original.get(pcr) != reordered.get(pcr), (pcr, before, after)


@settings(max_examples=100, deadline=None)
@given(events=events_strategy)
def test_replay_equals_extending_by_hand(events: list[tuple[int, bytes]]) -> None:
    expected: dict[int, bytes] = {}
    for pcr, data in events:
        expected[pcr] = hashlib.sha256(expected.get(pcr, bytes(32)) + hashlib.sha256(data).digest()).digest()
    assert dict(replay(parse_event_log(build_log(events))).pcrs["sha256"]) == expected


@settings(max_examples=100, deadline=None)
@given(events=events_strategy, cut=st.integers(min_value=1))
def test_a_truncated_log_is_rejected_or_replays_a_prefix(events: list[tuple[int, bytes]], cut: int) -> None:
    from hw.errors import HardwareError

    raw = build_log(events)
    truncated = raw[: len(raw) - 1 - cut % (len(raw) - 1)]
    try:
        log = parse_event_log(truncated)
    except HardwareError:
        return
    assert len(log.events) <= len(events) + 1
