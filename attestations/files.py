"""Reading input files with a size bound (a hostile or mistaken input cannot exhaust memory), and the one atomic
writer of the attestations side: a reader never sees a half-written file or a key readable by others."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from attestations.errors import InputError, OutputError

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


def output_error(path: Path, exc: OSError) -> OutputError | InputError:
    """An OSError met while writing ``path``, as the error the CLI maps to an exit code.

    Disk full, a read-only file system, no permission and I/O errors are the environment (exit 3,
    ``OutputError``); a missing folder or a name that is a directory is the user's path (exit 2).
    """
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG, errno.ELOOP):
        return InputError(f"cannot write {path}: {reason}")
    return OutputError(f"cannot write {path}: {reason}")


def _write_through(path: Path, data: bytes) -> None:
    # A character device or a FIFO is written into, never replaced: "-o /dev/null" must not turn
    # the machine's /dev/null into a regular file. No O_CREAT: the node exists, and nothing else is made.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOCTTY)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    except OSError as exc:
        raise output_error(path, exc) from None


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` so that a reader never sees a partial file.

    What ``path`` already is decides how:
    - absent or a regular file: a temporary file beside it, then a rename over it. The temporary file is
      created with ``mode`` from the start (O_EXCL), so a private key is never readable by others;
    - a character device or a FIFO (``/dev/null``, ``/dev/stdout`` of a pipe): written through, never replaced;
    - a symlink: the same rules applied to the file it points to; the link stays. A dangling link is refused
      (exit 2): it is how a planted link would make us create a file somewhere else;
    - a directory, socket or block device: refused (exit 2).
    Disk full, read-only and permission errors are ``OutputError`` (exit 3) naming ``path``; nothing partial stays.
    """
    target = path
    try:
        info = path.lstat()
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise output_error(path, exc) from None
    if info is not None and stat.S_ISLNK(info.st_mode):
        try:
            target = path.resolve(strict=True)
            info = target.stat()
        except (OSError, RuntimeError):
            raise InputError(f"cannot write {path}: it is a symlink to nothing that exists; refusing to follow it") \
                from None
    if info is not None and (stat.S_ISCHR(info.st_mode) or stat.S_ISFIFO(info.st_mode)):
        _write_through(target, data)
        return
    if info is not None and not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file, device or FIFO"
        raise InputError(f"cannot write {path}: it is {kind}")
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except OSError as exc:
        raise output_error(path, exc) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise output_error(path, exc) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
