"""The SQLite dialect: one connection per thread, WAL, writes under BEGIN IMMEDIATE.

Times are stored as fixed-width UTC text (text order is time order), JSON as text. The writes
PostgreSQL does in one statement are short transactions here: SQLite has no network round trip.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from surveybot.audit import chain_hash
from surveybot.crypto import Keyring
from surveybot.store import migrate as migrations
from surveybot.store import queries as q
from surveybot.store.base import StoreUnavailable
from surveybot.store.dialect import Params, Statements
from surveybot.store.rows import dump_json, to_utc
from surveybot.store.sql import SqlStore

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # fixed width: text order is time order

# Errors that mean "try again later" rather than a bug in the SQL or the schema.
_UNAVAILABLE = ("locked", "busy", "unable to open", "disk i/o")


# BEGIN IMMEDIATE already holds the write lock: no row locks needed.
ROLE_ROWS = "SELECT id, role FROM users WHERE role = 'admin' OR id = :user_id"
SURVEY_STATE = f"SELECT anonymous, {q.OPEN} FROM surveys WHERE id = :survey_id"
# A new answer replaces the old row (delete, insert) rather than updating it: the answer check
# of migration 0002 is an INSERT trigger.
RESPONSE_INSERT = """
INSERT INTO responses
    (survey_id, respondent, user_id, answers, submitted_at, answered_as, answered_no,
     answered_sealed)
VALUES (:survey_id, :respondent, :user_id, :answers, :submitted_at, :answered_as, :answered_no,
    :answered_sealed)
"""
PARTICIPANT_INSERT = """
INSERT INTO participants (survey_id, user_id) VALUES (:survey_id, :user_id)
ON CONFLICT DO NOTHING
"""
RESPONSE_DELETE = "DELETE FROM responses WHERE survey_id = :survey_id AND respondent = :respondent"
PARTICIPANT_DELETE = "DELETE FROM participants WHERE survey_id = :survey_id AND user_id = :user_id"


def fmt(value: datetime) -> str:
    return to_utc(value).strftime(TIME_FORMAT)


def parse(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.strptime(value, TIME_FORMAT).replace(tzinfo=UTC)


@contextmanager
def unavailable_on_lock() -> Iterator[None]:
    try:
        yield
    except sqlite3.OperationalError as exc:
        if any(word in str(exc).lower() for word in _UNAVAILABLE):
            raise StoreUnavailable(f"sqlite: {exc}") from exc
        raise


class SqliteTx:
    """Statements on this thread's connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def one(self, sql: str, params: Params | None = None) -> Any:
        # fetchall: a write with RETURNING is finished (and committed) only once fully stepped.
        rows = self.conn.execute(sql, params or {}).fetchall()
        return rows[0] if rows else None

    def all(self, sql: str, params: Params | None = None) -> list[Any]:
        return self.conn.execute(sql, params or {}).fetchall()

    def run(self, sql: str, params: Params | None = None) -> int:
        return self.conn.execute(sql, params or {}).rowcount


