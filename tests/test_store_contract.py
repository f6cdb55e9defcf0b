"""The Store contract, run against SQLite and PostgreSQL alike (fixture `store`)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from surveybot.domain import (
    PendingPerson,
    Question,
    QuestionKind,
    Role,
    RosterEntry,
    SurveyDraft,
    User,
)
from surveybot.store import StoreUnavailable, open_store
from surveybot.store.base import (
    RegisterOutcome,
    RoleOutcome,
    RosterImportResult,
    Store,
    WriteOutcome,
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


# --- people -------------------------------------------------------------------------------------
def test_unknown_person_has_no_context(store: Store) -> None:
    assert store.load_context("nobody", NOW) == (None, None)
    assert store.get_user(12345) is None


def test_register_without_roster_creates_then_renames(store: Store) -> None:
    first = store.register("k1", "Kim", None)
    assert first.outcome is RegisterOutcome.OK and first.user is not None
    assert (first.user.name, first.user.role, first.user.member_no) == ("Kim", Role.MEMBER, None)
    again = store.register("k1", "Kim Minsu", "77")
    assert again.user is not None
    assert again.user.id == first.user.id
    assert (again.user.name, again.user.member_no) == ("Kim Minsu", "77")
    user, session = store.load_context("k1", NOW)
    assert user == again.user and session is None
    assert store.get_user(first.user.id) == again.user
    assert count(store, "users") == 1


def test_register_with_roster(store: Store) -> None:
    store.import_roster(
        [
            RosterEntry("Kim", "1", "Sales"),
            RosterEntry("Kim", "2", "Ops"),
            RosterEntry("Lee", None, "HR"),
        ]
    )
    assert store.register("k1", "Park", None).outcome is RegisterOutcome.NOT_ON_ROSTER
    assert store.register("k1", "Kim", None).outcome is RegisterOutcome.NUMBER_REQUIRED
    assert store.register("k1", "Kim", "3").outcome is RegisterOutcome.NOT_ON_ROSTER
    assert store.register("k1", "Lee", "9").outcome is RegisterOutcome.NOT_ON_ROSTER
    assert count(store, "users") == 0  # refusals create nobody

    kim = store.register("k1", "Kim", "1")
    assert kim.outcome is RegisterOutcome.OK and kim.user is not None
    assert (kim.user.member_no, kim.user.department) == ("1", "Sales")
    assert kim.user.roster_id is not None
    assert store.register("k2", "Kim", "1").outcome is RegisterOutcome.CLAIMED
    assert store.find_users("k2") == []
    # Registering again is fine; another entry is refused: the claim (and the answers given
    # under it) stays with this Kakao user until an admin releases it.
    assert store.register("k1", "Kim", "1").outcome is RegisterOutcome.OK
    assert store.register("k1", "Kim", "2").outcome is RegisterOutcome.HAS_CLAIM
    assert store.register("k1", "Lee", None).outcome is RegisterOutcome.HAS_CLAIM
    assert store.find_users("k1")[0].roster_id == kim.user.roster_id
    lee = store.register("k2", "Lee", None).user
    assert lee is not None and (lee.member_no, lee.department) == (None, "HR")

    claims = {(entry.name, entry.member_no): key for entry, key in store.list_roster()}
    assert claims == {("Kim", "1"): "k1", ("Kim", "2"): None, ("Lee", None): "k2"}
    status = store.roster_status()
    assert (status.size, status.registered) == (3, 2)
    assert status.unregistered == [RosterEntry("Kim", "2", "Ops")]
    # The roster stays the truth for department after an import changes it.
    store.import_roster([RosterEntry("Lee", None, "Finance")])
    user, _ = store.load_context("k2", NOW)
    assert user is not None and user.department == "Finance"


def test_import_roster_counts_and_keeps_claims(store: Store) -> None:
    entries = [RosterEntry("A", None, "x"), RosterEntry("B", "1", None), RosterEntry("B", "2", "y")]
    assert store.import_roster(entries) == RosterImportResult(added=3, updated=0)
    assert store.import_roster(entries) == RosterImportResult(added=0, updated=0)
    store.register("ka", "A", None)
    changed = [RosterEntry("A", None, "z"), RosterEntry("B", "2", None), RosterEntry("C")]
    assert store.import_roster(changed) == RosterImportResult(added=1, updated=1)
    assert store.import_roster([]) == RosterImportResult(0, 0)
    roster = store.list_roster()
    assert roster == [
        (RosterEntry("A", None, "z"), "ka"),
        (RosterEntry("B", "1", None), None),
        (RosterEntry("B", "2", "y"), None),  # no department in the file keeps the known one
        (RosterEntry("C", None, None), None),
    ]


def test_find_users_and_roles(store: Store) -> None:
    a = person(store, "ka", "Same")
    b = person(store, "kb", "Same")
    assert [u.id for u in store.find_users("Same")] == [a.id, b.id]
    assert store.find_users("kb") == [b]
    assert store.find_users("nobody") == []
    assert store.list_admins() == []

    assert store.set_role(999999, "admin") is RoleOutcome.MISSING
    assert store.set_role(a.id, "admin") is RoleOutcome.OK
    assert store.set_role(a.id, "admin") is RoleOutcome.UNCHANGED
    assert store.set_role(b.id, "member") is RoleOutcome.UNCHANGED
    assert store.set_role(a.id, "member") is RoleOutcome.LAST_ADMIN
    assert [u.user_key for u in store.list_admins()] == ["ka"]
    assert store.set_role(b.id, "admin") is RoleOutcome.OK
    assert store.set_role(a.id, "member") is RoleOutcome.OK
    assert store.set_role(b.id, "member") is RoleOutcome.LAST_ADMIN
    assert [u.user_key for u in store.list_admins()] == ["kb"]
    user, _ = store.load_context("kb", NOW)
    assert user is not None and user.is_admin
    with pytest.raises(ValueError):
        store.set_role(a.id, "owner")


def test_two_admins_demoting_each_other_at_once_leave_one(store: Store) -> None:
    a, b = person(store, "ka"), person(store, "kb")
    store.set_role(a.id, "admin")
    store.set_role(b.id, "admin")
    barrier = threading.Barrier(2)

    def demote(user_id: int) -> RoleOutcome:
        barrier.wait()
        return store.set_role(user_id, "member")

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(demote, [a.id, b.id]))
    assert outcomes == sorted([RoleOutcome.OK, RoleOutcome.LAST_ADMIN])
    assert len(store.list_admins()) == 1


def test_admin_code_failures(store: Store) -> None:
    for minutes in (0, 10, 50):
        store.record_admin_code_failure("k1", NOW + timedelta(minutes=minutes))
    store.record_admin_code_failure("k2", NOW)
    assert store.count_admin_code_failures("k1", NOW)[0] == 3
    assert store.count_admin_code_failures("k1", NOW + timedelta(minutes=5))[0] == 2
    assert store.count_admin_code_failures("k1", NOW + timedelta(hours=1)) == (0, 0)
    assert store.count_admin_code_failures("k3", NOW) == (0, 4)
    assert store.count_admin_code_failures("k2", NOW + timedelta(minutes=5)) == (0, 2)


# --- conversation state -------------------------------------------------------------------------
def test_session_optimistic_concurrency(store: Store) -> None:
    state: dict[str, object] = {"flow": "answer", "answers": [1, [0, 2], "메모"]}
    assert store.save_session("k1", state, None, LATER, NOW)
    assert not store.save_session("k1", {"other": 1}, None, LATER, NOW)  # a twin got there first
    _, session = store.load_context("k1", NOW)
    assert session is not None and (session.state, session.version) == (state, 1)
    assert session.expires_at == LATER and session.expires_at.tzinfo is not None

    assert store.save_session("k1", {"step": 2}, 1, LATER, NOW)
    assert not store.save_session("k1", {"step": 3}, 1, LATER, NOW)  # stale version
    assert not store.save_session("k9", {"step": 1}, 1, LATER, NOW)  # nothing to update
    _, session = store.load_context("k1", NOW)
    assert session is not None and (session.state, session.version) == ({"step": 2}, 2)

    # An expired session is invisible and may be replaced as if there were none.
    after = LATER + timedelta(seconds=1)
    assert store.load_context("k1", LATER) == (None, None)
    assert store.save_session("k1", {"fresh": True}, None, after + timedelta(hours=1), after)
    _, session = store.load_context("k1", after)
    assert session is not None and session.state == {"fresh": True} and session.version == 3

    store.clear_session("k1")
    assert store.load_context("k1", after) == (None, None)
    store.clear_session("k1")  # nothing to clear is fine


def test_load_context_joins_user_and_session(store: Store) -> None:
    user = person(store, "k1")
    store.save_session("k1", {"a": 1}, None, LATER, NOW)
    found, session = store.load_context("k1", NOW)
    assert found == user and session is not None and session.state == {"a": 1}


# --- surveys ------------------------------------------------------------------------------------
def test_create_is_idempotent_and_round_trips(store: Store) -> None:
    author = person(store, "author")
    deadline = NOW + timedelta(days=2)
    draft = SurveyDraft("Title", QUESTIONS, "Some words", deadline, anonymous=True)
    first = store.create_survey(draft, author.id, "draft-1", NOW)
    assert store.create_survey(draft, author.id, "draft-1", LATER) == first
    assert count(store, "surveys") == 1
    assert (first.title, first.description, first.questions) == ("Title", "Some words", QUESTIONS)
    assert (first.deadline, first.anonymous, first.closed_at, first.created_at) == (
        deadline,
        True,
        None,
        NOW,
    )
    assert first.deadline is not None and first.deadline.tzinfo is not None
    assert store.get_survey(first.id) == first
    assert store.get_survey(first.id + 100) is None

    second = store.create_survey(SurveyDraft("T2", QUESTIONS[:1]), author.id, "draft-2", NOW)
    assert second.id > first.id and second.deadline is None and not second.anonymous
    assert store.delete_survey(second.id)
    assert not store.delete_survey(second.id)
    third = store.create_survey(SurveyDraft("T3", QUESTIONS[:1]), author.id, "draft-3", NOW)
    assert third.id > second.id  # a deleted number is never handed out again


def test_listings_newest_first_with_answered_and_admin_counts(store: Store) -> None:
    me, other = person(store, "me"), person(store, "other")
    old = publish(store, "d1", by=me)
    expired = publish(store, "d2", deadline=NOW - timedelta(minutes=1), by=me)
    closed = publish(store, "d3", by=me)
    new = publish(store, "d4", deadline=LATER, by=me)
    store.close_survey(closed, NOW)
    store.submit_response(old, me, f"u:{me.id}", (0, [1], ""), NOW)
    store.submit_response(old, other, f"u:{other.id}", (1, [0], "x"), NOW)
    store.submit_response(new, other, f"u:{other.id}", (1, [0], "x"), NOW)

    listed = [
        (lst.survey.id, lst.response_count, lst.answered)
        for lst in store.list_open_surveys(me.id, NOW)
    ]
    # Members see no counts, so the open list does not pay for them.
    assert listed == [(new, 0, False), (old, 0, True)]
    everything = [(lst.survey.id, lst.response_count) for lst in store.list_surveys()]
    assert everything == [(new, 1), (closed, 0), (expired, 0), (old, 2)]
    assert [lst.survey.id for lst in store.list_open_surveys(me.id, LATER)] == [old]


def test_close_and_reopen(store: Store) -> None:
    sid = publish(store)
    assert store.close_survey(sid, NOW) is WriteOutcome.OK
    survey = store.get_survey(sid)
    assert survey is not None and survey.closed_at == NOW and not survey.is_open(NOW)
    assert store.close_survey(sid, LATER) is WriteOutcome.CLOSED
    assert store.get_survey(sid) == survey  # nothing changed
    assert store.close_survey(sid + 1, NOW) is WriteOutcome.MISSING
    assert store.reopen_survey(sid, NOW) is WriteOutcome.OK
    assert store.reopen_survey(sid, NOW) is WriteOutcome.CLOSED  # it was open already
    assert store.reopen_survey(sid + 1, NOW) is WriteOutcome.MISSING

    future = NOW + timedelta(days=1)
    timed = publish(store, "d2", deadline=future)
    store.close_survey(timed, NOW)
    store.reopen_survey(timed, NOW)
    reopened = store.get_survey(timed)
    assert reopened is not None and reopened.deadline == future and reopened.is_open(NOW)

    past = publish(store, "d3", deadline=NOW - timedelta(hours=1))
    assert store.close_survey(past, NOW) is WriteOutcome.CLOSED  # its deadline closed it
    assert store.reopen_survey(past, NOW) is WriteOutcome.OK
    again = store.get_survey(past)
    assert again is not None and again.deadline is None and again.closed_at is None


# --- responses ----------------------------------------------------------------------------------
def test_submit_saves_replaces_and_ends_the_session(store: Store) -> None:
    me = person(store, "me")
    sid = publish(store)
    store.save_session("me", {"flow": "answer"}, None, LATER, NOW)
    assert store.submit_response(sid, me, "u:me", (0, [1, 3], "hello"), NOW) is WriteOutcome.OK
    assert store.load_context("me", NOW)[1] is None
    stored = store.get_response(sid, "u:me")
    assert stored is not None and stored.answers == (0, [1, 3], "hello")
    assert stored.submitted_at == NOW

    assert store.submit_response(sid, me, "u:me", (2, [0], ""), LATER) is WriteOutcome.OK
    stored = store.get_response(sid, "u:me")
    assert stored is not None and stored.answers == (2, [0], "") and stored.submitted_at == LATER
    assert count(store, "responses") == 1 and count(store, "participants") == 1
    assert store.get_response(sid, "u:other") is None


def test_refused_submit_and_withdraw_change_nothing(store: Store) -> None:
    me = person(store, "me")
    sid = publish(store)
    store.submit_response(sid, me, "u:me", (0, [0], "first"), NOW)
    store.close_survey(sid, NOW)
    store.save_session("me", {"flow": "answer"}, None, LATER, NOW)
    assert store.submit_response(sid, me, "u:me", (1, [0], "second"), NOW) is WriteOutcome.CLOSED
    assert store.withdraw_response(sid, me, "u:me", NOW) is WriteOutcome.CLOSED
    stored = store.get_response(sid, "u:me")
    assert stored is not None and stored.answers == (0, [0], "first")
    assert store.load_context("me", NOW)[1] is not None  # the session was not ended

    late = publish(store, "d2", deadline=NOW)
    assert store.submit_response(late, me, "u:me", (0, [0], ""), NOW) is WriteOutcome.CLOSED
    assert store.withdraw_response(late, me, "u:me", NOW) is WriteOutcome.CLOSED
    assert store.submit_response(999, me, "u:me", (0, [0], ""), NOW) is WriteOutcome.MISSING
    assert store.withdraw_response(999, me, "u:me", NOW) is WriteOutcome.MISSING
    assert count(store, "responses") == 1 and count(store, "participants") == 1


def test_withdraw(store: Store) -> None:
    me = person(store, "me")
    sid = publish(store)
    store.submit_response(sid, me, "u:me", (0, [0], ""), NOW)
    assert store.list_open_surveys(me.id, NOW)[0].answered
    assert store.withdraw_response(sid, me, "u:me", NOW) is WriteOutcome.OK
    assert store.withdraw_response(sid, me, "u:me", NOW) is WriteOutcome.MISSING
    assert store.get_response(sid, "u:me") is None
    assert not store.list_open_surveys(me.id, NOW)[0].answered
    assert count(store, "participants") == 0


def test_anonymous_response_keeps_no_user_or_time(store: Store) -> None:
    me = person(store, "me")
    sid = publish(store, anonymous=True)
    assert store.submit_response(sid, me, "a:hash1", (1, [0], "secret"), NOW) is WriteOutcome.OK
    stored = store.get_response(sid, "a:hash1")
    assert stored is not None and stored.answers == (1, [0], "secret")
    assert stored.submitted_at is None
    assert raw(store, "SELECT user_id, submitted_at FROM responses") == [(None, None)]
    # Participation of anonymous surveys is an unordered set on PostgreSQL (see test_anonymity).
    took_part = "participants" if isinstance(store, SqliteStore) else "took_part"
    assert raw(store, f"SELECT survey_id, user_id FROM {took_part}") == [(sid, me.id)]
    assert store.list_open_surveys(me.id, NOW)[0].answered
    assert store.pending(sid) == [PendingPerson("Author", None, None, True)]
    assert store.withdraw_response(sid, me, "a:hash1", NOW) is WriteOutcome.OK
    assert raw(store, f"SELECT survey_id, user_id FROM {took_part}") == []
    assert not store.list_open_surveys(me.id, NOW)[0].answered


def test_delete_survey_removes_responses(store: Store) -> None:
    me = person(store, "me")
    sid = publish(store)
    store.submit_response(sid, me, "u:me", (0, [0], ""), NOW)
    assert store.delete_survey(sid)
    assert count(store, "responses") == 0 and count(store, "participants") == 0
    assert store.results(sid) is None and store.pending(sid) is None


def test_results_count_every_option_and_latest_texts(store: Store) -> None:
    people = [person(store, f"k{i}") for i in range(4)]
    sid = publish(store)
    answers = [(0, [0, 1], "first"), (0, [1], ""), (2, [2], "third"), (0, [1, 3], "fourth")]
    for who, answer in zip(people, answers, strict=True):
        store.submit_response(sid, who, f"u:{who.id}", answer, NOW)
    results = store.results(sid, latest=2)
    assert results is not None
    assert (results.respondents, results.population) == (4, 5)  # 4 people + the author
    assert results.counts == {0: {0: 3, 1: 0, 2: 1}, 1: {0: 1, 1: 3, 2: 1, 3: 1}}
    assert results.text_counts == {2: 3}
    assert results.latest_texts == {2: ["fourth", "third"]}
    assert results.survey.id == sid
    assert store.results(sid + 1) is None


def test_results_of_a_survey_without_responses(store: Store) -> None:
    sid = publish(store)
    store.import_roster([RosterEntry("A"), RosterEntry("B")])
    results = store.results(sid)
    assert results is not None
    assert (results.respondents, results.population) == (0, 2)  # the roster is the population
    assert results.counts == {0: {0: 0, 1: 0, 2: 0}, 1: {0: 0, 1: 0, 2: 0, 3: 0}}
    assert (results.text_counts, results.latest_texts) == ({2: 0}, {2: []})


def test_pending_without_roster(store: Store) -> None:
    author = person(store, "author", "Zed")
    anna, bob = person(store, "a", "Anna"), person(store, "b", "Bob")
    sid = publish(store, anonymous=True, by=author)
    store.submit_response(sid, bob, "a:x", (0, [0], ""), NOW)
    assert store.pending(sid) == [
        PendingPerson("Anna", None, None, True),
        PendingPerson("Zed", None, None, True),
    ]
    assert anna.id != bob.id
    assert store.pending(sid + 1) is None


def test_pending_with_roster(store: Store) -> None:
    store.import_roster(
        [RosterEntry("Cho", "3", "C"), RosterEntry("Ahn", "1", "A"), RosterEntry("Baek", None, "B")]
    )
    ahn = store.register("ka", "Ahn", "1").user
    baek = store.register("kb", "Baek", None).user
    assert ahn is not None and baek is not None
    sid = publish(store, by=ahn)
    store.submit_response(sid, ahn, f"u:{ahn.id}", (0, [0], ""), NOW)
    assert store.pending(sid) == [
        PendingPerson("Baek", None, "B", True),
        PendingPerson("Cho", "3", "C", False),
    ]


def test_export_named_in_order_of_submission(store: Store) -> None:
    # Registered before there was a roster: exported with the user's own fields.
    plain = store.register("kp", "Plain", "55").user
    store.import_roster([RosterEntry("Roster Kim", "7", "Sales")])
    kim = store.register("kk", "Roster Kim", "7").user
    assert plain is not None and kim is not None
    sid = publish(store, by=kim)
    store.submit_response(sid, kim, "u:kim", (1, [0], "late"), LATER)
    store.submit_response(sid, plain, "u:plain", (0, [0], ""), NOW)
    with store.export_rows(sid) as rows:
        exported = list(rows)
    assert [(r.name, r.member_no, r.department, r.submitted_at) for r in exported] == [
        ("Plain", "55", None, NOW),
        ("Roster Kim", "7", "Sales", LATER),
    ]
    assert exported[1].answers == (1, [0], "late")
    with store.export_rows(sid + 1) as rows:
        assert list(rows) == []


def test_export_anonymous_hides_identity_and_time(store: Store) -> None:
    people = [person(store, f"k{i}") for i in range(3)]
    sid = publish(store, anonymous=True)
    for who, key in zip(people, ["a:c", "a:a", "a:b"], strict=True):
        store.submit_response(sid, who, key, (who.id % 3, [0], key), NOW)
    with store.export_rows(sid) as rows:
        exported = list(rows)
    assert [r.answers[2] for r in exported] == ["a:a", "a:b", "a:c"]  # by respondent hash
    assert all(r.name is r.member_no is r.department is r.submitted_at is None for r in exported)


def test_export_streams_many_rows(store: Store) -> None:
    people = [person(store, f"k{i}") for i in range(700)]
    sid = publish(store)
    for i, who in enumerate(people):
        store.submit_response(sid, who, f"u:{who.id}", (i % 3, [0], ""), NOW + timedelta(seconds=i))
    seen = 0
    with store.export_rows(sid) as rows:
        for i, row in enumerate(rows):
            assert row.submitted_at == NOW + timedelta(seconds=i)
            # The store stays usable while an export is being read.
            if i == 350:
                assert store.get_survey(sid) is not None
            seen += 1
    assert seen == 700


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
        assert store.load_context("k", NOW) == (None, None)  # WAL: readers still read
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
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        # As after a server restart: a request may fail on a dead connection, then it recovers.
        deadline = time.monotonic() + 5
        failures = 0
        while True:
            try:
                store.ping()
                break
            except StoreUnavailable:
                failures += 1
                assert time.monotonic() < deadline, "the store did not recover"
                time.sleep(0.05)
        assert failures <= 2
        assert store.list_surveys() == []
    finally:
        store.close()
