"""The PostgreSQL connection pool of one worker, kept working across database faults.

A pooled connection the server closed while it sat idle (a restart) is noticed without a round
trip when it is taken, and replaced before any statement is sent. A database that does not answer
is marked down: calls then fail at once (StoreUnreachable, nothing sent) instead of each waiting
the pool's timeout, while one thread tries a fresh connection every PROBE_INTERVAL and, once one
succeeds, puts a new pool in place (the old one may sit in a reconnect backoff of several
seconds). docs/deployment.md (runbook) has what each fault costs.
"""

from __future__ import annotations

import logging
import math
import select
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from surveybot.store.base import PgSettings, StoreUnavailable, StoreUnreachable

log = logging.getLogger("surveybot.store.postgres")

Conn = psycopg.Connection[tuple[Any, ...]]
Hook = Callable[[Conn], None] | None
# While the database is down, how often a worker tries a fresh connection: recovery comes at most
# this long (plus one connect) after the server accepts connections again.
PROBE_INTERVAL = 0.25


class ResilientPool:
    """psycopg_pool's ConnectionPool, replaced whole when the database comes back."""

    def __init__(self, url: str, settings: PgSettings, hook: Hook) -> None:
        """`hook` is called with each new connection (tracing; tests count round trips)."""
        self._url = url
        self._settings = settings
        self._hook = hook
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
    def connection(self) -> Iterator[Conn]:
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

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._pool.close()

    def stats(self) -> dict[str, int]:
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
