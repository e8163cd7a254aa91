"""Deleting the newest history rows and copying an older row's ``seq``/``row_hash`` into the chain head
passed ``history --verify``: the head said nothing a row copy could not reproduce.

The head now carries a seal (HMAC over the history id, the last seq and the last row hash) keyed with a
file outside the database, and each append leaves a witness of its head beside that key. Each attack
below is made with SQL or file copies, as someone with write access to the database file (but not to the
key) would make it, and ``provcheck history --verify`` must fail (exit 1) naming what happened.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import sqlite3
import stat
from pathlib import Path

import pytest

from tests.helpers import run_cli
from verifier.workflows.history import GENESIS, History, row_hash


@pytest.fixture
def key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config" / "history-head.key"
    monkeypatch.setenv("PROVCHECK_HISTORY_KEY", str(path))
    return path


def _fill(db: Path, count: int = 4) -> History:
    store = History(db)
    for i in range(count):
        store.append(serial=f"SN-{i}", verdict="fail" if i == 3 else "pass", report={"n": i}, vsa=None)
    return store


def _verify(db: Path, key: Path) -> tuple[int, str]:
    result = run_cli(["history", "--verify", "--history-db", db, "--format", "json"],
                     env={"PROVCHECK_HISTORY_KEY": str(key)})
    assert result.stdout, result.stderr
    findings = json.loads(result.stdout)["findings"]
    return result.returncode, "\n".join(f"{f['status']}: {f['message']}" for f in findings)


def test_rows_cut_off_and_head_copied_from_an_older_row(tmp_path: Path, key: Path) -> None:
    db = tmp_path / "h.sqlite3"
    _fill(db)
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM intakes WHERE seq > 2")  # the failed intake (row 4) disappears
        seq, digest = conn.execute("SELECT seq, row_hash FROM intakes WHERE seq = 2").fetchone()
        conn.execute("UPDATE chain_head SET seq = ?, row_hash = ? WHERE id = 1", (seq, digest))
    code, out = _verify(db, key)
    assert code == 1, out
    assert "seal does not verify" in out


def test_every_row_rewritten_consistently(tmp_path: Path, key: Path) -> None:
    db = tmp_path / "h.sqlite3"
    _fill(db)
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT seq, recorded_at, serial, report, vsa FROM intakes ORDER BY seq").fetchall()
        prev = GENESIS
        for seq, when, serial, report, vsa in rows:
            digest = row_hash(seq, when, serial, "pass", report, vsa, prev)  # every verdict now "pass"
            conn.execute("UPDATE intakes SET verdict = 'pass', prev_hash = ?, row_hash = ? WHERE seq = ?",
                         (prev, digest, seq))
            prev = digest
        conn.execute("UPDATE chain_head SET row_hash = ? WHERE id = 1", (prev,))
    code, out = _verify(db, key)
    assert code == 1, out
    assert "seal does not verify" in out


def test_head_sealed_with_a_guessed_key(tmp_path: Path, key: Path) -> None:
    db = tmp_path / "h.sqlite3"
    _fill(db)
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM intakes WHERE seq = 4")
        seq, digest = conn.execute("SELECT seq, row_hash FROM intakes WHERE seq = 3").fetchone()
        history_id = conn.execute("SELECT history_id FROM chain_head").fetchone()[0]
        material = json.dumps(["provcheck history head v1", history_id, seq, digest], separators=(",", ":"))
        seal = hmac.new(bytes(32), material.encode(), hashlib.sha256).hexdigest()
        conn.execute("UPDATE chain_head SET seq = ?, row_hash = ?, seal = ? WHERE id = 1", (seq, digest, seal))
    code, out = _verify(db, key)
    assert code == 1 and "seal does not verify" in out, out


@pytest.mark.parametrize(
    ("sql", "words"),
    [
        ("DELETE FROM chain_head", "chain head record is gone"),
        ("UPDATE chain_head SET seal = NULL", "carries no seal"),
        ("UPDATE chain_head SET history_id = NULL, seal = NULL", "carries no seal"),
        ("DELETE FROM intakes; UPDATE chain_head SET seq = 0, row_hash = '" + GENESIS + "', history_id = NULL, "
         "seal = NULL", "every row was deleted"),
        ("DROP TABLE intakes; DROP TABLE chain_head", "emptied or replaced"),
    ],
    ids=["head-deleted", "seal-stripped", "seal-and-id-stripped", "all-rows-deleted", "tables-dropped"],
)
def test_head_deleted_stripped_or_history_emptied(tmp_path: Path, key: Path, sql: str, words: str) -> None:
    db = tmp_path / "h.sqlite3"
    _fill(db)
    with sqlite3.connect(db) as conn:
        conn.executescript(sql)
    code, out = _verify(db, key)
    assert code == 1, out
    assert words in out, out


def test_file_rolled_back_to_an_older_copy(tmp_path: Path, key: Path) -> None:
    db = tmp_path / "h.sqlite3"
    store = _fill(db, 2)
    shutil.copy(db, tmp_path / "older.sqlite3")
    store.append(serial="SN-X", verdict="fail", report={"n": 9}, vsa=None)
    shutil.copy(tmp_path / "older.sqlite3", db)  # a whole, validly sealed, older history
    code, out = _verify(db, key)
    assert code == 1 and "rolled back to an older copy" in out, out


def test_file_replaced_by_another_history_or_deleted(tmp_path: Path, key: Path) -> None:
    db, other = tmp_path / "h.sqlite3", tmp_path / "other.sqlite3"
    _fill(db)
    _fill(other, 5)  # sealed with the same key
    shutil.copy(other, db)
    code, out = _verify(db, key)
    assert code == 1 and "holds another history" in out, out
    db.unlink()
    code, out = _verify(db, key)
    assert code == 1 and "the history file is gone" in out, out


def test_intact_history_verifies_and_appends_go_on(tmp_path: Path, key: Path) -> None:
    """The failing twins' honest side, with a witness left one append behind (a kill after the commit)."""
    db = tmp_path / "h.sqlite3"
    store = _fill(db, 3)
    witness = store.head_key.witness_path(db)
    behind = witness.read_bytes()
    store.append(serial="SN-3", verdict="pass", report={"n": 3}, vsa=None)
    witness.write_bytes(behind)
    code, out = _verify(db, key)
    assert code == 0, out
    assert "seal verifies" in out
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_appending_to_a_forged_head_is_refused(tmp_path: Path, key: Path) -> None:
    from verifier.workflows.history import HistoryTamperedError

    db = tmp_path / "h.sqlite3"
    store = _fill(db)
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM intakes WHERE seq > 2")
        seq, digest = conn.execute("SELECT seq, row_hash FROM intakes WHERE seq = 2").fetchone()
        conn.execute("UPDATE chain_head SET seq = ?, row_hash = ? WHERE id = 1", (seq, digest))
    # Sealing whatever the head says now would bless the forgery.
    with pytest.raises(HistoryTamperedError, match="nothing was appended"):
        store.append(serial="SN-9", verdict="pass", report={}, vsa=None)
    assert len(store.records()) == 2


def test_without_the_head_key_the_verdict_is_inconclusive(tmp_path: Path, key: Path) -> None:
    db = tmp_path / "h.sqlite3"
    _fill(db)
    code, out = _verify(db, tmp_path / "elsewhere.key")
    assert code == 3, out
    assert "PROVCHECK_HISTORY_KEY" in out
