"""The intake history: one SQLite row per intake, each chained to the previous one by hash.

A row holds the report and the signed VSA. Its hash covers its own fields and the
previous row's hash, and a one-row ``chain_head`` table records the last sequence
number and hash, so a row edited, deleted from the middle or cut off the end is
detected. Whoever can rewrite every row and the head can forge the chain; the signed
VSAs inside the rows are what survives that.

Each append is one ``BEGIN IMMEDIATE`` transaction: a kill at any point leaves the
database holding either the old chain or the new one.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from verifier.errors import BadInputError
from verifier.model import Finding, errored, failed, passed, skipped

GENESIS = "0" * 64
HISTORY_FILE = "history.sqlite3"
ENV_HOME = "PROVCHECK_HOME"
_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS intakes (
    seq INTEGER PRIMARY KEY,
    recorded_at TEXT NOT NULL,
    serial TEXT NOT NULL,
    verdict TEXT NOT NULL,
    report TEXT NOT NULL,
    vsa TEXT,
    prev_hash TEXT NOT NULL,
    row_hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS intakes_serial ON intakes(serial);
CREATE TABLE IF NOT EXISTS chain_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    row_hash TEXT NOT NULL
);
INSERT OR IGNORE INTO chain_head (id, seq, row_hash) VALUES (1, 0, '"""
    + GENESIS
    + "');"
)


def default_history_path() -> Path:
    """``$PROVCHECK_HOME/history.sqlite3``, else the platform's user data directory."""
    home = os.environ.get(ENV_HOME)
    if home:
        return Path(home).expanduser() / HISTORY_FILE
    import platformdirs

    return platformdirs.user_data_path("provcheck", appauthor=False) / HISTORY_FILE


@dataclass(frozen=True)
class IntakeRecord:
    seq: int
    recorded_at: str
    serial: str
    verdict: str
    report: str
    vsa: str | None
    prev_hash: str
    row_hash: str

    def to_json(self, *, full: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "seq": self.seq,
            "recorded_at": self.recorded_at,
            "serial": self.serial,
            "verdict": self.verdict,
            "prev_hash": self.prev_hash,
            "row_hash": self.row_hash,
        }
        if full:
            out["report"] = json.loads(self.report)
            out["vsa"] = json.loads(self.vsa) if self.vsa else None
        return out


def row_hash(seq: int, recorded_at: str, serial: str, verdict: str, report: str, vsa: str | None, prev: str) -> str:
    material = json.dumps([seq, recorded_at, serial, verdict, report, vsa, prev], separators=(",", ":"))
    return hashlib.sha256(material.encode()).hexdigest()


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    problem: str


@dataclass(frozen=True)
class ChainCheck:
    """Facts about one walk of the chain."""

    path: Path
    rows: int
    head_seq: int
    problems: tuple[ChainProblem, ...]


