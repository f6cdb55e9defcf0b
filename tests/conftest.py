"""Shared fixtures: a PostgreSQL server per test session, and a fresh migrated store per test.

PostgreSQL is a throwaway cluster (devstack.postgres), or the server of SURVEYBOT_TEST_DATABASE_URL.

`store` runs a test on both backends; `sqlite_store` / `pg_store` pick one.

Every test is marked `unit`, `store` or `system` (pytest.ini): `./scripts/test -m unit` runs in
seconds. A test gets the marker of the fixtures it uses, unless it or its module has one already.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack import postgres
from support.keys import KEY_ENV, TEST_KEYRING
from surveybot.store import open_store
from surveybot.store.base import Store

# clock, client, person, admin, member: conversations through the HTTP app, on `store`;
# stack_folder, module_stack_folder: a folder for the native stack.
pytest_plugins = ["support.chat_fixtures", "support.stack_fixtures"]

MARKERS = ("unit", "store", "system")
# The shared fixtures that start processes (nginx, gunicorn, PostgreSQL) or open a database: a
# test using one, directly or through another fixture, is `system` or `store`. A module whose own
# fixtures or code start processes marks its tests itself (`pytestmark`, `@pytest.mark.system`).
SYSTEM_FIXTURES = frozenset({"stack_folder", "module_stack_folder"})
STORE_FIXTURES = frozenset(
    {"store", "sqlite_store", "pg_store", "sqlite_path", "pg_url", "pg_server", "cli_database"}
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fuzz",
        action="store_true",
        default=False,
        help="test_fuzz.py: ten times the examples (minutes; for runs outside CI)",
    )


@pytest.hookimpl(tryfirst=True)  # before -m deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give every test exactly one of MARKERS: its own or its module's, else that of its fixtures."""
    wrong = []
    for item in items:
        marked = {mark.name for mark in item.iter_markers() if mark.name in MARKERS}
        if not marked:
            item.add_marker(_marker_of(set(getattr(item, "fixturenames", ()))))
        elif len(marked) > 1:
            wrong.append(f"{item.nodeid}: {', '.join(sorted(marked))}")
    if wrong:
        raise pytest.UsageError("more than one of unit, store, system:\n" + "\n".join(wrong))


def _marker_of(fixtures: set[str]) -> str:
    if fixtures & SYSTEM_FIXTURES:
        return "system"
    if fixtures & STORE_FIXTURES:
        return "store"
    return "unit"


@pytest.fixture(scope="session")
def fuzz(pytestconfig: pytest.Config) -> bool:
    """True under --fuzz: the property-based tests run many more examples."""
    return bool(pytestconfig.getoption("--fuzz"))


@pytest.fixture(scope="session")
def pg_server() -> Iterator[postgres.Server]:
    external = os.environ.get("SURVEYBOT_TEST_DATABASE_URL")
    if external:
        yield postgres.Server.from_url(external)
        return
    with postgres.scratch() as cluster:
        yield cluster


@pytest.fixture
def pg_url(pg_server: postgres.Server) -> Iterator[str]:
    """URL of a new, empty database, dropped after the test."""
    url = pg_server.create_database()
    try:
        yield url
    finally:
        pg_server.drop_database(url.rsplit("/", 1)[1])


@pytest.fixture
def sqlite_path(tmp_path: Path) -> str:
    return str(tmp_path / "surveybot.sqlite3")


@pytest.fixture
def cli_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The SQLite file `surveybot` commands (cli.main in this process) work on, in development."""
    database = tmp_path / "cli.sqlite3"
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("SURVEYBOT_ENV", "development")
    monkeypatch.setenv("SQLITE_PATH", str(database))
    for name, value in KEY_ENV.items():  # the keys the store fixtures seal with
        monkeypatch.setenv(name, value)
    return database


@pytest.fixture
def sqlite_store(sqlite_path: str) -> Iterator[Store]:
    store = open_store(None, sqlite_path, keyring=TEST_KEYRING)
    store.migrate()
    store.check_keys()
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[Store]:
    store = open_store(pg_url, "", pool_min=1, pool_max=8, keyring=TEST_KEYRING)
    store.migrate()
    store.check_keys()
    try:
        yield store
    finally:
        store.close()


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest) -> Store:
    """The same test on each backend; PostgreSQL is only started when a test needs it."""
    name = "pg_store" if request.param == "postgres" else "sqlite_store"
    result: Store = request.getfixturevalue(name)
    return result
