"""The TPM parsers' errors; both are ``hw.errors`` types so the CLI maps them to exit 2."""

from __future__ import annotations

from hw.errors import EvidenceInputError


class TpmFormatError(EvidenceInputError):
    """A TPM structure (quote, signature, public area, PCR file, certificate) is malformed."""


class EventLogFormatError(TpmFormatError):
    """The TCG event log is truncated, oversized or internally inconsistent."""
