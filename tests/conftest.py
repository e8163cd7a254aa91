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
