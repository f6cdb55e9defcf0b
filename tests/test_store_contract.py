"""The Store contract on both backends: surveys, responses, results, pending, exports."""

from __future__ import annotations

from datetime import timedelta

from support.store_helpers import LATER, NOW, QUESTIONS, count, person, publish, raw
from surveybot.domain import (
    PendingPerson,
    RosterEntry,
    SurveyDraft,
)
from surveybot.store.base import (
    Store,
    WriteOutcome,
)
from surveybot.store.sqlite import SqliteStore


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
    assert pending_people(store, sid) == [PendingPerson("Author", None, None, True)]
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
    assert count(store, "tallies") == 0


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


def pending_people(store: Store, survey_id: int) -> list[PendingPerson]:
    page = store.pending(survey_id)
    assert page is not None and page.survey.id == survey_id
    return page.people


def test_pending_pages_in_name_order(store: Store) -> None:
    people = [person(store, f"k{i}", f"P{i:02d}") for i in range(12)]
    sid = publish(store, by=people[0])
    for who in people[::3]:
        store.submit_response(sid, who, f"u:{who.id}", (0, [0], ""), NOW)
    waiting = [p.name for p in people if p not in people[::3]]
    pages, after = [], None
    for _ in range(4):
        page = store.pending(sid, after=after, limit=3)
        assert page is not None and (page.respondents, page.population) == (4, 12)
        pages.append([p.name for p in page.people])
        after = page.after
        if after is None:
            break
    assert pages == [waiting[0:3], waiting[3:6], waiting[6:8]]


def test_pending_looks_at_a_bounded_number_of_people(sqlite_store: Store) -> None:
    """Nearly everyone answered: each page looks at `scan` people and says where it stopped."""
    assert isinstance(sqlite_store, SqliteStore)
    people = [person(sqlite_store, f"k{i}", f"P{i:02d}") for i in range(10)]
    sid = publish(sqlite_store, by=people[0])
    for who in people[:9]:
        sqlite_store.submit_response(sid, who, f"u:{who.id}", (0, [0], ""), NOW)
    seen, after, pages = [], None, 0
    while True:
        page = sqlite_store.pending(sid, after=after, limit=20, scan=4)
        assert page is not None
        seen += [p.name for p in page.people]
        pages += 1
        after = page.after
        if after is None:
            break
    assert seen == ["P09"] and pages == 3  # 10 people, 4 a page


def test_pending_without_roster(store: Store) -> None:
    author = person(store, "author", "Zed")
    anna, bob = person(store, "a", "Anna"), person(store, "b", "Bob")
    sid = publish(store, anonymous=True, by=author)
    store.submit_response(sid, bob, "a:x", (0, [0], ""), NOW)
    assert pending_people(store, sid) == [
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
    assert pending_people(store, sid) == [
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
