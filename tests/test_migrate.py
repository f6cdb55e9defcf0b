"""Migrations: applied once, in order, atomically, and safely when processes start together."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from surveybot.store import open_store
from surveybot.store.base import Store, StoreUnavailable
from surveybot.store.migrate import (
    ENV_MIGRATIONS_DIR,
    default_migrations_dir,
    migrate_when_reachable,
    migration_files,
    split_sqlite_script,
)

REPO = Path(__file__).resolve().parents[1]
SERVICE = REPO / "service"
BACKENDS = ["sqlite", "postgres"]


# It asks for pg_url only on PostgreSQL, unseen by conftest.py: its tests are marked `store`.
@pytest.fixture(params=BACKENDS)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str | None, str]:
    """(dialect, database_url, sqlite_path) of an empty database."""
    if request.param == "postgres":
        return "postgres", request.getfixturevalue("pg_url"), ""
    return "sqlite", None, str(tmp_path / "db.sqlite3")


def applied_names(dialect: str, url: str | None, path: str) -> list[str]:
    query = "SELECT name FROM schema_migrations ORDER BY name"
    if dialect == "postgres":
        assert url is not None
        with psycopg.connect(url) as conn:
            return [row[0] for row in conn.execute(query)]
    conn = sqlite3.connect(path)
    try:
        return [row[0] for row in conn.execute(query)]
    finally:
        conn.close()


def table_exists(dialect: str, url: str | None, path: str, table: str) -> bool:
    if dialect == "postgres":
        assert url is not None
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
            return bool(row and row[0])
    conn = sqlite3.connect(path)
    try:
        query = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?"
        return bool(conn.execute(query, (table,)).fetchone()[0])
    finally:
        conn.close()


def copy_migrations(tmp_path: Path, extra: dict[str, str]) -> Path:
    """The real migrations plus `extra` files ({name: sql}) for both dialects."""
    folder = tmp_path / "migrations"
    shutil.copytree(default_migrations_dir(), folder)
    for dialect in BACKENDS:
        for name, text in extra.items():
            (folder / dialect / name).write_text(text, encoding="utf-8")
    return folder


def open_target(target: tuple[str, str | None, str], migrations_dir: Path | None = None) -> Store:
    _, url, path = target
    return open_store(url, path, migrations_dir=migrations_dir)


def test_default_dir_is_the_repository_db_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_MIGRATIONS_DIR, raising=False)
    assert default_migrations_dir() == REPO / "db"
    for dialect in ("postgres", "sqlite"):
        names = [p.name for p in migration_files(dialect)]
        assert names[:1] == ["0001_init.sql"] and names == sorted(names)
    monkeypatch.setenv(ENV_MIGRATIONS_DIR, "/elsewhere")
    assert default_migrations_dir() == Path("/elsewhere")
    with pytest.raises(FileNotFoundError):
        migration_files("sqlite")


@pytest.mark.store
def test_migrations_apply_once(target: tuple[str, str | None, str]) -> None:
    expected = [p.name for p in migration_files("sqlite")]
    store = open_target(target)
    try:
        assert store.migrate() == expected
        assert store.migrate() == []
        store.ping()
    finally:
        store.close()
    assert applied_names(*target) == expected
    store = open_target(target)  # a restart finds nothing to do
    try:
        assert store.migrate() == []
    finally:
        store.close()


@pytest.mark.store
def test_later_migrations_apply_in_order(
    target: tuple[str, str | None, str], tmp_path: Path
) -> None:
    store = open_target(target)
    try:
        store.migrate()
    finally:
        store.close()
    folder = copy_migrations(
        tmp_path,
        {
            "0003_more.sql": "ALTER TABLE extra ADD COLUMN note TEXT;",
            "0002_extra.sql": "CREATE TABLE extra (id INTEGER PRIMARY KEY);\n-- done;\n",
        },
    )
    store = open_target(target, folder)
    try:
        assert store.migrate() == ["0002_extra.sql", "0003_more.sql"]
        assert store.migrate() == []
    finally:
        store.close()
    assert table_exists(*target, "extra")


@pytest.mark.store
def test_a_failing_migration_changes_nothing(
    target: tuple[str, str | None, str], tmp_path: Path
) -> None:
    folder = copy_migrations(
        tmp_path, {"0002_broken.sql": "CREATE TABLE half (id INTEGER);\nSELECT * FROM missing;\n"}
    )
    store = open_target(target, folder)
    try:
        with pytest.raises(Exception, match="missing"):
            store.migrate()
    finally:
        store.close()
    assert applied_names(*target) == ["0001_init.sql"]
    assert not table_exists(*target, "half")


def shipped() -> list[str]:
    """Every migration in db/, each applied exactly once by all the racers together."""
    names = [p.name for p in migration_files("sqlite")]
    assert names == [p.name for p in migration_files("postgres")]
    return names


@pytest.mark.store
def test_concurrent_migrate_from_threads(target: tuple[str, str | None, str]) -> None:
    stores = [open_target(target) for _ in range(6)]
    barrier = threading.Barrier(len(stores))

    def run(store: Store) -> list[str]:
        barrier.wait()
        return store.migrate()

    try:
        with ThreadPoolExecutor(len(stores)) as pool:
            results = list(pool.map(run, stores))
    finally:
        for store in stores:
            store.close()
    assert sorted(name for names in results for name in names) == shipped()
    assert applied_names(*target) == shipped()


CHILD = """
import json, sys
from surveybot.store import open_store
store = open_store(sys.argv[1] or None, sys.argv[2])
try:
    print(json.dumps(store.migrate()))
