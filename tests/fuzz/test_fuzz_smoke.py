"""A bounded fuzz smoke of every harness (10^4 executions each unless PROVCHECK_FUZZ_RUNS says otherwise).

Each harness checks that only the package's documented errors escape, that no
input takes more than 1 s and that memory stays under 1 GB (see fuzz/_harness.py).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parents[2] / "fuzz"
sys.path.insert(0, str(FUZZ))

from run import HARNESSES, Harness, run_harness  # noqa: E402

RUNS = int(os.environ.get("PROVCHECK_FUZZ_RUNS", "10000"))


@pytest.mark.parametrize("harness", HARNESSES, ids=[h.name for h in HARNESSES])
def test_harness_survives_smoke_run(harness: object, tmp_path: Path) -> None:
    outcome = run_harness(harness, RUNS, tmp_path / "crashes")  # type: ignore[arg-type]
    assert outcome.ok, outcome.crash
    assert outcome.runs >= RUNS, f"{outcome.name} stopped after {outcome.runs} executions"
    assert outcome.seeds > 0, "a harness without seeds explores nothing real"


def test_every_harness_has_a_script() -> None:
    for harness in HARNESSES:
        assert harness.script.is_file(), harness.script


def test_a_harness_that_lets_an_undocumented_error_escape_is_reported(tmp_path: Path) -> None:
    """The failing twin of the smoke: the runner must notice a crash and keep the input that caused it."""
    script = tmp_path / "fuzz_planted.py"
    script.write_text(
        "from _harness import run\n"
        "class Documented(Exception):\n    pass\n"
        "def target(data: bytes) -> None:\n"
        "    if data[:1] == b'!':\n        raise KeyError('undocumented')\n"
        "    raise Documented()\n"
        "if __name__ == '__main__':\n    run(target, (Documented,))\n"
    )
    outcome = run_harness(Harness("planted", script_path=script), 100_000, tmp_path / "crashes")
    assert not outcome.ok
    assert "KeyError" in outcome.crash
    assert list((tmp_path / "crashes").glob("planted-*")), "the crashing input must be kept"
