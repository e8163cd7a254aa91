"""``--debug`` changed exit codes: bad input (2) became 1 ("verification failed"), and ``--debug`` written
after the subcommand was refused by click with a traceback and exit 1.

The contract: ``--debug`` only adds tracebacks. For every exit code (0, 1, 2, 3), each reached both by
a returned verdict and by an error where the code has one, the flag before the subcommand, after it, or
absent gives the same code, and the last line on stderr is the same one-line message.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.helpers import run_cli


def _history_with_an_edited_row(path: Path) -> Path:
    from verifier.workflows.history import History

    history = History(path)
    for serial in ("SN-1", "SN-2"):
        history.append(serial=serial, verdict="pass", report={"serial": serial}, vsa=None)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE intakes SET verdict = 'pass', serial = 'SN-X' WHERE seq = 1")
    return path


def _cases(tmp: Path) -> list[tuple[str, int, list[object]]]:
    garbage = tmp / "garbage.sqlite3"
    garbage.write_bytes(bytes(range(256)) * 8)
    deep = tmp / "deep.toml"
    deep.write_text("version = 1\nx = " + "[" * 3000 + "]" * 3000 + "\n")
    return [
        ("verified (empty history lists fine)", 0, ["history", "--history-db", tmp / "none.sqlite3"]),
        ("verification failed (edited row)", 1,
         ["history", "--verify", "--history-db", _history_with_an_edited_row(tmp / "edited.sqlite3")]),
        ("bad input raised (not a database)", 2, ["history", "--history-db", garbage]),
        ("bad input raised (policy nested too deeply)", 2, ["intake", "--release", tmp, "--policy", deep]),
        ("usage error", 2, ["firmware", "inventory", tmp / "missing.bin"]),
        ("inconclusive verdict (unreadable history)", 3, ["history", "--verify", "--history-db", garbage]),
        ("inconclusive raised (port does not open)", 3,
         ["device", "read", "--port", tmp / "no-such-port", "--profile", "attest", "-o", tmp / "ev.json"]),
    ]


CASE_NAMES = [
    "exit-0", "exit-1", "exit-2-raised", "exit-2-policy", "exit-2-usage", "exit-3-verdict", "exit-3-raised",
]


@pytest.mark.parametrize("index", range(len(CASE_NAMES)), ids=CASE_NAMES)
def test_debug_keeps_the_exit_code_wherever_it_is_written(index: int, tmp_path: Path) -> None:
    what, code, args = _cases(tmp_path)[index]
    plain = run_cli(args, env={"PROVCHECK_HOME": str(tmp_path / "home")})
    assert plain.returncode == code, (what, plain.stderr)
    before = run_cli(["--debug", *args], env={"PROVCHECK_HOME": str(tmp_path / "home")})
    after = run_cli([*args, "--debug"], env={"PROVCHECK_HOME": str(tmp_path / "home")})
    for result in (before, after):
        assert result.returncode == code, (what, result.stderr)
        if code in (2,) or "raised" in what:
            # The same one-line message ends stderr; the traceback comes before it.
            assert result.stderr.strip().splitlines()[-1] == plain.stderr.strip().splitlines()[-1], result.stderr
        if "raised" in what:
            assert "Traceback (most recent call last)" in result.stderr, result.stderr
    assert "Traceback" not in plain.stderr, plain.stderr


def test_debug_after_a_double_dash_is_an_argument_not_the_flag(tmp_path: Path) -> None:
    # After "--" everything is an argument: a file literally named --debug is a missing file here, exit 2.
    result = run_cli(["firmware", "inventory", "--", "--debug"], cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
