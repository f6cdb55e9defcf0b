"""The PostgreSQL dialect: psycopg 3 with a connection pool, and the statements only it runs.

Connections are in autocommit mode, so a single statement costs one round trip (no BEGIN and
COMMIT); the common writes (submit, withdraw) are single statements with data-modifying CTEs.
SQL is written with `:name` parameters, as SQLite takes them, and converted to psycopg's style.

Faults (docs/deployment.md, runbook): a pooled connection the server closed while it sat idle (a
restart) is noticed without a round trip when it is taken and replaced before any statement is
sent. A database that does not answer is marked down: calls then fail at once (StoreUnreachable,
nothing sent) instead of each waiting the pool's timeout, while one thread tries a fresh connection
every PROBE_INTERVAL and, once one succeeds, puts a new pool in place (the old one may sit in a
reconnect backoff of several seconds). A submit, an upsert, is tried once more on a fresh
connection when its connection was lost under it.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import select
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from surveybot.store import migrate as migrations
from surveybot.store import queries as q
from surveybot.store.base import PgSettings, StoreUnavailable, StoreUnreachable
from surveybot.store.dialect import Params, Statements
from surveybot.store.rows import to_utc
from surveybot.store.sql import SqlStore

log = logging.getLogger(__name__)

Conn = psycopg.Connection[tuple[Any, ...]]
Hook = Callable[[Conn], None] | None
Folder = str | Path | None
EXPORT_BATCH = 500
DEFAULT_SETTINGS = PgSettings()
_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
# While the database is down, how often a worker tries a fresh connection: recovery comes at most
# this long (plus one connect) after the server accepts connections again.
PROBE_INTERVAL = 0.25


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
        (survey_id, respondent, user_id, answers, submitted_at, answered_as, answered_no)
    SELECT id, :respondent::text,
        CASE WHEN anonymous THEN NULL ELSE :user_id::bigint END,
        :answers::jsonb,
        CASE WHEN anonymous THEN NULL ELSE :now::timestamptz END,
        CASE WHEN anonymous THEN NULL ELSE :name::text END,
        CASE WHEN anonymous THEN NULL ELSE :member_no::text END
    FROM target WHERE is_open
    ON CONFLICT (survey_id, respondent) DO UPDATE SET
        user_id = excluded.user_id, answers = excluded.answers,
        submitted_at = excluded.submitted_at, answered_as = excluded.answered_as,
        answered_no = excluded.answered_no
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
LOCK_ROSTER_NAME = "SELECT id FROM roster WHERE name = :name ORDER BY id FOR UPDATE"


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
        self._checking = threading.Lock()
        self._lock = threading.Lock()
        self._probing = False
        self._closed = False
        self._answered_at = -math.inf  # monotonic time of the probe's last success
        self._in_use = 0  # connections handed out and not yet returned
        self._stuck = False  # the pool leaves places empty although the server may answer
        self._last_error = ""  # why the last probe failed, for messages
        # Connections handed out on this thread (greenlet under gevent): a request that saw no
        # change sent nothing to the database (connections_taken).
        self._taken = threading.local()
        # monotonic time since which the database has not answered; None while it does.
        self._down_since: float | None = None
        self._pool = self._new_pool()

    def _kwargs(self) -> dict[str, Any]:
        settings = self._settings
        return {
            "autocommit": True,
            # libpq takes whole seconds (and treats anything below 2 as 2).
            "connect_timeout": max(2, math.ceil(settings.connect_timeout)),
            "options": f"-c statement_timeout={int(settings.statement_timeout_ms)} -c TimeZone=UTC",
            "application_name": "surveybot",
            # A server that vanished without closing its connections (a container removed with
            # its network) never answers: give up on what it does not acknowledge within the
            # request budget instead of the kernel's minutes of retransmissions.
            "tcp_user_timeout": 2500,
        }

    def _new_pool(self) -> ConnectionPool[Conn]:
        pool: ConnectionPool[Conn] = ConnectionPool(
            self._url,
            kwargs=self._kwargs(),
            min_size=self._settings.pool_min,
            max_size=self._settings.pool_max,
            open=False,
            # How long a request waits for a connection before it gives up: the request budget.
            timeout=self._settings.connect_timeout,
            # The pool's own reconnect backoff (1, 2, 4 s...) is too slow for a chat; the probe
            # below replaces the whole pool when the server is back, so this only bounds the
            # pool's attempts meanwhile.
            reconnect_timeout=10.0,
            name="surveybot",
            configure=self._hook,
        )
        # wait=False: a database that is down now must not stop the worker from starting.
        pool.open(wait=False)
        return pool

    # --- connections --------------------------------------------------------------------------
    @property
    def available(self) -> bool:
        """False while the database is known to be down (no I/O: a flag the probe keeps)."""
        return self._down_since is None

    def connections_taken(self) -> int:
        """How many connections this thread has been handed: unchanged across a call, the call
        sent nothing to the database."""
        return int(getattr(self._taken, "count", 0))

    @contextmanager
    def _connection(self) -> Iterator[Conn]:
        pool, conn = self._checkout()
        with self._lock:
            self._in_use += 1
        try:
            with conn:  # in a pool: commits or rolls back, never closes
                yield conn
        except psycopg.OperationalError as exc:
            if conn.broken:
                # Lost under a statement: the server died or restarted. Sweep the idle ones and
                # find out whether it answers.
                self._check_soon(pool)
                self._watch()
            raise StoreUnavailable(f"postgres: {exc}") from exc
        finally:
            with self._lock:
                self._in_use -= 1
            pool.putconn(conn)

    def _checkout(self) -> tuple[ConnectionPool[Conn], Conn]:
        """A live connection and its pool; StoreUnreachable (nothing sent) when there is none."""
        if self._down_since is not None:
            down = time.monotonic() - self._down_since
            raise StoreUnreachable(f"postgres: not answering for {down:.1f} s{self._last_error}")
        deadline = time.monotonic() + self._settings.connect_timeout
        while True:
            pool = self._pool  # the probe may have put a new one in place meanwhile
            left = deadline - time.monotonic()
            try:
                # In slices: a request waiting for a connection learns within one that the probe
                # found the server down, instead of waiting the whole timeout.
                conn = pool.getconn(timeout=max(min(left, PROBE_INTERVAL), 0.01))
            except PoolTimeout as exc:
                waited = self._settings.connect_timeout - (deadline - time.monotonic())
                if waited >= 1.0 and self._in_use < self._settings.pool_max:
                    # Not overload: for a second the pool has left places empty, waiting out its
                    # reconnect backoff after an outage nobody here saw. The probe replaces it.
                    self._stuck = True
                # Overload, a stuck pool or an outage: the probe tells them apart.
                self._watch()
                if self._down_since is not None:
                    raise StoreUnreachable("postgres: not answering") from exc
                if left <= PROBE_INTERVAL:
                    budget = self._settings.connect_timeout
                    raise StoreUnavailable(
                        f"postgres: no free connection within {budget} s"
                    ) from exc
                continue
            if not _closed_by_server(conn):
                self._taken.count = self.connections_taken() + 1
                return pool, conn
            # Closed by the server while idle (a restart). Drop it, and the other idle ones in the
            # background; if the server does not answer a fresh connection, it is down.
            conn.close()
            pool.putconn(conn)
            self._check_soon(pool)
            if not self._server_answers():
                self._mark_down("the server closed the connection")
                raise StoreUnreachable("postgres: the server closed the connection and is down")

    def _server_answers(self) -> bool:
        try:
            psycopg.connect(self._url, **self._kwargs()).close()
        except psycopg.Error as error:
            log.debug("database probe failed: %s", error)
            first = str(error).strip().splitlines()
            self._last_error = f" ({first[0][:160]})" if first else ""
            return False
        return True

    def _mark_down(self, why: str) -> None:
        with self._lock:
            if self._down_since is None:
                self._down_since = time.monotonic()
                log.warning("database unreachable (%s): answering at once until it is back", why)
        self._watch()

    def _watch(self) -> None:
        """Start the probe unless one runs: it marks the database down or finds it up. While the
        pool is merely exhausted (overload) the server answered a moment ago: no probe then."""
        with self._lock:
            recently = time.monotonic() - self._answered_at < 1.0
            if (
                self._probing
                or self._closed
                or (recently and self._down_since is None and not self._stuck)
            ):
                return
            self._probing = True
        threading.Thread(target=self._probe, name="surveybot-db-probe", daemon=True).start()

    def _probe(self) -> None:
        try:
            while not self._closed:
                if self._server_answers():
                    self._answered_at = time.monotonic()
                    if self._down_since is not None or self._stuck:
                        self._reopen()
                    return
                if self._down_since is None:
                    self._mark_down("a fresh connection failed")
                time.sleep(PROBE_INTERVAL)
        finally:
            with self._lock:
                self._probing = False

    def _reopen(self) -> None:
        """The server is back: a new pool, since the old one may wait seconds to reconnect."""
        with self._lock:
            if self._closed:
                return
            old, self._pool = self._pool, self._new_pool()
        with self._lock:
            down = time.monotonic() - (self._down_since or time.monotonic())
            self._down_since = None
            self._stuck = False
        log.warning("database reachable again after %.1f s: a new connection pool", down)
        # Connections still out return to the closed pool, which closes them.
        old.close(timeout=1.0)

    def _check_soon(self, pool: ConnectionPool[Conn]) -> None:
        if not self._checking.acquire(blocking=False):
            return  # a sweep is already running

        def sweep() -> None:
            try:
                pool.check()
            except Exception:  # the pool may be closed or the server still down
                log.debug("pool check failed", exc_info=True)
            finally:
                self._checking.release()

        threading.Thread(target=sweep, name="surveybot-pool-check", daemon=True).start()

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
    def lock_roster_name(self, tx: Any, name: str) -> None:
        tx.all(LOCK_ROSTER_NAME, {"name": name})

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
        with self._lock:
            self._closed = True
        self._pool.close()

    def pool_stats(self) -> dict[str, int]:
        return self._pool.get_stats()


def _closed_by_server(conn: Conn) -> bool:
    """Whether an idle connection is dead, without a round trip: an idle connection has nothing to
    read unless the server said goodbye (a restart's FATAL message) or the socket was closed."""
    if conn.closed:
        return True
    try:
        readable, _, _ = select.select([conn.fileno()], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


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
    ) -> None:
        """`on_connect` is called with each new connection (tracing; tests count round trips)."""
        self.url = url
        self._pg = PostgresDialect(url, settings, migrations_dir, on_connect)
        super().__init__(self._pg)

    def available(self) -> bool:
        """False while the database is known to be down: a request would only be apologised to."""
        return self._pg.available

    def connections_taken(self) -> int:
        """Connections this thread has been handed so far (see PostgresDialect)."""
        return self._pg.connections_taken()
