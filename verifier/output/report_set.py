"""An intake's report directory, written as one set: all of it, or none of it.

The set is report.txt, report.json, report.sarif, report.html, report.cdx.json (CycloneDX 1.6), the
evidence, the signed VSA and the session transcript. Written file by file into the report directory, a
crash half-way (a lone surrogate in the evidence, a full disk) left report.json and a signed VSA but no
HTML and no history row; and in a reused directory report.json said FAIL while report.html still said
PASS from an earlier intake.

So a set is staged in a fresh temporary directory beside the target (same file system), every file is
rendered and written there first, and only then is the staging directory renamed into place. An existing
set is renamed aside, the new one renamed in, and the old one removed: a reader sees the old set or the
new one, never a mix. When anything fails before that, the staging directory is removed and the existing
set is left untouched.

An intake killed mid-way (SIGKILL) cannot clean up: the next intake into the same directory removes the
staging directories of writers no longer running (their pid is in the name) and puts back a set one of them
had renamed aside.

The report directory is replaced as a whole, so provcheck refuses (exit 2, before reading the device) a
directory that holds anything but report-set files: ``--report-dir ~`` must not delete a home directory.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import weakref
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from attestations.errors import InputError
from attestations.files import output_error
from verifier.model import Report
from verifier.output import get_renderer
from verifier.output.sanitize import display
from verifier.output.text import TextRenderer

if TYPE_CHECKING:
    from hw.evidence import DeviceEvidence

REPORT_FILES: Mapping[str, str] = {
    "text": "report.txt",
    "json": "report.json",
    "sarif": "report.sarif",
    "html": "report.html",
    "cyclonedx": "report.cdx.json",
}
#: Written into every set, so that a later intake knows the directory is one it may replace.
MARKER = ".provcheck-report-set"
#: Not part of the set, but allowed beside it and carried into the new set: ``provcheck bench`` writes each
#: intake's stderr there while the intake runs (renaming keeps the bench's open handle valid).
CARRIED = frozenset({"intake.log"})
#: Written beside the set by ``provcheck bench`` once the intake finished (its test-result statement, signed or not);
#: allowed here so that a bench can be run again into the same directory, and dropped with the old set.
BENCH_FILES = frozenset({"test-result.intoto.json", "test-result.intoto.jsonl"})
_SET_NAMES = frozenset(
    {*REPORT_FILES.values(), "vsa.intoto.jsonl", "evidence.json", MARKER, *CARRIED, *BENCH_FILES}
)
_TRANSCRIPT_NAME = re.compile(r"(?:auto|uboot|linux|attest)-\d+-[0-9a-f]{16}\.jsonl")


def _is_set_file(name: str) -> bool:
    return name in _SET_NAMES or _TRANSCRIPT_NAME.fullmatch(name) is not None


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ReportSet:
    """One intake's report set, staged until ``commit`` renames it into ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._check_replaceable()
        parent = directory.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            self._recover()
            self.staging = Path(tempfile.mkdtemp(prefix=self._prefix(os.getpid()), suffix=".new", dir=parent))
        except OSError as exc:
            raise output_error(directory, exc) from None
        # Whatever ends the intake early (an error, an interrupt), the staging directory does not stay.
        self._cleanup = weakref.finalize(self, shutil.rmtree, str(self.staging), ignore_errors=True)
        self._files: dict[str, Path] = {}
        self.add(MARKER, b"provcheck report set: this directory is replaced as a whole by the next intake\n")

    def _prefix(self, pid: int) -> str:
        # The pid in the name tells a later intake whether the writer is still alive.
        return f".{self.directory.name}.{pid}."

    def _recover(self) -> None:
        """Tidy up after an intake that was killed (SIGKILL, power loss) while writing this set.

        Its staging directory is removed; a set it had renamed aside but not yet replaced is put back.
        Only directories of writers that are no longer running are touched.
        """
        pattern = re.compile(re.escape(f".{self.directory.name}.") + r"(\d+)\.[^.]+\.(new|old)")
        for entry in self.directory.parent.iterdir():
            found = pattern.fullmatch(entry.name)
            if found is None or not entry.is_dir() or _alive(int(found.group(1))):
                continue
            with contextlib.suppress(OSError):  # tidying is a courtesy; it never stops this intake
                if found.group(2) == "old" and (entry / "set").is_dir() and not self.directory.exists():
                    os.rename(entry / "set", self.directory)
                shutil.rmtree(entry, ignore_errors=True)

    def _check_replaceable(self) -> None:
        try:
            if self.directory.is_symlink():
                # The set replaces the directory by renaming; a link would be replaced, not what it points to.
                raise InputError(f"--report-dir {display(str(self.directory))} is a symlink; give the directory itself")
            if self.directory.exists() and not self.directory.is_dir():
                raise InputError(f"--report-dir {display(str(self.directory))} is not a directory")
            if not self.directory.exists():
                return
            others = sorted(name for name in os.listdir(self.directory) if not _is_set_file(name))
        except OSError as exc:
            raise output_error(self.directory, exc) from None
        if others:
            raise InputError(
                f"--report-dir {display(str(self.directory))} holds files that are not a provcheck report set "
                f"({display(', '.join(others[:3]))}{', ...' if len(others) > 3 else ''}); it is replaced as a "
                "whole, so give an empty or new directory"
            )

    def add(self, name: str, data: bytes) -> Path:
        """Stage one file of the set; returns where it will be once the set is committed."""
        staged = self.staging / name
        try:
            with staged.open("wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            self.discard()
            raise output_error(self.directory / name, exc) from None
        self._files[name] = self.directory / name
        return self.directory / name

    def adopt(self, evidence: DeviceEvidence) -> DeviceEvidence:
        """The evidence with its transcript path pointing where the transcript will be after the commit.

        The transcript was written into the staging directory by the reader; the path is provcheck's own
        note of where it keeps the file (its sha256 is what binds it), so it is rewritten before the
        evidence is hashed into the VSA.
        """
        recorded = evidence.transcript.get("path")
        if not isinstance(recorded, str) or Path(recorded).parent != self.staging:
            return evidence
        return replace(evidence, transcript={**evidence.transcript, "path": str(self.directory / Path(recorded).name)})

    def commit(self, report: Report) -> dict[str, Path]:
        """Render the reports, then put the whole set in place; returns the report files by format."""
        # Render everything before writing anything: a renderer that fails leaves the old set untouched.
        rendered: dict[str, bytes] = {}
        try:
            for name, filename in REPORT_FILES.items():
                renderer = TextRenderer(color=False) if name == "text" else get_renderer(name)
                # The renderers escape what cannot be shown; backslashreplace only makes sure that a string
                # that slipped through (a lone surrogate) is escaped, never a crash after half the set.
                rendered[filename] = renderer.render(report).encode("utf-8", "backslashreplace")
        except BaseException:
            self.discard()
            raise
        out: dict[str, Path] = {}
        for name, filename in REPORT_FILES.items():
            out[name] = self.add(filename, rendered[filename])
        self._rename_into_place()
        return out

    def _rename_into_place(self) -> None:
        target = self.directory
        try:
            _fsync_directory(self.staging)
            os.chmod(self.staging, 0o755 & ~_umask())
            if not target.exists():
                os.rename(self.staging, target)
            else:
                self._check_replaceable()
                carried = [n for n in sorted(CARRIED) if (target / n).is_file() and not (self.staging / n).exists()]
                for name in carried:
                    os.rename(target / name, self.staging / name)
                try:
                    aside = Path(tempfile.mkdtemp(prefix=self._prefix(os.getpid()), suffix=".old", dir=target.parent))
                    os.rename(target, aside / "set")
                except BaseException:
                    for name in carried:
                        os.rename(self.staging / name, target / name)
                    raise
                try:
                    os.rename(self.staging, target)
                except BaseException:
                    os.rename(aside / "set", target)
                    for name in carried:
                        os.rename(self.staging / name, target / name)
                    raise
                shutil.rmtree(aside, ignore_errors=True)
            _fsync_directory(target.parent)
        except OSError as exc:
            self.discard()
            raise output_error(target, exc) from None
        except BaseException:
            self.discard()
            raise
        self._cleanup.detach()

    def discard(self) -> None:
        """Remove the staging directory; an existing set stays as it was."""
        self._cleanup()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists, owned by someone else
    return True


def _umask() -> int:
    # Read, not set-and-restore: os.umask() changes the whole process, and other threads may be creating files.
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022
