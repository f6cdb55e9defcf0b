"""What the SQL store needs from a database: connections, value codecs, the statements that differ.

PostgresDialect (postgres.py) and SqliteDialect (sqlite.py) provide it; SqlStore (sql.py) uses it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

Params = dict[str, Any]


class Tx(Protocol):
    """Statements inside one transaction (or one autocommitted statement)."""

    def one(self, sql: str, params: Params | None = None) -> Any: ...

    def all(self, sql: str, params: Params | None = None) -> list[Any]: ...

    def run(self, sql: str, params: Params | None = None) -> int:
        """Execute; return the number of rows changed."""
        ...


@dataclass(frozen=True)
class Statements:
    """The statements SqlStore runs that each database writes its own way."""

    # One row: survey columns, respondents, population, [[question, choice, n]], [[question, [text]]]
    results: str
    # One row: survey columns, respondents, population, [[name, number, department, registered]]
    pending: str
    role_rows: str  # every admin and the target, locked where the database can


class Dialect(Protocol):
    """What differs between PostgreSQL and SQLite: connections, values, a few statements."""

    name: str
    sql: Statements

    def statement(self) -> AbstractContextManager[Tx]:
        """One statement outside a transaction: a single round trip, committed at once."""
        ...

    def transaction(self, write: bool) -> AbstractContextManager[Tx]:
        """Several statements seeing one snapshot; `write` takes the write lock first."""
        ...

    def time(self, value: datetime) -> Any: ...

    def read_time(self, value: Any) -> datetime | None: ...

    def json(self, value: object) -> Any: ...

    def read_json(self, value: Any) -> Any: ...

    def lock_roster_name(self, tx: Tx, named: Params) -> None:
        """Make two people claiming entries of one name take turns."""
        ...

    def is_unique_violation(self, error: Exception) -> bool: ...

    def is_survey_gone(self, error: Exception) -> bool:
        """A write referred to a survey deleted while it ran (a foreign key violation)."""
        ...

    def is_answer_refused(self, error: Exception) -> bool:
        """The database's answer check (migration 0002) refused the write."""
        ...

    def submit(self, params: Params) -> tuple[bool, bool]:
        """Save the response if open, record participation, end the session: (exists, saved)."""
        ...

    def withdraw(self, params: Params) -> tuple[bool, bool, bool]:
        """Delete the response if open: (exists, is_open, gone)."""
        ...

    def export_cursor(
        self, survey_id: int
    ) -> AbstractContextManager[tuple[bool, Iterator[Sequence[Any]]]]:
        """(anonymous, rows) of one survey's export, streamed from one snapshot."""
        ...

    def migrate(self) -> list[str]: ...

    def close(self) -> None: ...

    def pool_stats(self) -> dict[str, int]: ...
