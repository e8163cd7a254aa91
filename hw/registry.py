"""The console profiles provcheck knows, listed once.

The reader, every ``--profile`` choice, bench plan validation, the simulator and the judge (through
``observed``) read this list; nothing else names the profiles. Adding a profile: bind
``hw.profile.ConsoleProfile`` in a module of its own, add the binding to ``PROFILES`` below, and give the
simulator a device for it (a module in ``hw/sim/``, listed in ``hw.sim.simulator``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from hw.attest import ATTEST
from hw.evidence import DeviceEvidence, Observable
from hw.linux import LINUX
from hw.profile import ConsoleProfile
from hw.uboot import UBOOT

#: In the order ``--profile auto`` tries them: U-Boot's prompt before a shell's, then the probes.
PROFILES: tuple[ConsoleProfile, ...] = (UBOOT, LINUX, ATTEST)
#: The ``--profile`` value that asks the reader to tell the profile from what the line shows.
AUTO = "auto"

BY_NAME: Mapping[str, ConsoleProfile] = MappingProxyType({profile.name: profile for profile in PROFILES})
NAMES: tuple[str, ...] = tuple(BY_NAME)
#: What ``--profile`` accepts where a device is read.
READ_CHOICES: tuple[str, ...] = (AUTO, *NAMES)


def spelled_out(names: tuple[str, ...] = NAMES) -> str:
    """``uboot, linux or attest``: the names for a message."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def profile_named(name: str) -> ConsoleProfile:
    """The registered profile called ``name``; ``ValueError`` naming the choices when there is none."""
    found = BY_NAME.get(name)
    if found is None:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(NAMES)}")
    return found


def observed(evidence: DeviceEvidence) -> Observable:
    """What the judge may take ``evidence`` to have observed: its own statement, never more than its profile can.

    The file is the attacker's to write. Saying it saw more than its profile can (a NIC over U-Boot) would
    turn a skip into checks of made-up facts, so the statement is cut to the registry's; a file without a
    statement (written before evidence carried one) observed what its profile can. A profile provcheck does
    not know observed nothing, so every declared component goes unchecked and ``hw.components`` says why.
    """
    profile = BY_NAME.get(evidence.profile)
    if profile is None:
        return Observable.of()
    if evidence.observable is None:
        return profile.observable
    return evidence.observable.within(profile.observable)


def beyond_profile(evidence: DeviceEvidence, component_class: str) -> bool:
    """Whether the evidence's profile is a known one that cannot see ``component_class`` (a NIC over U-Boot).

    Only such a class may go unchecked without making the verdict inconclusive; a class the profile can see
    but the file says it did not is the file's word, and a file's word never turns a check into a pass.
    """
    profile = BY_NAME.get(evidence.profile)
    return profile is not None and not profile.observable.sees(component_class)
