"""The hw package's exceptions: one root, ``HardwareError``.

``exit_code`` follows the CLI contract by convention: a transport problem is
never tampering, so it maps to 3 (inconclusive); malformed local input to 2.
"""

from __future__ import annotations


class HardwareError(Exception):
    """Root of every error this package raises."""

    exit_code = 3


class TransportError(HardwareError):
    """The line failed: timeout, disconnect, corrupted frames beyond the retry budget."""


class DeviceProtocolError(HardwareError):
    """The device answered, but not in a form the profile understands."""


class EvidenceInputError(HardwareError):
    """A local evidence, manifest or TPM file is missing or malformed."""

    exit_code = 2