class SqliteDialect:
    """Connections and the few statements that are SQLite's own."""

    name = "sqlite"
    sql = Statements(
        results=q.results(q.SQLITE_JSON), pending=q.pending_page(q.SQLITE_JSON), role_rows=ROLE_ROWS
    )

    def __init__(
        self,
        path: str,
        *,
        busy_timeout_ms: int,
        migrations_dir: str | Path | None,
        on_connect: Callable[[sqlite3.Connection], None] | None = None,
    ) -> None:
        self.path = path
        self._on_connect = on_connect
        self._busy_timeout_s = busy_timeout_ms / 1000
        self._migrations_dir = migrations_dir
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []

    # --- connections --------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN ourselves, so statements outside one autocommit.
        conn = sqlite3.connect(
            self.path,
            timeout=self._busy_timeout_s,
            isolation_level=None,
            check_same_thread=False,
        )
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")  # durable enough with WAL, much faster
        # Deleted and rewritten content is zeroed, not left in free pages: once `keys rotate`
        # seals a plaintext row, the old plaintext is gone from the file (issue 13).
        conn.execute("PRAGMA secure_delete = ON")
        # The audit trail's hash (migration 0005); PostgreSQL has it as an SQL function.
        conn.create_function("surveybot_audit_hash", -1, chain_hash, deterministic=True)
        self._enable_wal(conn)
        if self._on_connect is not None:
            self._on_connect(conn)
        return conn

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        # Switching to WAL needs a moment of exclusive access; another process may hold it.
        deadline = time.monotonic() + self._busy_timeout_s
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            with unavailable_on_lock():
                conn = self._connect()
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def statement(self) -> Iterator[SqliteTx]:
        with unavailable_on_lock():
            yield SqliteTx(self._conn())

    @contextmanager
    def transaction(self, write: bool) -> Iterator[SqliteTx]:
        # BEGIN IMMEDIATE takes the write lock first, so checks and writes see no interleaving.
        conn = self._conn()
        with unavailable_on_lock():
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield SqliteTx(conn)
                conn.execute("COMMIT")
            finally:
                # Never leave this thread's connection inside a transaction.
                if conn.in_transaction:
                    conn.execute("ROLLBACK")

    # --- values -------------------------------------------------------------------------------
    def time(self, value: datetime) -> str:
        return fmt(value)

    def read_time(self, value: Any) -> datetime | None:
        return parse(value)

    def json(self, value: object) -> str:
        return dump_json(value)

    def read_json(self, value: Any) -> Any:
        return json.loads(value)

    def is_unique_violation(self, error: Exception) -> bool:
        return isinstance(error, sqlite3.IntegrityError) and "UNIQUE" in str(error)

    def is_survey_gone(self, error: Exception) -> bool:
        # Never seen: BEGIN IMMEDIATE makes the check and the write one step. Kept for symmetry.
        return isinstance(error, sqlite3.IntegrityError) and "FOREIGN KEY" in str(error)

    def is_answer_refused(self, error: Exception) -> bool:
        return isinstance(error, sqlite3.IntegrityError) and "answers do not fit" in str(error)

    # --- statements of its own ----------------------------------------------------------------
    def lock_roster_name(self, tx: Any, named: Params) -> None:
        """BEGIN IMMEDIATE already serialises writers."""

    def submit(self, params: Params) -> tuple[bool, bool]:
        with self.transaction(write=True) as tx:
            state = tx.one(SURVEY_STATE, params)
            if state is None:
                return False, False
            anonymous, is_open = bool(state[0]), bool(state[1])
            if not is_open:
                return True, False
            # Anonymous responses keep neither who nor when; participants says only "took part".
            named = not anonymous
            response = {
                **params,
                "user_id": params["user_id"] if named else None,
                "submitted_at": params["now"] if named else None,
                "answered_as": params["name"] if named else None,
                "answered_no": params["member_no"] if named else None,
                "answered_sealed": params["answered_sealed"] if named else None,
            }
            tx.run(RESPONSE_DELETE, response)
            tx.run(RESPONSE_INSERT, response)
            tx.run(PARTICIPANT_INSERT, params)
            tx.run(q.SESSION_DELETE, params)
        return True, True

    def withdraw(self, params: Params) -> tuple[bool, bool, bool]:
        with self.transaction(write=True) as tx:
            state = tx.one(SURVEY_STATE, params)
            if state is None:
                return False, False, False
            if not state[1]:
                return True, False, False
            if tx.run(RESPONSE_DELETE, params) == 0:
                return True, True, False
            tx.run(PARTICIPANT_DELETE, params)
        return True, True, True

    @contextmanager
    def export_cursor(self, survey_id: int) -> Iterator[tuple[bool, Iterator[Sequence[Any]]]]:
        # Its own connection: the caller may use the store while iterating on this thread.
        with unavailable_on_lock():
            conn = self._connect()
        try:
            with unavailable_on_lock():
                conn.execute("BEGIN")  # one snapshot for the whole file
                params = {"survey_id": survey_id}
                found = conn.execute(q.SURVEY_ANONYMOUS, params).fetchone()
                anonymous = found is None or bool(found[0])
                cursor = conn.execute(q.EXPORT_ANONYMOUS if anonymous else q.EXPORT_NAMED, params)
            rows = _unavailable_on_error(cursor)
            try:
                yield anonymous, rows
            finally:
                rows.close()  # now, not when collected: the connection closes next
        finally:
            conn.close()

    # --- the rest -----------------------------------------------------------------------------
    def migrate(self) -> list[str]:
        files = migrations.migration_files("sqlite", self._migrations_dir)
        with unavailable_on_lock():
            return migrations.migrate_sqlite(self._conn(), files)

    def pool_stats(self) -> dict[str, int]:
        return {}  # one connection per thread, nothing pooled

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()


def _unavailable_on_error(cursor: sqlite3.Cursor) -> Generator[Sequence[Any], None, None]:
    with unavailable_on_lock():
        yield from cursor


class SqliteStore(SqlStore):
    """Store on a SQLite file, safe for several threads and processes."""

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout_ms: int = 3000,
        migrations_dir: str | Path | None = None,
        on_connect: Callable[[sqlite3.Connection], None] | None = None,
        keyring: Keyring | None = None,
    ) -> None:
        """`on_connect` is called with each new connection (tracing; tests count statements)."""
        self.path = str(path)
        if self.path in ("", ":memory:"):
            # Each thread has its own connection, and so would have its own empty database.
            raise ValueError("the SQLite store needs a file path")
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        super().__init__(
            SqliteDialect(
                self.path,
                busy_timeout_ms=busy_timeout_ms,
                migrations_dir=migrations_dir,
                on_connect=on_connect,
            ),
            keyring,
        )
