"""CoRIM errors: all derive from the attestations root (``attestations.errors``)."""

from __future__ import annotations

from attestations.errors import AttestationError, InputError


class CorimFormatError(InputError):
    """The bytes are not a CoRIM/CoMID/CoEV this reader accepts (exit 2); ``path`` names the field."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.reason = message


class CorimUnsupportedError(AttestationError):
    """Well-formed, but asks for something this reader refuses (an algorithm, a critical header): exit 2."""

    exit_code = 2
