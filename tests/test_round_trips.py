"""Common requests take at most two trips to the database, counted by the drivers themselves.

PostgreSQL: libpq's protocol trace of the store's connection; each ReadyForQuery the server sends
ends one round trip (a BEGIN or COMMIT is one too). SQLite has no network: what costs there is
taking the database, so a unit is a transaction (BEGIN ... COMMIT, counted once) or a statement
outside one, seen by sqlite3's trace callback. Both count what really reaches the database, not
the store methods called.

Measured in the steady state of a crowd answering one survey: another person has gone through the
same conversation first, so this worker has already read the survey (Context.survey).
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import falcon.testing
import psycopg
import pytest
from psycopg import pq

from support.chat_helper import SURVEY_MESSAGE, Clock, Person
from surveybot.app import create_app
from surveybot.config import Config
from surveybot.store.base import PgSettings, Store
from surveybot.store.postgres import PostgresStore
from surveybot.store.sqlite import SqliteStore

# The `traced` fixture opens its own stores (SQLite and PostgreSQL).
pytestmark = pytest.mark.store

ADMIN_CODE = "code-1234"
MEMBER_SCRIPT = ["참여 1", "1", "1,3", "좋아요", "제출", "내응답 1", "설문목록", "메뉴", "내정보"]
ADMIN_SCRIPT = ["결과 1", "미응답 1", "설문관리", "메뉴"]
# Rarer requests that may take one more: a withdrawal also forgets its confirmation, a download
# link checks anonymity first and writes its audit row (one statement).
RARER = {"취소 1": 2, "취소확인 1": 3, "다운로드 1": 3}


class Trips:
    """Counts round trips (PostgreSQL) or units of work (SQLite) from the driver's own hooks."""

    def __init__(self) -> None:
        self.trace: IO[bytes] = tempfile.TemporaryFile()
        self.sqlite_units = 0
        self._in_transaction = False
        self._mark = 0

    def attach_postgres(self, conn: psycopg.Connection) -> None:  # type: ignore[type-arg]
        conn.pgconn.trace(self.trace.fileno())
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)

    def attach_sqlite(self, conn: sqlite3.Connection) -> None:
        conn.set_trace_callback(self._sqlite_statement)

    def _sqlite_statement(self, statement: str) -> None:
        text = statement.lstrip().upper()
        if text.startswith("--"):
            return  # a trigger's program, part of the statement that fired it
        if text.startswith("BEGIN"):
            self._in_transaction = True
            self.sqlite_units += 1
        elif text.startswith(("COMMIT", "ROLLBACK")):
            self._in_transaction = False
        elif not self._in_transaction:
            self.sqlite_units += 1

    def start(self) -> None:
        self.sqlite_units = 0
        self._mark = self.trace.seek(0, 2)

    def count(self) -> tuple[int, list[str]]:
        """Trips since start(), and the start of what was sent (for a failure message).

        psycopg prepares a statement the fifth time a connection runs it, in a trip of its own
        (Parse of a named statement "_pg3_n"): once per statement and connection, not per request,
        so those trips are left out.
        """
        self.trace.seek(self._mark)
        lines = self.trace.read().decode(errors="replace").splitlines()
        if not lines:
            return self.sqlite_units, []
        ready = sum(1 for line in lines if "\tReadyForQuery\t" in line)
        preparing = sum(1 for line in lines if '\tParse\t "_pg3_' in line)
        sent = [line[:120] for line in lines if line.startswith("F\t")]
        return ready - preparing, sent


@pytest.fixture(params=["sqlite", "postgres"])
def traced(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, Trips]]:
    trips = Trips()
    store: Store
    if request.param == "sqlite":
        store = SqliteStore(tmp_path / "bot.sqlite3", on_connect=trips.attach_sqlite)
    else:
        url = request.getfixturevalue("pg_url")
        # One connection, so every statement goes through the traced one.
        store = PostgresStore(
            url, PgSettings(pool_min=1, pool_max=1), on_connect=trips.attach_postgres
        )
    store.migrate()
    try:
        yield store, trips
    finally:
        store.close()
        trips.trace.close()


def conversation(store: Store) -> tuple[Person, Person, Person]:
    config = Config(environment="development", admin_code=ADMIN_CODE)
    client = falcon.testing.TestClient(create_app(config, store, Clock()))
    admin, member, earlier = (
        Person(client, "admin"),
        Person(client, "member"),
        Person(client, "first"),
    )
    admin.say("등록 관리자")
    admin.say(f"관리자인증 {ADMIN_CODE}")
    admin.say(SURVEY_MESSAGE)
    admin.say("확인")
    for who, name in ((member, "회원"), (earlier, "먼저온사람")):
        who.say(f"등록 {name}")
    for utterance in MEMBER_SCRIPT:
        earlier.say(utterance)
    return admin, member, earlier


def trips_of(person: Person, trips: Trips, utterance: str) -> tuple[int, list[str]]:
    trips.start()
    person.say(utterance)
    return trips.count()


def test_common_requests_take_at_most_two_trips(traced: tuple[Store, Trips]) -> None:
    store, trips = traced
    admin, member, _ = conversation(store)
    counted = {}
    for utterance in MEMBER_SCRIPT:
        counted[utterance] = trips_of(member, trips, utterance)
        if utterance == "제출":
            assert "저장되었습니다" in member.text  # a real submit, not a refusal
    for utterance in ADMIN_SCRIPT:
        counted[f"admin {utterance}"] = trips_of(admin, trips, utterance)
    over = {what: found for what, found in counted.items() if found[0] > 2}
    assert not over, over
    # The counter counts: every request reached the database at least once.
    assert all(n >= 1 for n, _ in counted.values()), counted


def test_rarer_requests_stay_within_their_budget(traced: tuple[Store, Trips]) -> None:
    store, trips = traced
    admin, member, _ = conversation(store)
    for utterance in MEMBER_SCRIPT[:5]:
        member.say(utterance)
    counted = {what: trips_of(member, trips, what) for what in ("취소 1", "취소확인 1")}
    counted["다운로드 1"] = trips_of(admin, trips, "다운로드 1")
    assert "응답을 철회했습니다" in member.text  # the real withdrawal, not a refusal
    over = {what: found for what, found in counted.items() if found[0] > RARER[what]}
    assert not over, over


def test_a_changed_survey_is_read_again(traced: tuple[Store, Trips]) -> None:
    """The worker's copy of a survey is dropped as soon as any survey changes."""
    store, trips = traced
    admin, member, _ = conversation(store)
    member.say("참여 1")
    assert "마감되었습니다" not in member.text
    trips.start()
    assert "마감했습니다" in admin.say("마감 1")
    # The next step sees the survey closed, not this worker's copy of it.
    assert "마감되었습니다" in member.say("1")
