"""Where a command's ``-o`` output goes: ``-`` is stdout, anything else is written atomically (``write_atomic``).

Here, not in ``attestations.files``: only the command line writes to the terminal.
"""

from __future__ import annotations

import sys
from pathlib import Path

from attestations.files import output_error, write_atomic


def write_output(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write what a command's ``-o`` names: ``-`` is stdout; otherwise atomically (see ``write_atomic``)."""
    if str(path) == "-":
        try:
            sys.stdout.flush()
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        except OSError as exc:
            raise output_error(Path("<stdout>"), exc) from None
        return
    write_atomic(path, data, mode=mode)
