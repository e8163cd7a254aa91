"""The TCG PC Client event log: parse, replay every bank, decode the boot facts."""

from __future__ import annotations

import atheris

with atheris.instrument_imports(include=["hw.tpm"]):
    from hw.errors import HardwareError
    from hw.tpm.bootstate import boot_facts
    from hw.tpm.eventlog import parse_event_log
    from hw.tpm.replay import replay

from _harness import run


def target(data: bytes) -> None:
    log = parse_event_log(data)
    replay(log)
    boot_facts(log)


if __name__ == "__main__":
    run(target, (HardwareError,))
