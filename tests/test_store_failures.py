"""The Store under concurrency and failure: twin requests, a database down or slow."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import psycopg
import pytest

from devstack.procs import wait_for
from support.store_helpers import LATER, NOW, count, person, publish, raw
from support.tcp_proxy import TcpProxy
from surveybot.store import StoreUnavailable, open_store
from surveybot.store.base import (
    Store,
    StoreUnreachable,
    WriteOutcome,
)
from surveybot.store.postgres import PostgresStore
from surveybot.store.sqlite import SqliteStore


# --- concurrency and failure --------------------------------------------------------------------
def test_fifty_identical_submits_save_one_response(store: Store) -> None:
    me = person(store, "me")
    sid = publish(store)
    barrier = threading.Barrier(50)

    def submit(_: int) -> WriteOutcome:
        barrier.wait()
        return store.submit_response(sid, me, "u:me", (1, [2], "same"), NOW)

    with ThreadPoolExecutor(50) as pool:
        outcomes = list(pool.map(submit, range(50)))
    assert outcomes == [WriteOutcome.OK] * 50
    assert raw(store, "SELECT count(*) FROM responses WHERE survey_id = ?", sid) == [(1,)]
    assert count(store, "participants") == 1


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens there once the socket is closed


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.ping(),
        lambda s: s.load_context("k", NOW),
        lambda s: s.list_surveys(),
    ],
    ids=["ping", "load_context", "list_surveys"],
)
def test_unreachable_postgres_fails_fast(call: Callable[[Store], object]) -> None:
    started = time.monotonic()
    store = open_store(f"postgresql://postgres@127.0.0.1:{_closed_port()}/x", "", connect_timeout=1)
    try:
        assert time.monotonic() - started < 1  # constructing does not wait for the server
        with pytest.raises(StoreUnavailable):
            call(store)
        assert time.monotonic() - started < 5
    finally:
        store.close()


def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(ValueError):
        store.load_context("k", datetime(2025, 1, 1))


def test_sqlite_busy_database_is_unavailable_not_a_crash(sqlite_path: str) -> None:
    store = SqliteStore(sqlite_path, busy_timeout_ms=100)
    store.migrate()
    blocker = sqlite3.connect(sqlite_path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with pytest.raises(StoreUnavailable):
            store.record_admin_code_failure("k", NOW)
        assert store.load_context("k", NOW)[:2] == (None, None)  # WAL: readers still read
        blocker.execute("ROLLBACK")
        store.record_admin_code_failure("k", NOW)  # the thread's connection is usable again
        assert store.count_admin_code_failures("k", NOW) == (1, 1)
    finally:
        blocker.close()
        store.close()


def test_postgres_statement_timeout_is_unavailable(pg_url: str) -> None:
    store = open_store(pg_url, "", statement_timeout_ms=200)
    store.migrate()
    store.save_session("k", {}, None, LATER, NOW)
    with psycopg.connect(pg_url) as blocker:
        blocker.execute("SELECT 1 FROM sessions WHERE user_key = 'k' FOR UPDATE")
        started = time.monotonic()
        with pytest.raises(StoreUnavailable):
            store.clear_session("k")  # waits for the row lock until the statement times out
        assert time.monotonic() - started < 2
    try:
        store.clear_session("k")
    finally:
        store.close()


def test_postgres_store_recovers_when_its_connections_die(pg_url: str) -> None:
    store = open_store(pg_url, "", pool_min=2, pool_max=2)
    store.migrate()
    try:
        store.ping()
        with psycopg.connect(pg_url, autocommit=True) as admin:
            mine = "application_name = 'surveybot' AND datname = current_database()"
            admin.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE {mine}")
            # As after a server restart: every idle pooled connection was closed by the server.
            wait_for(
                lambda: admin.execute(f"SELECT count(*) FROM pg_stat_activity WHERE {mine}")
                .fetchone() == (0,), 5, "the backends to end",
            )  # fmt: skip
        # Noticed when taken from the pool (the server's goodbye is waiting on the socket) and
        # replaced before anything is sent: no call fails.
        for _ in range(4):
            store.ping()
        assert store.list_surveys() == []
    finally:
        store.close()


def test_postgres_store_down_answers_at_once_then_recovers(pg_url: str) -> None:
    host_port = pg_url.split("@", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    with TcpProxy((host, int(port))) as proxy:
        store = open_store(pg_url.replace(host_port, f"127.0.0.1:{proxy.port}"), "", pool_min=1)
        assert isinstance(store, PostgresStore)
        try:
            store.migrate()
            store.ping()
            proxy.cut()  # the network path to the database is gone
            with pytest.raises(StoreUnavailable):
                store.ping()
            wait_for(lambda: not store.available(), 5, "the store to mark the database down")
            # Known down: a call fails at once, saying nothing was sent, not after the pool's 2 s.
            started = time.monotonic()
            with pytest.raises(StoreUnreachable):
                store.list_surveys()
            assert time.monotonic() - started < 1
            proxy.mend()
            wait_for(store.available, 5, "the store to find the database again")
            store.ping()
            assert store.list_surveys() == []
        finally:
            store.close()


def _waiting_pid(conn: psycopg.Connection[Any], other_than: int = 0) -> int:
    """The backend waiting for a lock on responses (not `other_than`), within 5 s."""
    query = (
        "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        " AND query LIKE '%%INSERT INTO responses%%' AND pid <> pg_backend_pid() AND pid <> %s"
    )
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        row = conn.execute(query, (other_than,)).fetchone()
        if row is not None:
            return int(row[0])
        time.sleep(0.02)
    raise AssertionError("no submit waiting for the lock")


def test_a_submit_whose_connection_breaks_under_it_is_saved_once(pg_url: str) -> None:
    """The submit (an upsert) is tried once more on a fresh connection when its connection dies
    mid-statement: the person is told "saved", and the database holds the answer once."""
    store = PostgresStore(pg_url)
    outcome: list[WriteOutcome] = []
    try:
        store.migrate()
        me = person(store, "me")
        sid = publish(store)
        with (
            psycopg.connect(pg_url, autocommit=True) as watcher,
            psycopg.connect(pg_url) as locker,
        ):
            locker.execute("LOCK TABLE responses IN SHARE MODE")  # inserts wait for its commit
            submit = threading.Thread(
                target=lambda: outcome.append(
                    store.submit_response(sid, me, "u:me", (1, [2], "same"), NOW)
                )
            )
            submit.start()
            first = _waiting_pid(watcher)
            watcher.execute("SELECT pg_terminate_backend(%s)", (first,))  # dies mid-statement
            _waiting_pid(watcher, other_than=first)  # the retry, on a fresh connection
            locker.commit()
            submit.join(timeout=10)
        assert outcome == [WriteOutcome.OK]
        assert raw(store, "SELECT count(*) FROM responses WHERE survey_id = ?", sid) == [(1,)]
        found = store.results(sid)
        assert found is not None and found.respondents == 1
    finally:
        store.close()
