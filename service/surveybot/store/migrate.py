"""Versioned schema migrations: db/<dialect>/NNNN_name.sql files, applied once each, in name order.

Each file runs in its own transaction together with its row in schema_migrations, under a lock
(PostgreSQL advisory lock, SQLite write lock) so that processes starting at once apply it once.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from surveybot.store.base import StoreUnavailable

if TYPE_CHECKING:  # a SQLite deployment never loads psycopg
    import psycopg

Dialect = Literal["postgres", "sqlite"]

ENV_MIGRATIONS_DIR = "SURVEYBOT_MIGRATIONS_DIR"

# Any fixed number will do; every surveybot process must use the same one.
PG_LOCK_KEY = 0x5375727665790001

PG_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    name text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""
PG_APPLIED = "SELECT 1 FROM schema_migrations WHERE name = %s"
PG_RECORD = "INSERT INTO schema_migrations (name) VALUES (%s)"

SQLITE_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    name TEXT PRIMARY KEY,
    applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
)
"""
SQLITE_APPLIED = "SELECT 1 FROM schema_migrations WHERE name = ?"
SQLITE_RECORD = "INSERT INTO schema_migrations (name) VALUES (?)"


def default_migrations_dir() -> Path:
    """The repository's db/ directory, or $SURVEYBOT_MIGRATIONS_DIR when set."""
    env = os.environ.get(ENV_MIGRATIONS_DIR)
    if env:
        return Path(env)
    # service/surveybot/store/migrate.py -> repository top
    return Path(__file__).resolve().parents[3] / "db"


# `surveybot migrate` waits for a database that does not answer yet (compose starts it beside a
# restarting database) up to DB_MIGRATE_WAIT_SECONDS (config.py), trying again after 0.5 s, then
# twice as long each time, up to 5 s.
FIRST_RETRY_SECONDS = 0.5
LONGEST_RETRY_SECONDS = 5.0


def migrate_when_reachable(
    migrate: Callable[[], list[str]],
    wait_seconds: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Run `migrate`, again with backoff while the database is unavailable, for at most
    `wait_seconds` in all; past that the last StoreUnavailable is raised."""
    deadline = clock() + wait_seconds
    delay = FIRST_RETRY_SECONDS
    while True:
        try:
            return migrate()
        except StoreUnavailable:
            left = deadline - clock()
            if left <= 0:
                raise
            sleep(min(delay, left))
            delay = min(delay * 2, LONGEST_RETRY_SECONDS)


def migration_files(dialect: Dialect, migrations_dir: Path | str | None = None) -> list[Path]:
    """The dialect's .sql files in the order they must be applied."""
    base = Path(migrations_dir) if migrations_dir is not None else default_migrations_dir()
    folder = base / dialect
    if not folder.is_dir():
        raise FileNotFoundError(f"no migrations directory {folder}")
    return sorted((p for p in folder.glob("*.sql") if p.is_file()), key=lambda p: p.name)


def migrate_postgres(conn: psycopg.Connection[Any], files: list[Path]) -> list[str]:
    """Apply pending files on an autocommit connection; return the names applied."""
    applied: list[str] = []
    for path in files:
        with conn.transaction():
            # Schema changes may take longer than the request budget of the store's sessions.
            conn.execute("SET LOCAL statement_timeout = 0")
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (PG_LOCK_KEY,))
            conn.execute(PG_CREATE_TABLE)
            if conn.execute(PG_APPLIED, (path.name,)).fetchone():
                continue
            # bytes: psycopg runs a parameterless script with the simple protocol, so many
            # statements per file work.
            conn.execute(path.read_bytes())
            conn.execute(PG_RECORD, (path.name,))
            applied.append(path.name)
    return applied


def migrate_sqlite(conn: sqlite3.Connection, files: list[Path]) -> list[str]:
    """Apply pending files on a connection in autocommit mode; return the names applied."""
    applied: list[str] = []
    for path in files:
        # BEGIN IMMEDIATE takes the write lock first, so a second process waits, then skips.
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(SQLITE_CREATE_TABLE)
            if conn.execute(SQLITE_APPLIED, (path.name,)).fetchone():
                conn.execute("ROLLBACK")
                continue
            for statement in split_sqlite_script(path.read_text(encoding="utf-8")):
                conn.execute(statement)
            conn.execute(SQLITE_RECORD, (path.name,))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        applied.append(path.name)
    return applied


def split_sqlite_script(script: str) -> list[str]:
    """Split a script into statements (executescript would commit our transaction first)."""
    statements: list[str] = []
    pending = ""
    *pieces, tail = script.split(";")
    for piece in pieces:
        pending += piece + ";"
        # complete_statement knows about quotes, comments and trigger bodies.
        if sqlite3.complete_statement(pending):
            if _has_code(pending):
                statements.append(pending.strip())
            pending = ""
    if _has_code(pending + tail):
        raise ValueError("migration script ends with an unterminated statement")
    return statements


def _has_code(text: str) -> bool:
    lines = (line.split("--", 1)[0].strip() for line in text.splitlines())
    return any(line and line != ";" for line in lines)
