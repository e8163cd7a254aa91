"""Windows logs EV_NO_ACTION trust-point events with PCRIndex 0xFFFFFFFF (go-attestation's option_rom_eventlog ends
with one): they extend nothing and are kept; any other event for a PCR beyond 31 is still malformed."""

from __future__ import annotations

import struct

import pytest

from hw.tpm.errors import EventLogFormatError
from hw.tpm.eventlog import EV_NO_ACTION, parse_event_log
from hw.tpm.replay import replay
from tests.tpm.logtools import synthetic_log


def appended(pcr: int, kind: int) -> bytes:
    data = b"WBCL trust point"
    return synthetic_log(("sha256",)) + struct.pack("<III", pcr, kind, 1) + struct.pack("<H", 0x000B) + bytes(32) + \
        struct.pack("<I", len(data)) + data


def test_a_no_action_event_without_a_pcr_is_kept_and_extends_nothing() -> None:
    log = parse_event_log(appended(0xFFFFFFFF, EV_NO_ACTION))
    assert log.events[-1].pcr == 0xFFFFFFFF and not log.events[-1].extends
    assert replay(log).pcrs == replay(parse_event_log(synthetic_log(("sha256",)))).pcrs


@pytest.mark.parametrize(("pcr", "kind"), [(0xFFFFFFFF, 0x80000001), (32, EV_NO_ACTION)])
def test_other_events_beyond_pcr_31_are_malformed(pcr: int, kind: int) -> None:
    with pytest.raises(EventLogFormatError, match="targets PCR"):
        parse_event_log(appended(pcr, kind))
