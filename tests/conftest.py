"""Fixtures shared by every test package."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import VECTORS


@pytest.fixture(scope="session")
def vectors() -> Path:
    """The folder of public vectors; tests that need it skip, saying why, when it is absent."""
    if not (VECTORS / "MANIFEST.txt").is_file():
        pytest.skip(f"public vectors not found at {VECTORS} (set PROVCHECK_VECTORS)")
    return VECTORS


@pytest.fixture(scope="session", autouse=True)
def _history_key_outside_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Histories written by the tests seal their heads with a key (and witnesses) in a temp dir, not in ~/.config."""
    import os

    if "PROVCHECK_HISTORY_KEY" not in os.environ:
        os.environ["PROVCHECK_HISTORY_KEY"] = str(tmp_path_factory.mktemp("history-key") / "history-head.key")
