"""The Secure Boot parsers' one error: malformed input, naming where (exit 2 at the command line)."""

from __future__ import annotations

from verifier.errors import BadInputError


class SecureBootFormatError(BadInputError):
    """A variable store, signature list, signed update, efivarfs dump or event is malformed at ``offset``."""

    def __init__(self, what: str, offset: int, problem: str) -> None:
        super().__init__(f"{what}: {problem} (at offset {offset:#x})")
        self.what = what
        self.offset = offset
        self.problem = problem
