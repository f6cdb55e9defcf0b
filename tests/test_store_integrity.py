"""The store itself refuses what cannot be right, on both backends: answers that do not fit their
questions, a roster claim moved to another entry, over-long names. And what it keeps stays true:
a renamed person's earlier answers keep the name they were given under."""

from __future__ import annotations

import sqlite3
from typing import Any

import psycopg
import pytest

from support.store_helpers import NOW, count, person, publish, raw
from surveybot.domain import RosterEntry
from surveybot.store.base import (
    InvalidAnswers,
    RegisterOutcome,
    ReleaseOutcome,
    ReleaseResult,
    Store,
    WriteOutcome,
)

# The survey of test_store_contract: single (3 options), multi (4 options), free text.
VALID = [(0, [1], ""), (2, [0, 3], "x" * 500), (1, [3, 0, 2, 1], "가나다")]
INVALID = [
    (True, [1], ""),  # a forged `true` is not option 1
    (3, [1], ""),  # out of range
    (-1, [1], ""),
    (0.0, [1], ""),  # not a whole number in JSON
    ("0", [1], ""),
    (0, [], ""),  # a choice question must be answered
    (0, [1, 1], ""),  # the same option twice
    (0, [4], ""),
    (0, [True], ""),
    (0, 1, ""),  # multi needs a list
    (0, [1], 1),  # text needs a string
    (0, [1], "x" * 501),  # over the free-text limit
    (0, [1]),  # one answer missing
    (0, [1], "", ""),  # one answer too many
    (None, [1], ""),
]

DB_ERRORS = (sqlite3.IntegrityError, psycopg.errors.CheckViolation, psycopg.errors.RaiseException)


def test_valid_answers_are_stored(store: Store) -> None:
    me = person(store, "me")
    sid = publish(store)
    for answers in VALID:
        assert store.submit_response(sid, me, "u:me", answers, NOW) is WriteOutcome.OK
        stored = store.get_response(sid, "u:me")
        assert stored is not None and list(stored.answers) == list(answers)


@pytest.mark.parametrize("answers", INVALID, ids=repr)
def test_the_store_refuses_answers_that_do_not_fit(store: Store, answers: Any) -> None:
    me = person(store, "me")
    sid = publish(store)
    with pytest.raises(InvalidAnswers):
        store.submit_response(sid, me, "u:me", answers, NOW)
    # A refused write changes nothing: no response, no participation, the session is kept.
    assert count(store, "responses") == 0
    assert not store.list_open_surveys(me.id, NOW)[0].answered


def test_the_database_refuses_a_bad_answer_written_beside_the_bot(store: Store) -> None:
    """Defence in depth: even SQL that bypasses the bot cannot store an answer that cannot be."""
    me = person(store, "me")
    sid = publish(store)
    store.submit_response(sid, me, "u:me", (0, [1], "ok"), NOW)
    insert = "INSERT INTO responses (survey_id, respondent, answers) VALUES (?, ?, ?)"
    with pytest.raises(DB_ERRORS):
        raw(store, insert, sid, "u:forged", "[true, [1], \"\"]")
    with pytest.raises(DB_ERRORS):
        raw(store, "UPDATE responses SET answers = ? WHERE respondent = ?", "[0, [9], \"\"]", "u:me")
    stored = store.get_response(sid, "u:me")
    assert stored is not None and stored.answers == (0, [1], "ok")
    assert count(store, "responses") == 1


def test_a_claim_stays_until_an_admin_releases_it(store: Store) -> None:
    store.import_roster([RosterEntry("Kim", "1", "Sales"), RosterEntry("Kim", "2", "Ops")])
    first = store.register("k1", "Kim", "1").user
    assert first is not None and first.roster_id is not None
    assert store.register("k1", "Kim", "2").outcome is RegisterOutcome.HAS_CLAIM
    # The database refuses a claim moved by hand, too.
    other = raw(store, "SELECT id FROM roster WHERE id <> ?", first.roster_id)[0][0]
    with pytest.raises(DB_ERRORS):
        raw(store, "UPDATE users SET roster_id = ? WHERE user_key = ?", other, "k1")
    sid = publish(store, by=first)
    store.submit_response(sid, first, f"u:{first.id}", (0, [0], "mine"), NOW)

    assert store.release_claim("Kim", None) == ReleaseResult(ReleaseOutcome.NUMBER_REQUIRED)
    assert store.release_claim("Kim", "2") == ReleaseResult(ReleaseOutcome.NOT_CLAIMED)
    assert store.release_claim("Lee", None) == ReleaseResult(ReleaseOutcome.NOT_ON_ROSTER)
    assert store.release_claim("Kim", "1") == ReleaseResult(ReleaseOutcome.OK, "k1")
    assert store.release_claim("Kim", "1") == ReleaseResult(ReleaseOutcome.NOT_CLAIMED)

    # The real Kim 1 claims the entry; the answers given by k1 stay k1's.
    real = store.register("k9", "Kim", "1").user
    assert real is not None and real.roster_id == first.roster_id
    with store.export_rows(sid) as rows:
        exported = [(r.name, r.member_no, r.answers) for r in rows]
    assert exported == [("Kim", "1", (0, [0], "mine"))]
    assert store.get_response(sid, f"u:{real.id}") is None
    # k1 may now claim the entry that is really theirs.
    moved = store.register("k1", "Kim", "2").user
    assert moved is not None and moved.id == first.id and moved.member_no == "2"


def test_a_rename_does_not_relabel_answers_already_given(store: Store) -> None:
    old = store.register("k1", "Park", "10").user
    assert old is not None
    sid = publish(store)
    store.submit_response(sid, old, f"u:{old.id}", (0, [0], ""), NOW)
    new = store.register("k1", "Choi", "11").user
    assert new is not None and new.id == old.id
    with store.export_rows(sid) as rows:
        assert [(r.name, r.member_no) for r in rows] == [("Park", "10")]
    # Answering again after the rename gives the answer under the new name.
    store.submit_response(sid, new, f"u:{new.id}", (1, [0], ""), NOW)
    with store.export_rows(sid) as rows:
        assert [(r.name, r.member_no) for r in rows] == [("Choi", "11")]


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO roster (name) VALUES ('" + "가" * 31 + "')",
        "INSERT INTO roster (name, department) VALUES ('Kim', '" + "부" * 51 + "')",
        "INSERT INTO roster (name, member_no) VALUES ('Kim', '" + "1" * 31 + "')",
        "UPDATE users SET name = '" + "x" * 31 + "'",
        # A sealed row's plaintext name is '' (issue 13): unsealing it leaves an empty name.
        "UPDATE users SET sealed = NULL",
    ],
)
def test_the_database_refuses_over_long_names(store: Store, statement: str) -> None:
    person(store, "k1", "Short")
    errors = (sqlite3.IntegrityError, psycopg.errors.CheckViolation, psycopg.errors.RaiseException)
    with pytest.raises(errors):
        raw(store, statement)
    assert count(store, "roster") == 0
    assert [user.name for user in store.find_users("k1")] == ["Short"]
