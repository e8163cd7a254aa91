"""Rendering an HTML file with Debian's headless chromium, offline, and collecting what the page logged."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
)


@dataclass(frozen=True)
class Rendered:
    dom: str
    console: list[str]
    png: bytes


def chromium_binary() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.skip("Debian's chromium is not installed (tests/run.sh installs it)")
    return found


def render(page: Path) -> Rendered:
    """Load ``page`` twice: once to dump the DOM, once to screenshot it. Console lines are page errors."""
    binary = chromium_binary()
    with tempfile.TemporaryDirectory(prefix="provcheck-chromium-") as profile:
        shot = Path(profile) / "page.png"
        url = page.resolve().as_uri()
        dom = subprocess.run(
            [binary, *FLAGS, f"--user-data-dir={profile}/a", "--dump-dom", url],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        pic = subprocess.run(
            [binary, *FLAGS, f"--user-data-dir={profile}/b", "--window-size=1100,1500", f"--screenshot={shot}", url],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        console = [line for line in (dom.stderr + pic.stderr).splitlines() if ":CONSOLE" in line or "Uncaught" in line]
        return Rendered(dom.stdout, console, shot.read_bytes())
