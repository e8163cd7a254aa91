"""The intake history: one SQLite row per intake, each chained to the previous one by hash.

A row holds the report and the signed VSA. Its hash covers its own fields and the
previous row's hash, so a row edited or deleted from the middle is detected. The
one-row ``chain_head`` table records the last sequence number and hash, and a **seal**:
an HMAC-SHA256 over the history's random id, that number and that hash, keyed with the
**head key**, a file held outside the database (``$PROVCHECK_HISTORY_KEY``, else
``history-head.key`` in the user config directory, created 0600 on first use). Rows cut
off the end with the head copied from an older row, or every row rewritten consistently,
no longer match the seal, and without the key no one can make a new one.

Beside the key, each append leaves a **witness** of the head it wrote (``history-heads/``,
one small file per database path). It catches what a seal cannot: the whole file put
back to an older copy of itself, swapped for another history, emptied or deleted.
docs/workflows.md states what an attacker with write access to the database can and
cannot do.

Each append is one ``BEGIN IMMEDIATE`` transaction: a kill at any point leaves the
database holding either the old chain or the new one. The witness is written after the
commit, so a kill can only leave it one append behind, which it tolerates.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import platformdirs

from attestations.errors import AttestationError
from attestations.files import write_atomic
from verifier.errors import BadInputError, ProvcheckError
from verifier.model import ExitCode, Finding, errored, failed, passed, skipped

GENESIS = "0" * 64
HISTORY_FILE = "history.sqlite3"
ENV_HOME = "PROVCHECK_HOME"
ENV_HEAD_KEY = "PROVCHECK_HISTORY_KEY"
HEAD_KEY_FILE = "history-head.key"
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
    row_hash TEXT NOT NULL,
    history_id TEXT,
    seal TEXT
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

    return platformdirs.user_data_path("provcheck", appauthor=False) / HISTORY_FILE


class HistoryTamperedError(ProvcheckError):
    """The history's head does not verify, so appending to it would bless a forged chain (exit 1)."""

    exit_code = ExitCode.FAILED


def default_head_key_path() -> Path:
    """``$PROVCHECK_HISTORY_KEY``, else ``history-head.key`` in the platform's user config directory.

    Not next to the database by default: the point of the key is that whoever can write the database
    file cannot read it.
    """
    explicit = os.environ.get(ENV_HEAD_KEY)
    if explicit:
        return Path(explicit).expanduser()

    return platformdirs.user_config_path("provcheck", appauthor=False) / HEAD_KEY_FILE