class History:
    """The intake history at one path. Connections are short-lived, so threads may share an instance."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_history_path()

    @contextmanager
    def _connect(self, *, create: bool) -> Iterator[sqlite3.Connection]:
        if not create and not self.path.exists():
            raise FileNotFoundError(self.path)
        if self.path.is_dir():
            raise BadInputError(f"{self.path}: is a directory, not a history database")
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.Error as exc:
            raise BadInputError(f"{self.path}: cannot open the history database: {exc}") from None
        try:
            conn.execute("PRAGMA synchronous=FULL")
            yield conn
        except sqlite3.DatabaseError as exc:
            raise BadInputError(f"{self.path}: not a readable history database: {exc}") from None
        finally:
            conn.close()

    def append(
        self,
        *,
        serial: str,
        verdict: str,
        report: dict[str, Any],
        vsa: dict[str, Any] | None,
        recorded_at: datetime | None = None,
    ) -> IntakeRecord:
        """Add one intake as a single transaction and return the row as written."""
        when = (recorded_at or datetime.now(UTC)).isoformat(timespec="seconds")
        report_text = json.dumps(report, sort_keys=True, separators=(",", ":"), default=str)
        vsa_text = json.dumps(vsa, sort_keys=True, separators=(",", ":")) if vsa is not None else None
        with self._connect(create=True) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                head_seq, head_hash = conn.execute("SELECT seq, row_hash FROM chain_head WHERE id = 1").fetchone()
                seq = int(head_seq) + 1
                digest = row_hash(seq, when, serial, verdict, report_text, vsa_text, str(head_hash))
                conn.execute(
                    "INSERT INTO intakes (seq, recorded_at, serial, verdict, report, vsa, prev_hash, row_hash)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (seq, when, serial, verdict, report_text, vsa_text, head_hash, digest),
                )
                conn.execute("UPDATE chain_head SET seq = ?, row_hash = ? WHERE id = 1", (seq, digest))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return IntakeRecord(seq, when, serial, verdict, report_text, vsa_text, str(head_hash), digest)

    def records(self, *, serial: str | None = None) -> list[IntakeRecord]:
        if not self.path.exists():
            return []
        with self._connect(create=False) as conn:
            if not _has_tables(conn):
                return []
            query = "SELECT seq, recorded_at, serial, verdict, report, vsa, prev_hash, row_hash FROM intakes"
            args: Sequence[Any] = ()
            if serial is not None:
                query += " WHERE serial = ?"
                args = (serial,)
            rows = conn.execute(query + " ORDER BY seq", args).fetchall()
        return [IntakeRecord(*row) for row in rows]

    def summaries(self, *, serial: str | None = None) -> list[dict[str, Any]]:
        """One small row per intake (no report or VSA bodies), so listing a long history stays cheap."""
        if not self.path.exists():
            return []
        with self._connect(create=False) as conn:
            if not _has_tables(conn):
                return []
            query = (
                "SELECT seq, recorded_at, serial, verdict, json_extract(report, '$.metadata.release.name'), "
                "vsa IS NOT NULL, row_hash FROM intakes"
            )
            args: Sequence[Any] = ()
            if serial is not None:
                query += " WHERE serial = ?"
                args = (serial,)
            rows = conn.execute(query + " ORDER BY seq", args).fetchall()
        keys = ("seq", "recorded_at", "serial", "verdict", "release", "has_vsa", "row_hash")
        return [{**dict(zip(keys, row, strict=True)), "has_vsa": bool(row[5])} for row in rows]

    def walk_chain(self) -> ChainCheck:
        """Recompute every row's hash and link, one row at a time; collect what does not add up."""
        problems: list[ChainProblem] = []
        expected_seq, prev, count, last_seq = 1, GENESIS, 0, 0
        with self._connect(create=False) as conn:
            if not _has_tables(conn):
                return ChainCheck(self.path, 0, 0, ())
            head = conn.execute("SELECT seq, row_hash FROM chain_head WHERE id = 1").fetchone()
            cursor = conn.execute(
                "SELECT seq, recorded_at, serial, verdict, report, vsa, prev_hash, row_hash FROM intakes ORDER BY seq"
            )
            for row in cursor:
                record = IntakeRecord(*row)
                count += 1
                if record.seq != expected_seq:
                    problems.append(
                        ChainProblem(record.seq, f"rows {expected_seq}..{record.seq - 1} are missing (deleted)")
                        if record.seq > expected_seq
                        else ChainProblem(record.seq, "sequence number out of order")
                    )
                if record.prev_hash != prev:
                    problems.append(ChainProblem(record.seq, "does not link to the previous row's hash"))
                recomputed = row_hash(
                    record.seq,
                    record.recorded_at,
                    record.serial,
                    record.verdict,
                    record.report,
                    record.vsa,
                    record.prev_hash,
                )
                if recomputed != record.row_hash:
                    problems.append(ChainProblem(record.seq, "its content does not match its hash (edited)"))
                expected_seq, prev, last_seq = record.seq + 1, record.row_hash, record.seq
        head_seq, head_hash = (int(head[0]), str(head[1])) if head else (0, GENESIS)
        if head_seq != last_seq or head_hash != prev:
            problems.append(
                ChainProblem(
                    head_seq,
                    f"the chain head is row {head_seq} but the last row is {last_seq} (rows "
                    "deleted from the end, or the head was edited)",
                )
            )
        return ChainCheck(self.path, count, head_seq, tuple(problems))


def _has_tables(conn: sqlite3.Connection) -> bool:
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return {"intakes", "chain_head"} <= names


def check_chain(history: History) -> list[Finding]:
    """Judge the history's hash chain: one finding per problem, or one pass."""
    subject = str(history.path)
    if not history.path.exists():
        return [skipped("history.chain", f"no intake history exists yet at {subject}", "chain")]
    try:
        walk = history.walk_chain()
    except BadInputError as exc:
        return [errored("history.chain", str(exc), "chain")]
    if walk.problems:
        return [
            failed("history.chain", f"intake record {p.seq}: {p.problem}", f"record {p.seq}", seq=p.seq, path=subject)
            for p in walk.problems
        ]
    if walk.rows == 0:
        return [skipped("history.chain", "the intake history is empty; there is no chain to verify", "chain")]
    return [
        passed(
            "history.chain", f"all {walk.rows} intake records link up by hash", "chain", rows=walk.rows, path=subject
        )
    ]
