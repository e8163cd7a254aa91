"""The intake history: hash-chained rows, tamper detection, and atomic appends under kill -9."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import REPO, assert_clean_error, run_cli
from verifier.model import Status
from verifier.workflows.history import History, check_chain, default_history_path


def _fill(path: Path, count: int = 4) -> History:
    store = History(path)
    for i in range(count):
        store.append(serial=f"SN-{i % 2}", verdict="pass", report={"title": f"intake {i}"}, vsa={"sig": i})
    return store


def test_default_path_honours_provcheck_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVCHECK_HOME", str(tmp_path))
    assert default_history_path() == tmp_path / "history.sqlite3"
    monkeypatch.delenv("PROVCHECK_HOME")
    assert default_history_path().name == "history.sqlite3"
    assert "provcheck" in str(default_history_path())


def test_intact_chain_passes_and_lists_by_serial(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite3"
    _fill(db)
    ok = run_cli(["history", "--verify", "--history-db", db, "--format", "json"])
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["verdict"] == "pass"
    listed = run_cli(["history", "--serial", "SN-1", "--history-db", db, "--format", "json"])
    records = json.loads(listed.stdout)["records"]
    assert [r["seq"] for r in records] == [2, 4]
    full = run_cli(["history", "--history-db", db, "--format", "json", "--full", "--serial", "SN-0"])
    assert [r["report"]["title"] for r in json.loads(full.stdout)["records"]] == ["intake 0", "intake 2"]
    text = run_cli(["history", "--history-db", db])
    assert text.returncode == 0 and "SN-0" in text.stdout and "PASS" in text.stdout


@pytest.mark.parametrize(
    ("sql", "words"),
    [
        ("DELETE FROM intakes WHERE seq = 2", "missing (deleted)"),
        ("DELETE FROM intakes WHERE seq = 1", "missing (deleted)"),
        ("DELETE FROM intakes WHERE seq = 4", "deleted from the end"),
        ("UPDATE intakes SET verdict = 'pass' || '' , report = '{\"title\":\"forged\"}' WHERE seq = 3", "edited"),
        ("UPDATE intakes SET serial = 'SN-9' WHERE seq = 1", "edited"),
        ("UPDATE intakes SET vsa = NULL WHERE seq = 2", "edited"),
    ],
    ids=["delete-middle", "delete-first", "delete-last", "edit-report", "edit-serial", "drop-vsa"],
)
def test_chain_detects_deletion_and_edits(tmp_path: Path, sql: str, words: str) -> None:
    db = tmp_path / "h.sqlite3"
    _fill(db)
    with sqlite3.connect(db) as conn:
        conn.execute(sql)
    findings = check_chain(History(db))
    assert any(f.status is Status.FAIL and words in f.message for f in findings), findings
    result = run_cli(["history", "--verify", "--history-db", db])
    assert result.returncode == 1, result.stdout + result.stderr
    assert "history.chain" in result.stdout


def test_missing_history_is_inconclusive_and_junk_is_bad_input(tmp_path: Path) -> None:
    result = run_cli(["history", "--verify", "--history-db", tmp_path / "none.sqlite3"])
    assert result.returncode == 3
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(os.urandom(4096))
    assert_clean_error(run_cli(["history", "--history-db", junk]), 2)
    empty_listing = run_cli(["history", "--history-db", tmp_path / "none.sqlite3"])
    assert empty_listing.returncode == 0 and "no intake records" in empty_listing.stderr


_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from verifier.workflows.history import History
    store = History(Path(sys.argv[1]))
    n = 0
    for _go in sys.stdin:
        n += 1
        row = store.append(serial="SN-KILL", verdict="pass", report={"pad": "x" * 300_000, "n": n}, vsa=None)
        print(row.seq, flush=True)
    """
)


def test_kill_9_leaves_old_or_new_state(tmp_path: Path) -> None:
    """A writer is killed with SIGKILL at random points; the chain is always whole and nothing half-written."""
    db = tmp_path / "h.sqlite3"
    rng = random.Random(0x5EED)
    committed = 0
    for _round in range(10):
        proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(db)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        assert proc.stdout is not None and proc.stdin is not None
        for _ in range(rng.randint(0, 3)):
            proc.stdin.write("go\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
            assert line, "the writer died on its own"
            committed = int(line)
        # Start one more append and kill somewhere inside it (or before, or just after) without warning.
        proc.stdin.write("go\n")
        proc.stdin.flush()
        spin = rng.randint(0, 1_500_000)
        while spin:
            spin -= 1
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        with sqlite3.connect(db) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        walk = History(db).walk_chain()
        assert walk.problems == (), walk.problems
        # Either the old state (the last commit it reported) or one more whole row it committed but never printed.
        assert walk.rows in (committed, committed + 1), (walk.rows, committed)
        committed = walk.rows
