"""What every simulated device shares: the tamper knobs, the parts a tamper swaps in, and the device's base class.

Each profile's device lives in a module of its own (``hw.sim.uboot``, ``hw.sim.linux``, ``hw.sim.attest``)
and names the ``ConsoleProfile`` it plays the device side of; ``hw.sim.simulator`` runs it on a pty.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar, Protocol

from hw.profile import ConsoleProfile
from hw.sim.config import DeviceConfig, SimComponent
from hw.sim.keys import DeviceKeys
from hw.sim.line import Line, LineOwner

# Every knob and what it does; which devices take it is each device's ``tampers``.
TAMPER_KNOBS: dict[str, str] = {
    "swapped-firmware": "the firmware region holds a different image",
    "changed-serial": "the device reports another serial number",
    "swapped-component": "the NIC is a different part",
    "replayed-nonce": "measurements / quote are bound to a stale nonce",
    "bad-signature": "the measurement signature has a flipped bit",
    "wrong-device-key": "the device key chains to a rogue CA, not the vendor's",
    "drop-bytes": "bytes from the device are dropped at --tamper-rate",
    "garble-bytes": "bytes from the device are flipped at --tamper-rate",
    "lost-before-attach": "boot output and the first prompt are lost before the reader attaches",
    "missing-commands": "hash/bdinfo/mtd/tpm2 (U-Boot) or the tpm2 tools (Linux) are absent",
    "slow": "every answer starts after --slow-seconds",
    "disconnect": "the line drops after --disconnect-after bytes",
    "flood": "the device floods output instead of answering",
    "fake-prompts": "prompts and marker-like lines appear inside command output",
    "other-key": "the SPDM responder signs with a key other than its leaf certificate's",
    "flipped-measurement": "a byte of a measurement block is flipped after signing (a man in the middle)",
    "weak-algorithms": "the SPDM responder selects SHA-256 only (hash and measurement hash)",
    "silent": "the SPDM responder never answers GET_MEASUREMENTS",
    "truncated": "the SPDM responder's MEASUREMENTS answer is cut in half",
}
TRANSPORT_FAULTS = ("drop-bytes", "garble-bytes", "disconnect", "flood")
# The knobs every device takes.
COMMON_TAMPERS = frozenset(
    {"swapped-firmware", "changed-serial", "swapped-component", "lost-before-attach", "slow", *TRANSPORT_FAULTS}
)

STALE_NONCE = bytes.fromhex("5ca1ab1e" * 8)
# What the swapped-component knob puts in place of the part a profile can see.
_SUBSTITUTES = {
    "flash": SimComponent("flash", "Winbond", "W25Q128JV", None, None, ids=("0xef", "0x4018")),
    "nic": SimComponent("nic", "Realtek", "RTL8111H", "RTL-0001", "3", ids=("0x10ec", "0x8168")),
}


class SimulatorState(LineOwner, Protocol):
    """What a device needs of the simulator that runs it, beyond the line's share."""

    config: DeviceConfig
    keys: DeviceKeys
    slow_seconds: float
    busy_seconds: float


class SimulatedDevice:
    """The device side of one profile, serving its line from a thread until the simulator stops."""

    #: The profile this device plays the device side of.
    profile: ClassVar[ConsoleProfile]
    #: The tamper knobs this device takes.
    tampers: ClassVar[frozenset[str]] = COMMON_TAMPERS
    #: The class of part swapped-component swaps: one the profile can see.
    swapped_class: ClassVar[str] = "nic"

    def __init__(self, sim: SimulatorState) -> None:
        self.sim = sim
        self.cfg = sim.config
        self.line = Line(sim)
        self.serial = self.cfg.serial if "changed-serial" not in sim.tamper else "ACME-000666"
        self.components = list(self.cfg.components)
        if "swapped-component" in sim.tamper:
            swapped = self.swapped_class
            self.components = [
                replace(_SUBSTITUTES[swapped], required=c.required) if c.cls == swapped else c for c in self.components
            ]
        self.regions = list(self.cfg.regions)
        if "swapped-firmware" in sim.tamper:
            self.regions = [
                replace(r, data=r.data[:100] + bytes([r.data[100] ^ 0xFF]) + r.data[101:]) for r in self.regions
            ]

    @classmethod
    def declared(cls, manifest: dict[str, Any], config: DeviceConfig) -> dict[str, Any]:
        """The device manifest the honest device satisfies, from one that declares everything it has."""
        return manifest

    @classmethod
    def trust_anchor_pem(cls, keys: DeviceKeys) -> str:
        """The root an operator trusts for this device (``device simulate --write-trust-anchor``)."""
        return keys.ca_pem

    def busy(self, seconds: float) -> None:
        self.sim.busy_seconds += seconds
        if self.sim.baud_pacing and seconds > 0:
            self.line.sleep(seconds)

    def slow(self) -> None:
        if "slow" in self.sim.tamper:
            self.line.sleep(self.sim.slow_seconds)

    def serve(self) -> None:
        try:
            self.run()
        except OSError:
            # The reader went away or the simulator was stopped mid-write.
            return

    def run(self) -> None:
        raise NotImplementedError
