"""What a console or attest profile is asked to read, and what it hands back.

Profiles produce ``ProfileFacts``; ``hw.reader`` adds the transcript hash, nonce and
timings and freezes the lot into a ``DeviceEvidence``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hw.evidence import Component, Fact, IdentityKey, RegionDigest, SignedMeasurements, TpmEvidence


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
    notes: list[str] = field(default_factory=list)
    steps: dict[str, float] = field(default_factory=dict)
    device_seconds: float = 0.0
