"""The Store on SQLite: one connection per thread, WAL, writes under BEGIN IMMEDIATE."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

from surveybot.domain import (
    Answer,
    ExportRow,
    PendingPerson,
    Results,
    RosterEntry,
    Survey,
    SurveyDraft,
    User,
    utcnow,
)
from surveybot.store import migrate as migrations
from surveybot.store import sqlite_sql
from surveybot.store import sqlite_sql as q
from surveybot.store.base import (
    InvalidAnswers,
    RegisterOutcome,
    RegisterResult,
    RoleOutcome,
    RosterImportResult,
    StoreUnavailable,
    WriteOutcome,
)
from surveybot.store.sql_base import SqlStoreBase
from surveybot.store.sql_common import (
    SURVEY_WIDTH,
    RosterCandidate,
    build_results,
    check_role,
    choose_roster_entry,
    dump_json,
    encode_answers,
    questions_json,
    to_utc,
    user_from_row,
)

TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # fixed width: text order is time order

# Errors that mean "try again later" rather than a bug in the SQL or the schema.
_UNAVAILABLE = ("locked", "busy", "unable to open", "disk i/o")


def fmt(value: datetime) -> str:
    return to_utc(value).strftime(TIME_FORMAT)


def fmt_opt(value: datetime | None) -> str | None:
    return None if value is None else fmt(value)


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


class SqliteStore(SqlStoreBase):
    """Store on a SQLite file, safe for several threads and processes."""

    q: ClassVar[ModuleType] = sqlite_sql

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout_ms: int = 3000,
        migrations_dir: str | Path | None = None,
    ) -> None:
        self.path = str(path)
        if self.path in ("", ":memory:"):
            # Each thread has its own connection, and so would have its own empty database.
            raise ValueError("the SQLite store needs a file path")
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._busy_timeout_s = busy_timeout_ms / 1000
        self._migrations_dir = migrations_dir
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []

    # --- connections --------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN ourselves, so reads outside one are autocommit.
        conn = sqlite3.connect(
            self.path,
            timeout=self._busy_timeout_s,
            isolation_level=None,
            check_same_thread=False,
        )
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")  # durable enough with WAL, much faster
        self._enable_wal(conn)
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
    def _read(self) -> Iterator[sqlite3.Connection]:
        """Several reads from one snapshot."""
        with self._transaction("BEGIN") as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; BEGIN IMMEDIATE so checks and writes see no interleaving."""
        with self._transaction("BEGIN IMMEDIATE") as conn:
            yield conn

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        with unavailable_on_lock():
            conn.execute(begin)
            try:
                yield conn
                conn.execute("COMMIT")
            finally:
                # Never leave this thread's connection inside a transaction.
                if conn.in_transaction:
                    conn.execute("ROLLBACK")

    def _one(self, sql: str, params: dict[str, Any]) -> Any:
        with unavailable_on_lock():
            return self._conn().execute(sql, params).fetchone()

    def _all(self, sql: str, params: dict[str, Any]) -> list[Any]:
        with unavailable_on_lock():
            return self._conn().execute(sql, params).fetchall()

    def _db_time(self, value: datetime) -> str:
        return fmt(value)

    def _py_time(self, value: Any) -> datetime | None:
        return parse(value)

    def _py_json(self, value: Any) -> Any:
        return json.loads(value)

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

    # --- people -------------------------------------------------------------------------------
    def register(self, user_key: str, name: str, member_no: str | None) -> RegisterResult:
        base = {"user_key": user_key, "now": fmt(utcnow())}
        with self._write() as conn:
            if not conn.execute(q.ROSTER_EXISTS).fetchone()[0]:
                conn.execute(q.UPSERT_USER, {**base, "name": name, "member_no": member_no})
            else:
                rows = conn.execute(q.ROSTER_CANDIDATES, {"name": name}).fetchall()
                claim = conn.execute(q.USER_CLAIM, base).fetchone()
                outcome, entry = choose_roster_entry(
                    [RosterCandidate(*row) for row in rows],
                    member_no,
                    user_key,
                    None if claim is None else claim[0],
                )
                if entry is None:
                    return RegisterResult(outcome)
                params = {
                    **base,
                    "name": entry.name,
                    "member_no": entry.member_no,
                    "department": entry.department,
                    "roster_id": entry.id,
                }
                conn.execute(q.UPSERT_CLAIMING_USER, params)
            row = conn.execute(q.USER_BY_KEY, {"user_key": user_key}).fetchone()
        return RegisterResult(RegisterOutcome.OK, user_from_row(row))

    def set_role(self, user_id: int, role: str) -> RoleOutcome:
        wanted = check_role(role)
        with self._write() as conn:
            rows = conn.execute(q.ROLE_ROWS, {"user_id": user_id}).fetchall()
            current = {int(r[0]): r[1] for r in rows}
            if user_id not in current:
                return RoleOutcome.MISSING
            if current[user_id] == wanted:
                return RoleOutcome.UNCHANGED
            admins = sum(1 for r in current.values() if r == "admin")
            if current[user_id] == "admin" and admins <= 1:
                return RoleOutcome.LAST_ADMIN
            params = {"role": wanted.value, "now": fmt(utcnow()), "user_id": user_id}
            conn.execute(q.SET_ROLE, params)
        return RoleOutcome.OK

    def record_admin_code_failure(self, user_key: str, at: datetime) -> None:
        with self._write() as conn:
            conn.execute(q.RECORD_FAILURE, {"user_key": user_key, "at": fmt(at)})

    # --- roster -------------------------------------------------------------------------------
    def import_roster(self, entries: list[RosterEntry]) -> RosterImportResult:
        added = updated = 0
        with self._write() as conn:
            for entry in entries:
                params = {
                    "name": entry.name,
                    "member_no": entry.member_no,
                    "department": entry.department,
                }
                found = conn.execute(q.ROSTER_FIND, params).fetchone()
                if found is None:
                    conn.execute(q.ROSTER_INSERT, params)
                    added += 1
                # A file without departments keeps the ones already known.
                elif entry.department is not None and found[1] != entry.department:
                    conn.execute(
                        q.ROSTER_SET_DEPARTMENT, {"id": found[0], "department": entry.department}
                    )
                    updated += 1
        return RosterImportResult(added=added, updated=updated)

    # --- conversation state -------------------------------------------------------------------
    def save_session(
        self,
        user_key: str,
        state: dict[str, object],
        expected_version: int | None,
        expires_at: datetime,
        now: datetime,
    ) -> int | None:
        params: dict[str, Any] = {
            "user_key": user_key,
            "state": dump_json(state),
            "expires_at": fmt(expires_at),
        }
        with self._write() as conn:
            if expected_version is None:
                # No row, or only an expired one (which load_context never showed anyone).
                row = conn.execute(q.SESSION_INSERT, {**params, "now": fmt(now)}).fetchone()
            else:
                row = conn.execute(
                    q.SESSION_UPDATE, {**params, "expected": expected_version}
                ).fetchone()
        return None if row is None else int(row[0])

    def clear_session(self, user_key: str) -> None:
        with self._write() as conn:
            conn.execute(q.SESSION_DELETE, {"user_key": user_key})

    # --- surveys ------------------------------------------------------------------------------
    def create_survey(
        self, draft: SurveyDraft, created_by: int, draft_key: str, now: datetime
    ) -> Survey:
        with self._write() as conn:
            row = conn.execute(q.SURVEY_BY_DRAFT, {"draft_key": draft_key}).fetchone()
            if row is None:
                params = {
                    "title": draft.title,
                    "description": draft.description,
                    "questions": dump_json(questions_json(draft)),
                    "deadline_at": fmt_opt(draft.deadline),
                    "anonymous": int(draft.anonymous),
                    "created_by": created_by,
                    "now": fmt(now),
                    "draft_key": draft_key,
                }
                row = conn.execute(q.SURVEY_INSERT, params).fetchone()
        return self._survey(row)

    def _change_survey(self, sql: str, survey_id: int, now: datetime) -> WriteOutcome:
        params = {"survey_id": survey_id, "now": fmt(now)}
        with self._write() as conn:
            if conn.execute(sql, params).rowcount == 1:
                return WriteOutcome.OK
            exists = conn.execute(q.SURVEY_EXISTS, params).fetchone()[0]
        return WriteOutcome.CLOSED if exists else WriteOutcome.MISSING

    def close_survey(self, survey_id: int, now: datetime) -> WriteOutcome:
        return self._change_survey(q.CLOSE, survey_id, now)

    def reopen_survey(self, survey_id: int, now: datetime) -> WriteOutcome:
        return self._change_survey(q.REOPEN, survey_id, now)

    def delete_survey(self, survey_id: int) -> bool:
        with self._write() as conn:
            return conn.execute(q.DELETE_SURVEY, {"survey_id": survey_id}).rowcount == 1

    # --- responses ----------------------------------------------------------------------------
    def submit_response(
        self,
        survey_id: int,
        user: User,
        respondent: str,
        answers: tuple[Answer, ...],
        now: datetime,
    ) -> WriteOutcome:
        base = {"survey_id": survey_id, "now": fmt(now)}
        with self._write() as conn:
            state = conn.execute(q.SURVEY_STATE, base).fetchone()
            if state is None:
                return WriteOutcome.MISSING
            anonymous, is_open = bool(state[0]), bool(state[1])
            if not is_open:
                return WriteOutcome.CLOSED
            # Anonymous responses keep neither who nor when; participants says only "took part".
            response = {
                "survey_id": survey_id,
                "respondent": respondent,
                "user_id": None if anonymous else user.id,
                "answers": dump_json(encode_answers(answers)),
                "submitted_at": None if anonymous else base["now"],
                "answered_as": None if anonymous else user.name,
                "answered_no": None if anonymous else user.member_no,
            }
            try:
                conn.execute(q.RESPONSE_UPSERT, response)
            except sqlite3.IntegrityError as exc:
                if "answers do not fit" in str(exc):
                    raise InvalidAnswers(str(exc)) from exc
                raise
            conn.execute(q.PARTICIPANT_INSERT, {"survey_id": survey_id, "user_id": user.id})
            conn.execute(q.SESSION_DELETE, {"user_key": user.user_key})
        return WriteOutcome.OK

    def withdraw_response(
        self, survey_id: int, user: User, respondent: str, now: datetime
    ) -> WriteOutcome:
        base = {"survey_id": survey_id, "now": fmt(now)}
        with self._write() as conn:
            state = conn.execute(q.SURVEY_STATE, base).fetchone()
            if state is None:
                return WriteOutcome.MISSING
            if not state[1]:
                return WriteOutcome.CLOSED
            params = {"survey_id": survey_id, "respondent": respondent}
            if conn.execute(q.RESPONSE_DELETE, params).rowcount == 0:
                return WriteOutcome.MISSING
            conn.execute(q.PARTICIPANT_DELETE, {"survey_id": survey_id, "user_id": user.id})
        return WriteOutcome.OK

    def results(self, survey_id: int, latest: int = 3) -> Results | None:
        params = {"survey_id": survey_id, "latest": latest}
        with self._read() as conn:
            head = conn.execute(q.RESULTS_HEAD, params).fetchone()
            if head is None:
                return None
            survey = self._survey(head)
            params["by_text"] = survey.anonymous
            rows = conn.execute(q.RESULTS_AGGREGATE, params).fetchall()
        return build_results(survey, int(head[SURVEY_WIDTH]), int(head[SURVEY_WIDTH + 1]), rows)

    def pending(self, survey_id: int) -> list[PendingPerson] | None:
        params = {"survey_id": survey_id}
        with self._read() as conn:
            if not conn.execute(q.SURVEY_EXISTS, params).fetchone()[0]:
                return None
            has_roster = conn.execute(q.ROSTER_EXISTS).fetchone()[0]
            rows = conn.execute(q.PENDING_ROSTER if has_roster else q.PENDING_USERS, params)
            return [PendingPerson(r[0], r[1], r[2], bool(r[3])) for r in rows]

    @contextmanager
    def export_rows(self, survey_id: int) -> Iterator[Iterator[ExportRow]]:
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
            yield self._stream(cursor, anonymous)
        finally:
            conn.close()

    def _stream(self, cursor: sqlite3.Cursor, anonymous: bool) -> Iterator[ExportRow]:
        with unavailable_on_lock():
            for row in cursor:
                yield self._export_row(row, anonymous)
