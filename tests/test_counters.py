"""The counters 결과 reads (migration 0003) always equal a recount of the stored answers.

They are kept by triggers on every write, so they are checked after what could break them:
concurrent submits, re-answers and withdrawals from many threads, a survey deleted in the middle,
and random sequences of operations (hypothesis) compared with a model. The recount here decodes
the rows in Python, independently of the SQL that keeps the counters.
"""

from __future__ import annotations

import itertools
import random
import sqlite3
import threading
from collections import Counter

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.keys import opened_answers
from support.store_helpers import NOW, QUESTIONS, count, person, publish, raw
from surveybot.domain import Answer, Results, RosterEntry, User
from surveybot.store.base import Store, WriteOutcome
from surveybot.store.postgres import PostgresStore
from surveybot.store.sqlite import SqliteStore

Cells = dict[tuple[int, int], int]


def recount(store: Store, survey_id: int) -> tuple[int, Cells]:
    """Respondents and (question, option) counts from the rows; option -1: written texts."""
    rows = raw(store, "SELECT answers, respondent FROM responses WHERE survey_id = ?", survey_id)
    cells: Counter[tuple[int, int]] = Counter()
    for stored, respondent in rows:
        answers = opened_answers(survey_id, respondent, stored)  # sealed texts opened
        for question, value in enumerate(answers):
            if isinstance(value, str):
                cells[question, -1] += value != ""
            else:
                for option in value if isinstance(value, list) else [value]:
                    cells[question, option] += 1
    return len(rows), {cell: n for cell, n in cells.items() if n}


def shown(results: Results) -> tuple[int, Cells]:
    cells = {
        (question, option): n
        for question, options in results.counts.items()
        for option, n in options.items()
        if n
    }
    cells.update({(question, -1): n for question, n in results.text_counts.items() if n})
    return results.respondents, cells


def assert_counters_match(store: Store, survey_id: int) -> None:
    results = store.results(survey_id)
    assert results is not None
    assert shown(results) == recount(store, survey_id)


def random_answers(rng: random.Random) -> tuple[Answer, ...]:
    days = sorted(rng.sample(range(4), rng.randint(1, 4)))
    return (rng.randrange(3), days, rng.choice(["", "", "note", "다른 의견"]))


def test_counters_survive_concurrent_writes(store: Store) -> None:
    people = [person(store, f"k{i}", f"P{i}") for i in range(24)]
    kept = publish(store, "kept", by=people[0])
    dropped = publish(store, "dropped", by=people[0])
    anonymous = publish(store, "anonymous", anonymous=True, by=people[0])
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(40):
                who = rng.choice(people)
                survey = rng.choice([kept, dropped, anonymous])
                key = f"a:{survey}:{who.id}" if survey == anonymous else f"u:{who.id}"
                if rng.random() < 0.25:
                    store.withdraw_response(survey, who, key, NOW)
                else:
                    store.submit_response(survey, who, key, random_answers(rng), NOW)
        except BaseException as error:  # a thread's failure must fail the test
            errors.append(error)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(6)]
    for thread in threads:
        thread.start()
    # A survey deleted while others answer it: its counters go with it, the others stay right.
    assert store.delete_survey(dropped)
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert_counters_match(store, kept)
    assert_counters_match(store, anonymous)
    assert raw(store, "SELECT count(*) FROM tallies WHERE survey_id = ?", dropped) == [(0,)]
    assert store.results(dropped) is None


def test_population_counts_people_and_roster(store: Store) -> None:
    for i in range(3):
        person(store, f"k{i}")
    person(store, "k0", "renamed")  # registering again adds nobody
    sid = publish(store, by=person(store, "k1"))
    assert_population(store, sid, 3)
    store.import_roster([RosterEntry("A", "1"), RosterEntry("B"), RosterEntry("C", None, "x")])
    store.import_roster([RosterEntry("A", "1")])  # already there
    assert_population(store, sid, 3)  # the roster now: A, B, C
    store.import_roster([RosterEntry("D")])
    assert_population(store, sid, 4)
    raw_delete(store, "DELETE FROM roster")
    assert_population(store, sid, 3)  # no roster: everyone registered


