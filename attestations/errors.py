"""The attestations package's exceptions: one root, ``AttestationError``.

``exit_code`` follows the CLI contract by convention (2 bad input, 3 could not
complete), so the CLI can map an error without this package importing it.
"""

from __future__ import annotations


class AttestationError(Exception):
    """Root of every error this package raises."""

    exit_code = 2


class InputError(AttestationError):
    """The input is missing, too large, or not of the expected shape."""


class OutputError(AttestationError):
    """An output could not be written: disk full, read-only file system, no permission (exit 3).

    That is the environment failing, not bad input; the message names the output path.
    """

    exit_code = 3


class KeyFormatError(InputError):
    """A key file could not be read as any supported key format."""


class UnsupportedError(AttestationError):
    """The input is well-formed but uses something this version cannot check."""


class BundleVerificationError(AttestationError):
    """A Sigstore bundle was checked and does not verify (exit 1); ``stage`` names the failing step.

    The stages: "identity", "artifact", "signature", "certificate", "log", "time" or "key".
    """

    exit_code = 1

    def __init__(self, message: str, *, stage: str) -> None:
        super().__init__(message)
        self.stage = stage
