"""The console profiles provcheck knows, listed once.

The reader, every ``--profile`` choice, bench plan validation, the simulator and the judge (through
``hw.observation``) read this list; nothing else names the profiles. Adding a profile: bind
``hw.profile.ConsoleProfile`` in a module of its own, add the binding to ``_BINDINGS`` below, and give the
simulator a device for it (a module in ``hw/sim/``, listed in ``hw.sim.simulator``).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from functools import cache
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the registry itself is names: a --profile choice must not load what a device read needs
    from hw.profile import ConsoleProfile

#: Each profile's name and where its binding lives, in the order ``--profile auto`` tries them: U-Boot's prompt
#: before a shell's, then the probes. The bindings are imported on first use: a command's --help needs only the
#: names, and the bindings bring pexpect, pyserial and cobs (about 60 ms).
_BINDINGS: tuple[tuple[str, str, str], ...] = (
    ("uboot", "hw.uboot", "UBOOT"),
    ("linux", "hw.linux", "LINUX"),
    ("attest", "hw.attest", "ATTEST"),
    ("spdm", "hw.spdm.profile", "SPDM"),
)
#: The ``--profile`` value that asks the reader to tell the profile from what the line shows.
AUTO = "auto"

NAMES: tuple[str, ...] = tuple(name for name, _, _ in _BINDINGS)
#: What ``--profile`` accepts where a device is read.
READ_CHOICES: tuple[str, ...] = (AUTO, *NAMES)


@cache
def profiles() -> tuple[ConsoleProfile, ...]:
    """The bound profiles, in ``NAMES`` order; a binding whose own name is not its registered one is a bug."""
    bound = []
    for name, module, attribute in _BINDINGS:
        profile: ConsoleProfile = getattr(importlib.import_module(module), attribute)
        if profile.name != name:
            raise RuntimeError(f"{module}.{attribute} is registered as {name!r} but names itself {profile.name!r}")
        bound.append(profile)
    return tuple(bound)


@cache
def by_name() -> Mapping[str, ConsoleProfile]:
    return MappingProxyType({profile.name: profile for profile in profiles()})


def spelled_out(names: tuple[str, ...] = NAMES) -> str:
    """``uboot, linux or attest``: the names for a message."""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def profile_named(name: str) -> ConsoleProfile:
    """The registered profile called ``name``; ``ValueError`` naming the choices when there is none."""
    found = by_name().get(name)
    if found is None:
        raise ValueError(f"unknown profile {name!r}; choose one of {', '.join(NAMES)}")
    return found
