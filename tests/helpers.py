"""Helpers for tests: where the public vectors are, and running the CLI as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VECTORS = Path(os.environ.get("PROVCHECK_VECTORS", REPO.parent / "shared" / "vectors")).resolve()


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str


def run_cli(
    args: Sequence[object], *, timeout: float = 120, cwd: Path | None = None, env: dict[str, str] | None = None
) -> Run:
    """Run ``provcheck`` as a separate process, exactly as a user would."""
    proc = subprocess.run(
        [sys.executable, "-m", "verifier.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def assert_clean_error(result: Run, code: int) -> None:
    """The bad-input contract: the documented exit code, one short message on stderr, no traceback."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip(), "an error must say what went wrong"
    assert len(result.stderr.strip().splitlines()) <= 3, result.stderr
