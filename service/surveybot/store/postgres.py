"""The PostgreSQL dialect: psycopg 3 with a connection pool, and the statements only it runs.

Connections are in autocommit mode, so a single statement costs one round trip (no BEGIN and
COMMIT); the common writes (submit, withdraw) are single statements with data-modifying CTEs.
SQL is written with `:name` parameters, as SQLite takes them, and converted to psycopg's style.

Faults: the pool (pg_pool.py) notices connections a restart closed and databases that are down;
a submit, an upsert, is tried once more on a fresh connection when its connection was lost under
it.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import PoolTimeout

from surveybot.crypto import Keyring
from surveybot.store import migrate as migrations
from surveybot.store import queries as q
from surveybot.store.base import PgSettings, StoreUnavailable, StoreUnreachable
from surveybot.store.dialect import Params, Statements
from surveybot.store.pg_pool import Conn, Hook, ResilientPool
from surveybot.store.rows import to_utc
from surveybot.store.sql import SqlStore

log = logging.getLogger(__name__)

Folder = str | Path | None
EXPORT_BATCH = 500
DEFAULT_SETTINGS = PgSettings()
_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@functools.cache
def pg(sql: str) -> str:
    """`:name` parameters as psycopg's `%(name)s` (a literal % doubled); casts `::` stay."""
    return _NAMED.sub(r"%(\1)s", sql.replace("%", "%%"))


_TARGET = f"""
target AS (
    SELECT id, anonymous, {q.OPEN} AS is_open FROM surveys WHERE id = :survey_id
)"""
# Check open, save or replace, record participation, end the session: one round trip. A refused
# submit changes nothing because every write depends on is_open. Anonymous rows keep no who/when,
# and their participation joins the survey's unordered set (anonymous_participation, migration
# 0002) instead of a row of its own whose xmin and position would match the response's.
SUBMIT = f"""
WITH {_TARGET},
saved AS (
    INSERT INTO responses AS x
        (survey_id, respondent, user_id, answers, submitted_at, answered_as, answered_no,
         answered_sealed)
    SELECT id, :respondent::text,
        CASE WHEN anonymous THEN NULL ELSE :user_id::bigint END,
        :answers::jsonb,
        CASE WHEN anonymous THEN NULL ELSE :now::timestamptz END,
        CASE WHEN anonymous THEN NULL ELSE :name::text END,
        CASE WHEN anonymous THEN NULL ELSE :member_no::text END,
        CASE WHEN anonymous THEN NULL ELSE :answered_sealed::text END
    FROM target WHERE is_open
    ON CONFLICT (survey_id, respondent) DO UPDATE SET
        user_id = excluded.user_id, answers = excluded.answers,
        submitted_at = excluded.submitted_at, answered_as = excluded.answered_as,
        answered_no = excluded.answered_no, answered_sealed = excluded.answered_sealed
    RETURNING 1
),
named_part AS (
    INSERT INTO participants (survey_id, user_id)
    SELECT id, :user_id::bigint FROM target WHERE is_open AND NOT anonymous
    ON CONFLICT DO NOTHING
),
anonymous_part AS (
    INSERT INTO anonymous_participation AS a (survey_id, user_ids)
    SELECT id, ARRAY[:user_id::bigint] FROM target WHERE is_open AND anonymous
    ON CONFLICT (survey_id) DO UPDATE SET user_ids = (
        SELECT array_agg(DISTINCT v ORDER BY v) FROM unnest(a.user_ids || excluded.user_ids) v)
    WHERE NOT a.user_ids @> excluded.user_ids
),
ended AS (
    DELETE FROM sessions
    WHERE user_key = :user_key AND EXISTS (SELECT 1 FROM target WHERE is_open)
)
SELECT EXISTS (SELECT 1 FROM target), EXISTS (SELECT 1 FROM saved)
"""
WITHDRAW = f"""
WITH {_TARGET},
gone AS (
    DELETE FROM responses
    WHERE survey_id = :survey_id AND respondent = :respondent
      AND EXISTS (SELECT 1 FROM target WHERE is_open)
    RETURNING 1
),
left_named AS (
    DELETE FROM participants
    WHERE survey_id = :survey_id AND user_id = :user_id AND EXISTS (SELECT 1 FROM gone)
),
left_anonymous AS (
    UPDATE anonymous_participation SET user_ids = array_remove(user_ids, :user_id::bigint)
    WHERE survey_id = :survey_id AND EXISTS (SELECT 1 FROM gone)
)
SELECT EXISTS (SELECT 1 FROM target), coalesce((SELECT is_open FROM target), false),
    EXISTS (SELECT 1 FROM gone)
"""