def assert_population(store: Store, survey_id: int, expected: int) -> None:
    results = store.results(survey_id)
    assert results is not None and results.population == expected
    has_roster = count(store, "roster") > 0
    assert expected == count(store, "roster" if has_roster else "users")


def raw_delete(store: Store, statement: str) -> None:
    """A write made beside the bot, as an operator might: the triggers still count it."""
    if isinstance(store, SqliteStore):
        with sqlite3.connect(store.path) as conn:
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute(statement)
        return
    assert isinstance(store, PostgresStore)
    with psycopg.connect(store.url, autocommit=True) as pg:
        pg.execute(statement)


DRAFTS = itertools.count()
# Operations: (person 0-4, kind, answer seed). kind 0-2 submit, 3 withdraw.
OPERATIONS = st.lists(
    st.tuples(st.integers(0, 4), st.integers(0, 3), st.integers(0, 10_000)), max_size=25
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(operations=OPERATIONS, anonymous=st.booleans())
def test_counters_follow_any_sequence_of_writes(
    store: Store, operations: list[tuple[int, int, int]], anonymous: bool
) -> None:
    people = [person(store, f"k{i}", f"P{i}") for i in range(5)]
    # A new survey each example (the store lives as long as the test).
    survey = publish(store, f"draft-{next(DRAFTS)}", anonymous=anonymous, by=people[0])
    model: dict[int, tuple[Answer, ...]] = {}
    for who, kind, seed in operations:
        user: User = people[who]
        key = f"a:{survey}:{who}" if anonymous else f"u:{user.id}"
        if kind == 3:
            outcome = store.withdraw_response(survey, user, key, NOW)
            assert outcome is (WriteOutcome.OK if who in model else WriteOutcome.MISSING)
            model.pop(who, None)
        else:
            answers = random_answers(random.Random(seed))
            assert store.submit_response(survey, user, key, answers, NOW) is WriteOutcome.OK
            model[who] = answers
    expected: Counter[tuple[int, int]] = Counter()
    for single, days, text in (answers_of(a) for a in model.values()):
        expected[0, single] += 1
        expected.update((1, day) for day in days)
        expected[2, -1] += text != ""
    results = store.results(survey)
    assert results is not None
    assert shown(results) == (len(model), {cell: n for cell, n in expected.items() if n})
    assert shown(results) == recount(store, survey)
    assert len(results.counts[0]) == len(QUESTIONS[0].options)


def answers_of(answers: tuple[Answer, ...]) -> tuple[int, list[int], str]:
    single, days, text = answers
    assert isinstance(single, int) and isinstance(days, list) and isinstance(text, str)
    return single, days, text


def test_a_workers_survey_copy_follows_every_change(store: Store) -> None:
    """Two workers (two stores on one database): a change by one is seen by the other at once."""
    other: Store
    if isinstance(store, SqliteStore):
        other = SqliteStore(store.path)
    else:
        assert isinstance(store, PostgresStore)
        other = PostgresStore(store.url)
    try:
        sid = publish(store)
        version = other.load_context("anyone", NOW).surveys_version
        assert version is not None
        first = other.get_survey(sid, version)
        assert first is not None and first.closed_at is None
        assert other.get_survey(sid, version) is first  # the copy, no second read
        assert store.close_survey(sid, NOW) is WriteOutcome.OK
        changed = other.load_context("anyone", NOW).surveys_version
        assert changed is not None and changed != version
        assert other.get_survey(sid, version) is first  # at the old version the copy is right
        closed = other.get_survey(sid, changed)
        assert closed is not None and closed.closed_at is not None
        assert store.delete_survey(sid)
        assert other.get_survey(sid, other.load_context("anyone", NOW).surveys_version) is None
    finally:
        other.close()
