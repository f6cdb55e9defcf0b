"""The Store on PostgreSQL: psycopg 3 with a connection pool, one statement per call where it can.

Connections are in autocommit mode so a single statement costs one round trip (no BEGIN/COMMIT);
methods needing several statements open an explicit transaction.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from surveybot.domain import (
    Answer,
    ExportRow,
    PendingPerson,
    Results,
    RosterEntry,
    Survey,
    SurveyDraft,
    User,
)
from surveybot.store import migrate as migrations
from surveybot.store import postgres_sql
from surveybot.store import postgres_sql as q
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
    encode_answers,
    questions_json,
    to_utc,
    user_from_row,
)

log = logging.getLogger(__name__)

Conn = psycopg.Connection[tuple[Any, ...]]
EXPORT_BATCH = 500


class PostgresStore(SqlStoreBase):
    """Store on PostgreSQL. Construction does not need the server; calls fail fast without it."""

    q: ClassVar[ModuleType] = postgres_sql

    def __init__(
        self,
        url: str,
        *,
        pool_min: int = 1,
        pool_max: int = 4,
        connect_timeout: float = 2.0,
        statement_timeout_ms: int = 2000,
        export_statement_timeout_ms: int = 600_000,
        migrations_dir: str | Path | None = None,
    ) -> None:
        self.url = url
        self._export_statement_timeout_ms = export_statement_timeout_ms
        self._migrations_dir = migrations_dir
        self._checking = threading.Lock()
        self._pool: ConnectionPool[Conn] = ConnectionPool(
            url,
            kwargs={
                "autocommit": True,
                # libpq takes whole seconds (and treats anything below 2 as 2).
                "connect_timeout": max(2, math.ceil(connect_timeout)),
                "options": f"-c statement_timeout={int(statement_timeout_ms)} -c TimeZone=UTC",
                "application_name": "surveybot",
            },
            min_size=pool_min,
            max_size=pool_max,
            open=False,
            # How long a request waits for a connection before it gives up: the request budget.
            timeout=connect_timeout,
            # Give up a failing reconnect soon, so the next request starts a fresh attempt
            # instead of waiting for a long backoff after the server is back.
            reconnect_timeout=10.0,
            name="surveybot",
        )
        # wait=False: a database that is down now must not stop the worker from starting.
        self._pool.open(wait=False)

    # --- connections --------------------------------------------------------------------------
    @contextmanager
    def _connection(self) -> Iterator[Conn]:
        try:
            with self._pool.connection() as conn:
                yield conn
        except PoolTimeout as exc:
            raise StoreUnavailable(f"postgres: {exc}") from exc
        except psycopg.OperationalError as exc:
            # Idle connections may all be dead after a server restart: sweep them out.
            self._check_soon()
            raise StoreUnavailable(f"postgres: {exc}") from exc

    def _check_soon(self) -> None:
        if not self._checking.acquire(blocking=False):
            return  # a sweep is already running

        def sweep() -> None:
            try:
                self._pool.check()
            except Exception:  # the pool may be closed or the server still down
                log.debug("pool check failed", exc_info=True)
            finally:
                self._checking.release()

        threading.Thread(target=sweep, name="surveybot-pool-check", daemon=True).start()

    def _one(self, sql: str, params: dict[str, Any]) -> Any:
        with self._connection() as conn:
            return conn.execute(sql, params).fetchone()

    def _all(self, sql: str, params: dict[str, Any]) -> list[Any]:
        with self._connection() as conn:
            return conn.execute(sql, params).fetchall()

    def _db_time(self, value: datetime) -> datetime:
        return to_utc(value)

    def _py_time(self, value: Any) -> datetime | None:
        return None if value is None else value.astimezone(UTC)

    def _py_json(self, value: Any) -> Any:
        return value  # psycopg has decoded jsonb already

    def migrate(self) -> list[str]:
        files = migrations.migration_files("postgres", self._migrations_dir)
        with self._connection() as conn:
            return migrations.migrate_postgres(conn, files)

    def close(self) -> None:
        self._pool.close()

    def pool_stats(self) -> dict[str, int]:
        return self._pool.get_stats()

    # --- people -------------------------------------------------------------------------------
    def register(self, user_key: str, name: str, member_no: str | None) -> RegisterResult:
        try:
            with self._connection() as conn, conn.transaction():
                outcome = self._register(conn, user_key, name, member_no)
                if outcome is not RegisterOutcome.OK:
                    return RegisterResult(outcome)
                row = conn.execute(q.USER_BY_KEY, {"user_key": user_key}).fetchone()
        except psycopg.errors.UniqueViolation:
            # Someone claimed the entry between our check and our write.
            return RegisterResult(RegisterOutcome.CLAIMED)
        assert row is not None
        return RegisterResult(RegisterOutcome.OK, user_from_row(row))

    def _register(
        self, conn: Conn, user_key: str, name: str, member_no: str | None
    ) -> RegisterOutcome:
        base: dict[str, Any] = {"user_key": user_key}
        has_roster = conn.execute(q.ROSTER_EXISTS).fetchone()
        if not (has_roster and has_roster[0]):
            conn.execute(q.UPSERT_USER, {**base, "name": name, "member_no": member_no})
            return RegisterOutcome.OK
        conn.execute(q.LOCK_ROSTER_NAME, {"name": name})
        # A new statement after the lock: it sees any claim committed while we waited.
        rows = conn.execute(q.ROSTER_CANDIDATES, {"name": name}).fetchall()
        claim = conn.execute(q.USER_CLAIM, base).fetchone()
        outcome, entry = choose_roster_entry(
            [RosterCandidate(*row) for row in rows],
            member_no,
            user_key,
            None if claim is None else claim[0],
        )
        if entry is None:
            return outcome
        params = {
            **base,
            "name": entry.name,
            "member_no": entry.member_no,
            "department": entry.department,
            "roster_id": entry.id,
        }
        conn.execute(q.UPSERT_CLAIMING_USER, params)
        return RegisterOutcome.OK

    def set_role(self, user_id: int, role: str) -> RoleOutcome:
        wanted = check_role(role)
        with self._connection() as conn, conn.transaction():
            rows = conn.execute(q.ROLE_ROWS, {"user_id": user_id}).fetchall()
            current = {int(r[0]): r[1] for r in rows}
            if user_id not in current:
                return RoleOutcome.MISSING
            if current[user_id] == wanted:
                return RoleOutcome.UNCHANGED
            admins = sum(1 for r in current.values() if r == "admin")
            if current[user_id] == "admin" and admins <= 1:
                return RoleOutcome.LAST_ADMIN
            conn.execute(q.SET_ROLE, {"role": wanted.value, "user_id": user_id})
        return RoleOutcome.OK

    def record_admin_code_failure(self, user_key: str, at: datetime) -> None:
        with self._connection() as conn:
            conn.execute(q.RECORD_FAILURE, {"user_key": user_key, "at": to_utc(at)})

    # --- roster -------------------------------------------------------------------------------
    def import_roster(self, entries: list[RosterEntry]) -> RosterImportResult:
        added = updated = 0
        params = [
            {"name": e.name, "member_no": e.member_no, "department": e.department}
            for e in entries
        ]
        if not params:
            return RosterImportResult(0, 0)
        with self._connection() as conn, conn.transaction(), conn.cursor() as cur:
            # returning=True keeps each row's result; executemany pipelines the statements.
            cur.executemany(q.ROSTER_UPSERT, params, returning=True)
            while True:
                row = cur.fetchone()
                if row is not None:
                    if row[0]:
                        added += 1
                    else:
                        updated += 1
                if not cur.nextset():
                    break
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
            "state": Jsonb(state),
            "expires_at": to_utc(expires_at),
        }
        with self._connection() as conn:
            if expected_version is None:
                # No row, or only an expired one (which load_context never showed anyone).
                cur = conn.execute(q.SESSION_INSERT, {**params, "now": to_utc(now)})
            else:
                cur = conn.execute(q.SESSION_UPDATE, {**params, "expected": expected_version})
            row = cur.fetchone()
        return None if row is None else int(row[0])

    def clear_session(self, user_key: str) -> None:
        with self._connection() as conn:
            conn.execute(q.SESSION_DELETE, {"user_key": user_key})

    # --- surveys ------------------------------------------------------------------------------
    def create_survey(
        self, draft: SurveyDraft, created_by: int, draft_key: str, now: datetime
    ) -> Survey:
        params = {
            "title": draft.title,
            "description": draft.description,
            "questions": Jsonb(questions_json(draft)),
            "deadline_at": None if draft.deadline is None else to_utc(draft.deadline),
            "anonymous": draft.anonymous,
            "created_by": created_by,
            "now": to_utc(now),
            "draft_key": draft_key,
        }
        with self._connection() as conn:
            row = conn.execute(q.SURVEY_INSERT, params).fetchone()
            if row is None:  # published before (or just now by a twin request)
                row = conn.execute(q.SURVEY_BY_DRAFT, {"draft_key": draft_key}).fetchone()
        assert row is not None
        return self._survey(row)

    def _change_survey(self, sql: str, survey_id: int, now: datetime) -> WriteOutcome:
        exists, changed = self._one(sql, {"survey_id": survey_id, "now": to_utc(now)})
        if changed:
            return WriteOutcome.OK
        return WriteOutcome.CLOSED if exists else WriteOutcome.MISSING

    def close_survey(self, survey_id: int, now: datetime) -> WriteOutcome:
        return self._change_survey(q.CLOSE, survey_id, now)

    def reopen_survey(self, survey_id: int, now: datetime) -> WriteOutcome:
        return self._change_survey(q.REOPEN, survey_id, now)

    def delete_survey(self, survey_id: int) -> bool:
        with self._connection() as conn:
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
        params = {
            "survey_id": survey_id,
            "respondent": respondent,
            "user_id": user.id,
            "user_key": user.user_key,
            "name": user.name,
            "member_no": user.member_no,
            "answers": Jsonb(encode_answers(answers)),
            "now": to_utc(now),
        }
        try:
            exists, saved = self._one(q.SUBMIT, params)
        except psycopg.errors.CheckViolation as exc:
            raise InvalidAnswers(str(exc)) from exc
        if saved:
            return WriteOutcome.OK
        return WriteOutcome.CLOSED if exists else WriteOutcome.MISSING

    def withdraw_response(
        self, survey_id: int, user: User, respondent: str, now: datetime
    ) -> WriteOutcome:
        params = {
            "survey_id": survey_id,
            "respondent": respondent,
            "user_id": user.id,
            "now": to_utc(now),
        }
        exists, is_open, gone = self._one(q.WITHDRAW, params)
        if gone:
            return WriteOutcome.OK
        if exists and not is_open:
            return WriteOutcome.CLOSED
        return WriteOutcome.MISSING

    def results(self, survey_id: int, latest: int = 3) -> Results | None:
        params = {"survey_id": survey_id, "latest": latest}
        with self._connection() as conn, conn.transaction():
            # One snapshot, so the head and the aggregate count the same responses.
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            head = conn.execute(q.RESULTS_HEAD, params).fetchone()
            if head is None:
                return None
            survey = self._survey(head)
            params["by_text"] = survey.anonymous
            rows = conn.execute(q.RESULTS_AGGREGATE, params).fetchall()
        return build_results(survey, int(head[SURVEY_WIDTH]), int(head[SURVEY_WIDTH + 1]), rows)

    def pending(self, survey_id: int) -> list[PendingPerson] | None:
        params = {"survey_id": survey_id}
        with self._connection() as conn, conn.transaction():
            exists = conn.execute(q.SURVEY_EXISTS, params).fetchone()
            if not (exists and exists[0]):
                return None
            has_roster = conn.execute(q.ROSTER_EXISTS).fetchone()
            sql = q.PENDING_ROSTER if has_roster and has_roster[0] else q.PENDING_USERS
            rows = conn.execute(sql, params).fetchall()
        return [PendingPerson(r[0], r[1], r[2], bool(r[3])) for r in rows]

    @contextmanager
    def export_rows(self, survey_id: int) -> Iterator[Iterator[ExportRow]]:
        params = {"survey_id": survey_id}
        with self._connection() as conn, conn.transaction():
            # The pool's statement timeout is a chat reply's budget; a FETCH over a large survey
            # may need more. set_config(..., true) is SET LOCAL: it ends with this transaction.
            timeout = {"ms": str(self._export_statement_timeout_ms)}
            conn.execute("SELECT set_config('statement_timeout', %(ms)s, true)", timeout)
            found = conn.execute(q.SURVEY_ANONYMOUS, params).fetchone()
            anonymous = found is None or bool(found[0])
            # A named (server-side) cursor fetches EXPORT_BATCH rows at a time.
            with conn.cursor(name="surveybot_export") as cur:
                cur.itersize = EXPORT_BATCH
                cur.execute(q.EXPORT_ANONYMOUS if anonymous else q.EXPORT_NAMED, params)
                yield self._stream(cur, anonymous)

    def _stream(self, cur: psycopg.ServerCursor[Any], anonymous: bool) -> Iterator[ExportRow]:
        try:
            for row in cur:
                yield self._export_row(row, anonymous)
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"postgres: {exc}") from exc
