"""Fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import Iterator
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


@pytest.fixture(scope="session", autouse=True)
def _emitted_check_ids_are_catalogued(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """At session end, every check id in a report the tests wrote is in verifier/checks/catalogue.py.

    pip-audit style: the suite's own outputs are run through the catalogue (tests/emitted_checks.py says
    which files and why). A failure here is an error in this fixture's teardown naming the id and the file.
    """
    yield
    from tests.emitted_checks import emitted_under, uncatalogued

    unknown = uncatalogued(emitted_under(tmp_path_factory.getbasetemp()))
    if unknown:
        listed = "; ".join(f"{check} (in {path})" for check, path in sorted(unknown.items()))
        pytest.fail(f"reports hold check ids missing from verifier/checks/catalogue.py: {listed}", pytrace=False)
