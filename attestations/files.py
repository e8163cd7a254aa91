"""Reading input files with a size bound, so a hostile or mistaken input cannot exhaust memory."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from attestations.errors import InputError

MiB = 1024 * 1024
#: Large enough for a release of thousands of statements, small enough to hold in memory.
DEFAULT_LIMIT = 64 * MiB


def _human(size: int) -> str:
    if size >= MiB:
        return f"{size / MiB:.1f} MiB"
    return f"{size} bytes"


def read_limited(path: Path, *, limit: int = DEFAULT_LIMIT, what: str = "file") -> bytes:
    """The whole content of ``path``, or ``InputError`` if it is missing, not a file, or over ``limit``."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise InputError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror}") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{what} {path} is a directory, not a file")
    if stat.S_ISREG(info.st_mode) and info.st_size > limit:
        raise InputError(f"{what} {path} is {_human(info.st_size)}; the limit is {_human(limit)}")
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror}") from None
    if len(data) > limit:
        raise InputError(f"{what} {path} is larger than the limit of {_human(limit)}")
    return data


def write_private(path: Path, data: bytes, *, overwrite: bool = False) -> None:
    """Write ``data`` readable by the owner only, atomically: never a half-written or world-readable key."""
    if path.exists() and not overwrite:
        raise InputError(f"{path} already exists; refusing to overwrite it")
    write_atomic(path, data, mode=0o600)


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` through a temporary file and a rename, so a reader never sees a partial file.

    The temporary file is created with ``mode`` from the start (O_EXCL), so a private key is never
    readable by others, not even for a moment.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
