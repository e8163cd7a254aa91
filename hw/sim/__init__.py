"""The simulated device: one module per concept.

``simulator`` runs a device on a pty; ``line`` is its end of the wire (pacing, faults); ``config`` and
``keys`` say what the device is; ``device`` and ``shell`` are what devices share; ``uboot``, ``linux``,
``attest`` and ``spdm`` are the device side of each registered profile; ``tpm`` makes their event log and quotes.
"""

from hw.sim.config import DeviceConfig, SimComponent, SimRegion
from hw.sim.device import STALE_NONCE, TRANSPORT_FAULTS
from hw.sim.keys import DeviceKeys, make_keys
from hw.sim.simulator import SIM_PROFILES, TAMPERS, Simulator
from hw.sim.tpm import build_quote

__all__ = [
    "SIM_PROFILES",
    "STALE_NONCE",
    "TAMPERS",
    "TRANSPORT_FAULTS",
    "DeviceConfig",
    "DeviceKeys",
    "SimComponent",
    "SimRegion",
    "Simulator",
    "build_quote",
    "make_keys",
]