finally:
    store.close()
"""


@pytest.mark.system
def test_concurrent_migrate_from_processes(target: tuple[str, str | None, str]) -> None:
    _, url, path = target
    env = {**os.environ, "PYTHONPATH": str(SERVICE)}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, url or "", path],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(4)
    ]
    applied: list[str] = []
    for child in children:
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
        applied += json.loads(out)
    assert sorted(applied) == shipped()
    assert applied_names(*target) == shipped()


def test_split_sqlite_script() -> None:
    script = """
    -- a comment; with a semicolon
    CREATE TABLE t (x TEXT DEFAULT 'a;b');
    CREATE TRIGGER tr AFTER INSERT ON t BEGIN
        UPDATE t SET x = 'c;d';
        DELETE FROM t WHERE 0;
    END;
    -- trailing comment
    """
    statements = split_sqlite_script(script)
    assert len(statements) == 2
    assert statements[0].endswith("DEFAULT 'a;b');")
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")
    with pytest.raises(ValueError):
        split_sqlite_script("CREATE TABLE t (x TEXT); CREATE TABLE u (")


# --- a database that does not answer (yet) ------------------------------------------------------
class _FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.mark.unit
def test_migrate_waits_with_backoff_until_the_database_answers() -> None:
    clock = _FakeTime()
    calls = []

    def migrate() -> list[str]:
        calls.append(clock.now)
        if len(calls) < 5:
            raise StoreUnavailable("postgres: connection refused")
        return ["0001_init.sql"]

    applied = migrate_when_reachable(migrate, 60, clock=lambda: clock.now, sleep=clock.sleep)
    assert applied == ["0001_init.sql"]
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0]  # doubling from 0.5 s


@pytest.mark.unit
def test_migrate_gives_up_at_its_bound() -> None:
    clock = _FakeTime()

    def migrate() -> list[str]:
        raise StoreUnavailable("postgres: connection refused")

    with pytest.raises(StoreUnavailable):
        migrate_when_reachable(migrate, 12, clock=lambda: clock.now, sleep=clock.sleep)
    assert clock.now == 12  # waited exactly up to the bound, in steps of at most 5 s
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 4.5]


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens there once the socket is closed


@pytest.mark.system
def test_migrate_command_against_an_unreachable_database_says_one_line() -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SURVEYBOT_ENV": "development",
        "DATABASE_URL": f"postgresql://surveybot@127.0.0.1:{_closed_port()}/surveybot",
        "DB_MIGRATE_WAIT_SECONDS": "2",
    }  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "surveybot.cli", "migrate"], capture_output=True, text=True,
        env=env, timeout=30,
    )  # fmt: skip
    took = time.monotonic() - started
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("migrate: the database did not answer within 2 s"), lines
    assert "Traceback" not in done.stderr
    # Its bound (2 s) plus one pool wait (2 s) and the interpreter's start: far below 30 s.
    assert took < 15, took
