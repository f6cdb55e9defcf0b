"""Storage: the Store contract and its PostgreSQL and SQLite implementations."""

from __future__ import annotations

from pathlib import Path

from surveybot.crypto import Keyring
from surveybot.store.base import (
    PgSettings,
    RegisterOutcome,
    RegisterResult,
    RoleOutcome,
    RosterImportResult,
    Store,
    StoreUnavailable,
    WriteOutcome,
)

__all__ = [
    "PgSettings",
    "RegisterOutcome",
    "RegisterResult",
    "RoleOutcome",
    "RosterImportResult",
    "Store",
    "StoreUnavailable",
    "WriteOutcome",
    "open_store",
]

POSTGRES_SCHEMES = ("postgres://", "postgresql://")


def open_store(
    database_url: str | None,
    sqlite_path: str,
    *,
    pool_min: int = 1,
    pool_max: int = 4,
    connect_timeout: float = 2.0,
    statement_timeout_ms: int = 2000,
    export_statement_timeout_ms: int = 600_000,
    migrations_dir: str | Path | None = None,
    keyring: Keyring | None = None,
) -> Store:
    """PostgreSQL when database_url is set, else SQLite at sqlite_path. Does not migrate.

    `keyring` seals personal data (issue 13); None writes plaintext (ENCRYPTION_DISABLED=true).

    Opening never needs the database to be up: a PostgreSQL pool connects in the background.
    """
    # Imported here so that a SQLite deployment never loads psycopg.
    if database_url:
        if not database_url.startswith(POSTGRES_SCHEMES):
            raise ValueError("database_url must start with postgres:// or postgresql://")
        from surveybot.store.postgres import PostgresStore

        settings = PgSettings(
            pool_min=pool_min,
            pool_max=pool_max,
            connect_timeout=connect_timeout,
            statement_timeout_ms=statement_timeout_ms,
            export_statement_timeout_ms=export_statement_timeout_ms,
        )
        return PostgresStore(database_url, settings, migrations_dir=migrations_dir, keyring=keyring)
    from surveybot.store.sqlite import SqliteStore

    return SqliteStore(sqlite_path, migrations_dir=migrations_dir, keyring=keyring)
