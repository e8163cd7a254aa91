"""Running one workflow step so that whatever it raises becomes an ``error`` finding (inconclusive), never a crash."""

from __future__ import annotations

import logging
from collections.abc import Callable

from attestations.errors import AttestationError
from hw.errors import HardwareError
from verifier.errors import ProvcheckError
from verifier.model import Finding, errored

log = logging.getLogger(__name__)


def guard(check: str, subject: str, step: Callable[[], list[Finding]]) -> list[Finding]:
    """Run one step; whatever it raises becomes an ``error`` finding (inconclusive), never a crash.

    The device is hostile input: a line error that a library reports as something other than an
    ``OSError`` (termios.error, for one) must still end as "could not decide", not as a traceback.
    """
    try:
        return step()
    except ProvcheckError as exc:
        prefix = "bad input: " if exc.exit_code == 2 else ""
        return [errored(check, f"{prefix}{exc}", subject)]
    except AttestationError as exc:
        return [errored(check, str(exc), subject)]
    except HardwareError as exc:
        return [errored(check, str(exc), subject, kind=type(exc).__name__)]
    except Exception as exc:
        log.debug("%s raised", check, exc_info=True)
        return [errored(check, f"{type(exc).__name__}: {exc}", subject, kind=type(exc).__name__)]
