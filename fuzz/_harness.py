"""What every fuzz harness shares: the property it checks, and how it runs under atheris.

The property: for any input, the code under test either succeeds or raises one
of the package's documented errors. Anything else escaping is a crash. libFuzzer
itself enforces the other two limits: ``-timeout=1`` (no input takes more than
1 s) and ``-rss_limit_mb=1024`` (memory stays under 1 GB); ``fuzz/run.py``
always passes both.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable


def run(target: Callable[[bytes], None], allowed: tuple[type[BaseException], ...]) -> None:
    import atheris

    def one_input(data: bytes) -> None:
        with contextlib.suppress(allowed):
            target(data)

    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
