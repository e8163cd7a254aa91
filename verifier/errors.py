"""The verifier's exceptions: one root, each carrying the exit code it maps to.

Messages are written for the person at the terminal: they say what was wrong
and what to do about it, in one line.
"""

from __future__ import annotations

from verifier.model import ExitCode


class ProvcheckError(Exception):
    """Root of every error the verifier raises on purpose."""

    exit_code: ExitCode = ExitCode.INCONCLUSIVE


class BadInputError(ProvcheckError):
    """The input could not be read or is not what the command expects (exit 2)."""

    exit_code = ExitCode.BAD_INPUT


class UsageError(BadInputError):
    """The command line contradicts itself (exit 2)."""


class PolicyError(BadInputError):
    """The policy file is invalid; the message names the line and the key."""


class PlanError(BadInputError):
    """The bench plan is invalid; the message names the line and the key."""


class InconclusiveError(ProvcheckError):
    """Verification could not complete: a timeout, a transport error, missing evidence (exit 3)."""

    exit_code = ExitCode.INCONCLUSIVE
