"""What the store tests share: a fixed clock, a survey, people, and a look at the raw rows."""

from __future__ import annotations

import sqlite3
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from devstack.binaries import pg_binary
from surveybot.domain import (
    Question,
    QuestionKind,
    SurveyDraft,
    User,
)
from surveybot.store.base import (
    Store,
)
from surveybot.store.postgres import PostgresStore
from surveybot.store.sqlite import SqliteStore

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)

QUESTIONS = (
    Question(QuestionKind.SINGLE, "Lunch?", ("rice", "noodles", "bread")),
    Question(QuestionKind.MULTI, "Days?", ("mon", "tue", "wed", "thu")),
    Question(QuestionKind.TEXT, "Anything else?"),
)


def raw(store: Store, query: str, *params: Any) -> list[tuple[Any, ...]]:
    """Run a query beside the store ("?" placeholders), to see what it really wrote."""
    if isinstance(store, SqliteStore):
        conn = sqlite3.connect(store.path)
        try:
            return conn.execute(query, params).fetchall()
        finally:
            conn.close()
    assert isinstance(store, PostgresStore)
    with psycopg.connect(store.url) as pg:
        return pg.execute(query.replace("?", "%s"), params).fetchall()


def execute(store: Store, statement: str, *params: Any) -> int:
    """Change rows beside the store ("?" placeholders), committed, as an operator's SQL would."""
    if isinstance(store, SqliteStore):
        conn = sqlite3.connect(store.path, isolation_level=None)
        try:
            return conn.execute(statement, params).rowcount
        finally:
            conn.close()
    assert isinstance(store, PostgresStore)
    with psycopg.connect(store.url, autocommit=True) as pg:
        return pg.execute(statement.replace("?", "%s"), params).rowcount


def database_bytes(url: str | None, path: str) -> bytes:
    """All a database holds, as a backup or a stolen file would: pg_dump of `url`, or the SQLite
    file at `path` and its WAL after a checkpoint."""
    if url:
        return subprocess.run([pg_binary("pg_dump"), url], capture_output=True, check=True).stdout
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    files = [Path(path), Path(f"{path}-wal")]
    return b"".join(f.read_bytes() for f in files if f.exists())


def count(store: Store, table: str) -> int:
    return int(raw(store, f"SELECT count(*) FROM {table}")[0][0])


def person(store: Store, key: str, name: str | None = None) -> User:
    result = store.register(key, name or f"name-{key}", None)
    assert result.user is not None
    return result.user


def publish(
    store: Store,
    key: str = "d1",
    *,
    anonymous: bool = False,
    deadline: datetime | None = None,
    by: User | None = None,
) -> int:
    author = by or person(store, "author", "Author")
    draft = SurveyDraft("Team lunch", QUESTIONS, "desc", deadline, anonymous)
    return store.create_survey(draft, author.id, key, NOW).id
