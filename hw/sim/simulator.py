"""A simulated device on a pty: U-Boot-like, Linux-like or attest, honest or tampered.

It serves the demo, the tests, and labs that want to dry-run a plan. The device runs
in a thread on the master side of a pty; ``Simulator.port`` is the slave's path, which
any pyserial-based reader opens like a real UART.

With ``baud_pacing`` both directions run at ``baud / 10`` bytes per second (8N1), as a
real line does; without it a pty is thousands of times faster.

``declared_manifest()`` gives the device-manifest predicate that the honest device
satisfies, so a test or the demo can verify against what the "vendor" declared.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import tty
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from hw.registry import NAMES
from hw.sim.attest import AttestDevice
from hw.sim.config import DeviceConfig
from hw.sim.device import TAMPER_KNOBS, SimulatedDevice
from hw.sim.keys import make_keys
from hw.sim.linux import LinuxDevice
from hw.sim.spdm import SpdmDevice
from hw.sim.uboot import UBootDevice

# The device side of each registered profile; one missing here fails tests/hw/test_profile_registry.py.
_DEVICES: dict[str, type[SimulatedDevice]] = {
    device.profile.name: device for device in (UBootDevice, LinuxDevice, AttestDevice, SpdmDevice)
}
# In the registry's order.
SIM_PROFILES = tuple(name for name in NAMES if name in _DEVICES)
# Every knob, the profiles it applies to, and what it does.
TAMPERS: dict[str, tuple[tuple[str, ...], str]] = {
    knob: (tuple(name for name in SIM_PROFILES if knob in _DEVICES[name].tampers), what)
    for knob, what in TAMPER_KNOBS.items()
}


class Simulator:
    """Context manager: starts the device thread on a fresh pty; ``port`` is its path."""

    def __init__(
        self,
        profile: str = "uboot",
        *,
        tamper: Iterable[str] = (),
        baud_pacing: bool = False,
        baud: int = 115200,
        config: DeviceConfig | None = None,
        seed: int = 0,
        tamper_rate: float = 0.01,
        slow_seconds: float = 0.2,
        disconnect_after: int = 600,
        link: str | None = None,
    ) -> None:
        if profile not in SIM_PROFILES:
            raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(SIM_PROFILES)}")
        knobs = tuple(dict.fromkeys(tamper))
        for knob in knobs:
            if knob not in TAMPERS:
                raise ValueError(f"unknown tamper {knob!r}; choose from {', '.join(TAMPERS)}")
            if profile not in TAMPERS[knob][0]:
                raise ValueError(f"tamper {knob!r} does not apply to the {profile} profile")
        self.profile = profile
        self.tamper = frozenset(knobs)
        self.baud_pacing = baud_pacing
        self.baud = baud
        self.config = config or DeviceConfig()
        self.seed = seed
        self.tamper_rate = tamper_rate
        self.slow_seconds = slow_seconds
        self.disconnect_after = disconnect_after
        self.link = link
        if link:
            _check_link(link)
        self.keys = make_keys(self.config)
        self.port = ""
        self.busy_seconds = 0.0
        self.bytes_out = 0
        self.bytes_in = 0
        self._device: SimulatedDevice | None = None
        self._thread: threading.Thread | None = None
        self.stop_event = threading.Event()
        self.master_fd = -1
        self.slave_fd = -1

    # The device the honest configuration declares, as the project's device-manifest predicate.
    def declared_manifest(self) -> dict[str, Any]:
        cfg = self.config
        manifest: dict[str, Any] = {
            "manufacturer": cfg.manufacturer,
            "model": cfg.model,
            "board_revision": cfg.board_revision,
            "serial": {"exact": [cfg.serial], "pattern": r"^ACME-[0-9]{6}$"},
            "components": [
                {
                    "class": c.cls,
                    "manufacturer": c.manufacturer,
                    "model": c.model,
                    "serial": c.serial,
                    "revision": c.revision,
                    "required": c.required,
                }
                for c in cfg.components
            ],
            "firmware_regions": [
                {"name": r.name, "address": r.address, "size": r.size, "sha256": hashlib.sha256(r.data).hexdigest()}
                for r in cfg.regions
            ],
            "identity": {
                "ca_pem": self.keys.ca_pem,
                "public_key_pem": None,
                "fingerprint_sha256": self.keys.device_fingerprint(),
            },
        }
        return _DEVICES[self.profile].declared(manifest, cfg)

    def trust_anchor_pem(self) -> str:
        """The root certificate (PEM) an operator trusts for the simulated device."""
        return _DEVICES[self.profile].trust_anchor_pem(self.keys)

    def __enter__(self) -> Simulator:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self.master_fd, self.slave_fd = master, slave
        self.port = os.ttyname(slave)
        if self.link:
            try:
                _check_link(self.link)
                if os.path.lexists(self.link):
                    os.unlink(self.link)
                os.symlink(self.port, self.link)
            except BaseException:
                for fd in (master, slave):
                    os.close(fd)
                self.master_fd = self.slave_fd = -1
                raise
        self._device = _DEVICES[self.profile](self)
        self._thread = threading.Thread(target=self._device.serve, name=f"sim-{self.profile}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for fd in (self.master_fd, self.slave_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.master_fd = self.slave_fd = -1
        # Only our own link: if someone replaced it meanwhile, it is theirs now.
        if self.link and self.port and os.path.islink(self.link) and os.readlink(self.link) == self.port:
            os.unlink(self.link)

    @property
    def stopped(self) -> bool:
        return self.stop_event.is_set()


def _check_link(path: str) -> None:
    """``--link`` may take an absent path or a stale link of a simulator (to a pty); never a file of the user's.

    It used to unlink whatever was there: ``--link ~/notes.txt`` deleted the notes.
    """
    if not os.path.lexists(path):
        return
    if os.path.islink(path) and os.readlink(path).startswith("/dev/pts/"):
        return
    raise ValueError(f"--link {path!r} already exists and is not a simulator's pty link; refusing to replace it")