class HeadKey:
    """The head key file and the witnesses beside it."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_head_key_path()

    def load(self, *, create: bool) -> bytes | None:
        """The key; created (0600, atomically: two first appends agree on one key) when asked and absent."""
        try:
            text = self.path.read_text().strip()
        except FileNotFoundError:
            if not create:
                return None
            return self._create()
        except OSError as exc:
            raise BadInputError(f"{self.path}: cannot read the history head key: {exc.strerror or exc}") from None
        try:
            key = bytes.fromhex(text)
        except ValueError:
            key = b""
        if len(key) != 32:
            raise BadInputError(f"{self.path}: not a history head key (64 hex digits)")
        return key

    def _create(self) -> bytes:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = secrets.token_bytes(32)
        handle, temporary = tempfile.mkstemp(prefix=".head-key-", dir=self.path.parent)
        try:
            with os.fdopen(handle, "w") as out:  # mkstemp creates it 0600
                out.write(key.hex() + "\n")
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(temporary, self.path)  # never replaces a key another process created meanwhile
            except FileExistsError:
                return self.load(create=False) or key
        finally:
            os.unlink(temporary)
        return key

    def witness_path(self, database: Path) -> Path:
        where = hashlib.sha256(str(database.resolve()).encode()).hexdigest()[:32]
        return self.path.parent / "history-heads" / f"{where}.json"

    def read_witness(self, database: Path) -> dict[str, Any] | None:
        try:
            witness = json.loads(self.witness_path(database).read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(witness, dict) or not isinstance(witness.get("seq"), int):
            return None
        return witness

    def write_witness(self, database: Path, history_id: str, seq: int, digest: str) -> None:
        """Best effort and unlocked: a racing writer can only leave an older head, which is still a true one."""
        target = self.witness_path(database)
        try:
            witness = {"database": str(database.resolve()), "history_id": history_id, "seq": seq, "row_hash": digest}
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_atomic(target, json.dumps(witness).encode(), mode=0o600)
        except (OSError, AttestationError):  # write_atomic reports its OSErrors as InputError / OutputError
            return


def head_seal(key: bytes, history_id: str, seq: int, digest: str) -> str:
    material = json.dumps(["provcheck history head v1", history_id, seq, digest], separators=(",", ":"))
    return hmac.new(key, material.encode(), hashlib.sha256).hexdigest()


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
    #: Why the head's seal could not be checked (no head key here); empty when it was.
    unchecked: str = ""


class History:
    """The intake history at one path. Connections are short-lived, so threads may share an instance."""

    def __init__(self, path: Path | None = None, *, head_key: HeadKey | None = None) -> None:
        self.path = path or default_history_path()
        self.head_key = head_key or HeadKey()

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
        key = self.head_key.load(create=True)
        assert key is not None
        with self._connect(create=True) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                head = conn.execute("SELECT seq, row_hash, history_id, seal FROM chain_head WHERE id = 1").fetchone()
                head_seq, head_hash, history_id, seal = head
                if int(head_seq) and (not history_id or seal != head_seal(key, history_id, head_seq, head_hash)):
                    # Appending would seal whatever the head says now, blessing a forged or cut-off chain.
                    raise HistoryTamperedError(
                        f"{self.path}: the chain head's seal does not verify with {self.head_key.path}; "
                        "nothing was appended (see 'provcheck history --verify')"
                    )
                history_id = history_id or secrets.token_hex(16)
                seq = int(head_seq) + 1
                digest = row_hash(seq, when, serial, verdict, report_text, vsa_text, str(head_hash))
                conn.execute(
                    "INSERT INTO intakes (seq, recorded_at, serial, verdict, report, vsa, prev_hash, row_hash)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (seq, when, serial, verdict, report_text, vsa_text, head_hash, digest),
                )
                conn.execute(
                    "UPDATE chain_head SET seq = ?, row_hash = ?, history_id = ?, seal = ? WHERE id = 1",
                    (seq, digest, history_id, head_seal(key, history_id, seq, digest)),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        self.head_key.write_witness(self.path, history_id, seq, digest)
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
        """Recompute every row's hash and link, one row at a time, then the head's seal and the witness."""
        problems: list[ChainProblem] = []
        expected_seq, prev, count, last_seq = 1, GENESIS, 0, 0
        with self._connect(create=False) as conn:
            if not _has_tables(conn):
                emptied = _witness_problems(self.head_key.read_witness(self.path), None, 0, None)
                return ChainCheck(self.path, 0, 0, emptied)
            sealed = {"history_id", "seal"} <= {r[1] for r in conn.execute("PRAGMA table_info(chain_head)")}
            head = conn.execute(
                "SELECT seq, row_hash, history_id, seal FROM chain_head WHERE id = 1"
                if sealed
                else "SELECT seq, row_hash, NULL, NULL FROM chain_head WHERE id = 1"
            ).fetchone()
            witness = self.head_key.read_witness(self.path)
            witnessed_seq = witness["seq"] if witness else -1
            witnessed_hash: str | None = None
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
                if record.seq == witnessed_seq:
                    witnessed_hash = str(record.row_hash)
        if head is None:
            problems.append(ChainProblem(last_seq, "the chain head record is gone (deleted)"))
            head = (0, GENESIS, None, None)
        head_seq, head_hash = int(head[0]), str(head[1])
        history_id = str(head[2]) if head[2] else None
        if head_seq != last_seq or head_hash != prev:
            problems.append(
                ChainProblem(
                    head_seq,
                    f"the chain head is row {head_seq} but the last row is {last_seq} (rows "
                    "deleted from the end, or the head was edited)",
                )
            )
        if count == 0:
            # An append creates the tables and writes its row in one transaction: tables without rows were emptied.
            problems.append(ChainProblem(0, "the history has no rows left: every row was deleted"))
        unchecked = ""
        key = self.head_key.load(create=False)
        if key is None:
            unchecked = f"no head key at {self.head_key.path} to check the chain head's seal"
        elif not history_id or not head[3]:
            problems.append(ChainProblem(head_seq, "the chain head carries no seal (stripped, or written before "
                                                   "heads were sealed)"))
        elif not hmac.compare_digest(str(head[3]), head_seal(key, history_id, head_seq, head_hash)):
            problems.append(
                ChainProblem(
                    head_seq,
                    f"the chain head's seal does not verify with {self.head_key.path} (rows cut off the end and "
                    "the head copied from an older row, rows rewritten, or another head key)",
                )
            )
        problems.extend(_witness_problems(witness, history_id, head_seq, witnessed_hash))
        return ChainCheck(self.path, count, head_seq, tuple(problems), unchecked)

    def gone(self) -> ChainProblem | None:
        """When the file is missing but a witness says intakes were appended to it."""
        witness = self.head_key.read_witness(self.path)
        if witness is None:
            return None
        return ChainProblem(witness["seq"], f"the history file is gone, but {witness['seq']} intake(s) were "
                                            "appended to it here (deleted)")


def _witness_problems(
    witness: dict[str, Any] | None, history_id: str | None, head_seq: int, witnessed_hash: str | None
) -> tuple[ChainProblem, ...]:
    """What the witness of the last append here says the file cannot be: older, another history, emptied."""
    if witness is None:
        return ()
    seen_seq, seen_hash, seen_id = witness["seq"], witness.get("row_hash"), witness.get("history_id")
    if history_id is None and head_seq == 0:
        return (ChainProblem(seen_seq, f"this file once held {seen_seq} rows; it was emptied or replaced"),)
    if seen_id != history_id:
        return (ChainProblem(head_seq, "this file holds another history than the one last appended to here "
                                       "(the file was replaced)"),)
    if seen_seq > head_seq:
        return (ChainProblem(seen_seq, f"row {seen_seq} was appended here, but the file ends at row {head_seq} "
                                       "(rolled back to an older copy)"),)
    if witnessed_hash != seen_hash:
        return (ChainProblem(seen_seq, "this row is not the one appended here (the history was rewritten)"),)
    return ()


def _has_tables(conn: sqlite3.Connection) -> bool:
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return {"intakes", "chain_head"} <= names


def check_chain(history: History) -> list[Finding]:
    """Judge the history's hash chain: one finding per problem, or one pass."""
    subject = str(history.path)
    if not history.path.exists():
        gone = history.gone()
        if gone is not None:
            return [failed("history.chain", gone.problem, "chain", seq=gone.seq, path=subject)]
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
    if walk.unchecked:
        return [
            errored(
                "history.chain",
                f"all {walk.rows} intake records link up by hash, but {walk.unchecked} (set {ENV_HEAD_KEY}): "
                "rows cut off the end would go unnoticed",
                "chain",
            )
        ]
    return [
        passed(
            "history.chain",
            f"all {walk.rows} intake records link up by hash, and the head's seal verifies",
            "chain",
            rows=walk.rows,
            path=subject,
        )
    ]