# All admins and the target, locked in id order: two admins demoting each other take turns.
ROLE_ROWS = """
SELECT id, role FROM users WHERE role = 'admin' OR id = :user_id ORDER BY id FOR UPDATE
"""
# Locking the entries of a name makes two people claiming the same entry take turns.
LOCK_ROSTER_NAME = """
SELECT id FROM roster WHERE name_idx = :name_idx OR (sealed IS NULL AND name = :name)
ORDER BY id FOR UPDATE
"""


class PgTx:
    """Statements on one pooled connection (in a transaction or autocommitted)."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    def one(self, sql: str, params: Params | None = None) -> Any:
        return self.conn.execute(pg(sql), params or {}).fetchone()

    def all(self, sql: str, params: Params | None = None) -> list[Any]:
        return self.conn.execute(pg(sql), params or {}).fetchall()

    def run(self, sql: str, params: Params | None = None) -> int:
        return self.conn.execute(pg(sql), params or {}).rowcount


class PostgresDialect:
    """Connections and the few statements that are PostgreSQL's own."""

    name = "postgres"
    sql = Statements(
        results=q.results(q.POSTGRES_JSON),
        pending=q.pending_page(q.POSTGRES_JSON),
        role_rows=ROLE_ROWS,
    )

    def __init__(self, url: str, settings: PgSettings, migrations: Folder, hook: Hook) -> None:
        """`hook` is called with each new connection; `migrations` overrides the folder."""
        self._url = url
        self._settings = settings
        self._hook = hook
        self._export_statement_timeout_ms = settings.export_statement_timeout_ms
        self._migrations_dir = migrations
        self._pool = ResilientPool(url, settings, hook)

    # --- connections (pg_pool.py) --------------------------------------------------------------
    @property
    def available(self) -> bool:
        """False while the database is known to be down (no I/O: a flag the probe keeps)."""
        return self._pool.available

    def connections_taken(self) -> int:
        """Connections this thread has been handed (see ResilientPool.connections_taken)."""
        return self._pool.connections_taken()

    def _connection(self) -> AbstractContextManager[Conn]:
        return self._pool.connection()

    @contextmanager
    def statement(self) -> Iterator[PgTx]:
        with self._connection() as conn:
            yield PgTx(conn)

    @contextmanager
    def transaction(self, write: bool) -> Iterator[PgTx]:
        with self._connection() as conn, conn.transaction():
            if not write:
                # Several reads that must count the same rows: one snapshot.
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            yield PgTx(conn)

    # --- values -------------------------------------------------------------------------------
    def time(self, value: datetime) -> datetime:
        return to_utc(value)

    def read_time(self, value: Any) -> datetime | None:
        return None if value is None else value.astimezone(UTC)

    def json(self, value: object) -> Jsonb:
        return Jsonb(value)

    def read_json(self, value: Any) -> Any:
        return value  # psycopg has decoded jsonb already

    def is_unique_violation(self, error: Exception) -> bool:
        return isinstance(error, psycopg.errors.UniqueViolation)

    def is_survey_gone(self, error: Exception) -> bool:
        return isinstance(error, psycopg.errors.ForeignKeyViolation)

    def is_answer_refused(self, error: Exception) -> bool:
        return isinstance(error, psycopg.errors.CheckViolation)

    # --- statements of its own ----------------------------------------------------------------
    def lock_roster_name(self, tx: Any, named: Params) -> None:
        tx.all(LOCK_ROSTER_NAME, named)

    def submit(self, params: Params) -> tuple[bool, bool]:
        # An upsert of the same answers: running it twice leaves what running it once does, so a
        # try whose connection was lost under it is made once more on a fresh connection.
        try:
            return self._submit(params)
        except StoreUnavailable as error:
            if not _connection_lost(error) or not self.available:
                raise
            log.warning("submit: connection lost (%s); trying once more", error)
        return self._submit(params)

    def _submit(self, params: Params) -> tuple[bool, bool]:
        with self.statement() as tx:
            exists, saved = tx.one(SUBMIT, params)
        return bool(exists), bool(saved)

    def withdraw(self, params: Params) -> tuple[bool, bool, bool]:
        with self.statement() as tx:
            exists, is_open, gone = tx.one(WITHDRAW, params)
        return bool(exists), bool(is_open), bool(gone)

    @contextmanager
    def export_cursor(self, survey_id: int) -> Iterator[tuple[bool, Iterator[Sequence[Any]]]]:
        params = {"survey_id": survey_id}
        with self._connection() as conn, conn.transaction():
            # The pool's statement timeout is a chat reply's budget; a FETCH over a large survey
            # may need more. set_config(..., true) is SET LOCAL: it ends with this transaction.
            timeout = {"ms": str(self._export_statement_timeout_ms)}
            conn.execute("SELECT set_config('statement_timeout', %(ms)s, true)", timeout)
            found = conn.execute(pg(q.SURVEY_ANONYMOUS), params).fetchone()
            anonymous = found is None or bool(found[0])
            # A named (server-side) cursor fetches EXPORT_BATCH rows at a time.
            with conn.cursor(name="surveybot_export") as cur:
                cur.itersize = EXPORT_BATCH
                cur.execute(pg(q.EXPORT_ANONYMOUS if anonymous else q.EXPORT_NAMED), params)
                yield anonymous, _unavailable_on_error(cur)

    # --- the rest -----------------------------------------------------------------------------
    def migrate(self) -> list[str]:
        files = migrations.migration_files("postgres", self._migrations_dir)
        with self._connection() as conn:
            return migrations.migrate_postgres(conn, files)

    def close(self) -> None:
        self._pool.close()

    def pool_stats(self) -> dict[str, int]:
        return self._pool.stats()


