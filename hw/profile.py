"""What a console profile is (the ``ConsoleProfile`` protocol), what it is asked to read, and what it hands back.

A profile is one way of reading a device: a U-Boot console, a Linux shell, the attest protocol. Each binds
the protocol in its own module (``hw.uboot``, ``hw.linux``, ``hw.attest``) and is listed once, in
``hw.registry``. Profiles produce ``ProfileFacts``; ``hw.reader`` adds the transcript hash, nonce and
timings and freezes the lot into a ``DeviceEvidence``, which states what its profile could observe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from hw.evidence import (
    Component,
    Fact,
    IdentityKey,
    Observable,
    RegionDigest,
    SignedMeasurements,
    SpdmRecord,
    TpmEvidence,
)
from hw.transport import Transport


@dataclass(frozen=True)
class RegionSpec:
    """A firmware region to measure: by address and size (U-Boot) or by device path (Linux)."""

    name: str
    address: int | None = None
    size: int | None = None
    path: str | None = None

    @classmethod
    def parse(cls, text: str) -> RegionSpec:
        """``NAME:ADDRESS:SIZE`` (numbers in C notation) or ``NAME=/dev/PATH[:SIZE]``."""
        if "=" in text:
            name, _, rest = text.partition("=")
            path, _, size_text = rest.partition(":")
            if not name or not path.startswith("/"):
                raise ValueError(f"region {text!r}: expected NAME=/dev/PATH[:SIZE]")
            limit = int(size_text, 0) if size_text else None
            if limit is not None and limit <= 0:
                raise ValueError(f"region {text!r}: size must be > 0")
            return cls(name, None, limit, path)
        parts = text.split(":")
        if len(parts) != 3 or not parts[0]:
            raise ValueError(f"region {text!r}: expected NAME:ADDRESS:SIZE or NAME=/dev/PATH")
        address, size = int(parts[1], 0), int(parts[2], 0)
        if address < 0 or size <= 0:
            raise ValueError(f"region {text!r}: address must be >= 0 and size > 0")
        return cls(parts[0], address, size)


@dataclass(frozen=True)
class ReadOptions:
    regions: tuple[RegionSpec, ...] = ()
    username: str | None = None
    password: str | None = None
    nonce: bytes | None = None
    baud: int = 115200
    read_timeout: float = 10.0
    # Largest region dumped with md.b and hashed on the host; None derives it from the baud and deadline.
    max_dump_bytes: int | None = None
    prompt: str | None = None
    # Most bytes one command may print before the device counts as flooding the line.
    max_output: int = 16 * 1024 * 1024


@dataclass
class ProfileFacts:
    """Mutable while a profile works; frozen into DeviceEvidence by the reader."""

    profile: str
    identity: dict[str, Fact] = field(default_factory=dict)
    components: list[Component] = field(default_factory=list)
    regions: list[RegionDigest] = field(default_factory=list)
    tpm: TpmEvidence | None = None
    identity_key: IdentityKey | None = None
    attestation: SignedMeasurements | None = None
    spdm: SpdmRecord | None = None
    notes: list[str] = field(default_factory=list)
    #: efivarfs files (Name-GUID) of the Secure Boot variables, base64 of what the device showed: 4-byte attributes
    #: then the data. Judged by ``provcheck firmware secureboot EVIDENCE.json``.
    efivars: dict[str, str] = field(default_factory=dict)
    steps: dict[str, float] = field(default_factory=dict)
    device_seconds: float = 0.0


class ConsoleProfile(Protocol):
    """One way of reading a device over a transport (labgrid style: this protocol, and a binding per profile).

    ``recognizes`` and ``answers_probe`` serve ``--profile auto``: the first looks at what a text console
    showed, the second asks the line a question of the profile's own (the attest protocol's version frame),
    for a device that shows nothing until spoken to.
    """

    @property
    def name(self) -> str:
        """The ``--profile`` value, and the ``profile`` an evidence file records."""
        ...

    @property
    def observable(self) -> Observable:
        """What this profile can observe at most: the judge skips what it cannot see instead of failing it."""
        ...

    def recognizes(self, console_tail: bytes) -> bool:
        """Whether the last bytes a console showed (escapes removed) are this profile's prompt or banner."""
        ...

    def answers_probe(self, transport: Transport, *, timeout: float) -> bool:
        """Whether a silent line answers this profile's own probe; False for a profile that has none."""
        ...

    def read(self, transport: Transport, options: ReadOptions, session_seconds: float) -> ProfileFacts:
        """Read the device over ``transport``; ``session_seconds`` is the whole session's deadline."""
        ...