def _connection_lost(error: StoreUnavailable) -> bool:
    """The call failed because its connection broke, not a timeout or a server that is down."""
    cause = error.__cause__
    return (
        not isinstance(error, StoreUnreachable)
        and isinstance(cause, psycopg.OperationalError)
        and not isinstance(cause, psycopg.errors.QueryCanceled)
        and not isinstance(cause, PoolTimeout)
    )


def _unavailable_on_error(cur: psycopg.ServerCursor[Any]) -> Iterator[Sequence[Any]]:
    try:
        yield from cur
    except psycopg.OperationalError as exc:
        raise StoreUnavailable(f"postgres: {exc}") from exc


class PostgresStore(SqlStore):
    """Store on PostgreSQL. Construction does not need the server; calls fail fast without it."""

    def __init__(
        self,
        url: str,
        settings: PgSettings = DEFAULT_SETTINGS,
        *,
        migrations_dir: str | Path | None = None,
        on_connect: Callable[[Conn], None] | None = None,
        keyring: Keyring | None = None,
    ) -> None:
        """`on_connect` is called with each new connection (tracing; tests count round trips)."""
        self.url = url
        self._pg = PostgresDialect(url, settings, migrations_dir, on_connect)
        super().__init__(self._pg, keyring)

    def available(self) -> bool:
        """False while the database is known to be down: a request would only be apologised to."""
        return self._pg.available

    def connections_taken(self) -> int:
        """Connections this thread has been handed so far (see PostgresDialect)."""
        return self._pg.connections_taken()
