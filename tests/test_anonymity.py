"""Anonymous answers cannot be re-linked to people from what the database rows carry.

The attack (issue 7): a backup reader takes the participant rows and the anonymous responses and
matches them by transaction id (xmin), by physical position (ctid, rowid) or by id order. Who took
part must be known (미응답 stays live), so the defence is that participation of an anonymous
survey carries no order of its own.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from support.store_helpers import NOW, person, publish, raw
from surveybot.store.base import Store

# Submission order deliberately unlike registration (id) order.
ORDER = [3, 0, 5, 1, 4, 2]


def answer_in_order(store: Store) -> tuple[int, list[int]]:
    people = [person(store, f"k{i}", f"Person {i}") for i in range(6)]
    sid = publish(store, anonymous=True, by=people[0])
    for i in ORDER:
        who = people[i]
        store.submit_response(sid, who, f"a:{i:040d}", (i % 3, [i % 4], f"text {i}"), NOW)
    return sid, [people[i].id for i in ORDER]


def test_postgres_rows_do_not_relink_anonymous_answers(pg_store: Store) -> None:
    sid, submitted_ids = answer_in_order(pg_store)
    responses: list[Any] = raw(
        pg_store,
        "SELECT xmin::text, ctid::text, id, user_id, submitted_at, answered_as, answered_no "
        "FROM responses WHERE survey_id = ? ORDER BY id",
        sid,
    )
    assert len(responses) == len(ORDER)
    # Nothing in a response names anyone or says when.
    assert all(row[3:] == (None, None, None, None) for row in responses)
    # No row per person: such a row has its own xmin and ctid, which line up with the response's.
    assert raw(pg_store, "SELECT count(*) FROM participants WHERE survey_id = ?", sid) == [(0,)]
    sets: list[Any] = raw(
        pg_store,
        "SELECT xmin::text, user_ids FROM anonymous_participation WHERE survey_id = ?",
        sid,
    )
    # One row holding the set, in id order: nothing in it says who came when.
    assert [ids for _, ids in sets] == [sorted(submitted_ids)]
    # Matching on the transaction: any participation row written with a response names everyone.
    response_xmins = {row[0] for row in responses}
    for xmin, ids in sets:
        if xmin in response_xmins:
            assert sorted(ids) == sorted(submitted_ids)
    # Participation is still live for 미응답 and 설문목록.
    took_part = raw(pg_store, "SELECT user_id FROM took_part WHERE survey_id = ?", sid)
    assert sorted(row[0] for row in took_part) == sorted(submitted_ids)


def test_sqlite_participation_is_stored_in_key_order(sqlite_store: Store) -> None:
    sid, submitted_ids = answer_in_order(sqlite_store)
    assert isinstance(sqlite_store.path, str)  # type: ignore[attr-defined]
    rows = raw(sqlite_store, "SELECT user_id FROM participants WHERE survey_id = ?", sid)
    # Stored in the order of its key, whatever the order of writing.
    assert [row[0] for row in rows] == sorted(submitted_ids) != submitted_ids
    conn = sqlite3.connect(sqlite_store.path)  # type: ignore[attr-defined]
    try:
        # WITHOUT ROWID: no insertion counter to sort by.
        try:
            conn.execute("SELECT rowid FROM participants").fetchall()
        except sqlite3.OperationalError as error:
            assert "rowid" in str(error)
        else:
            raise AssertionError("participants has a rowid")
        full_scan = conn.execute("SELECT user_id FROM participants NOT INDEXED").fetchall()
        assert [row[0] for row in full_scan] == sorted(submitted_ids)
        # The responses themselves carry no identity.
        named = conn.execute(
            "SELECT count(*) FROM responses WHERE user_id IS NOT NULL OR submitted_at IS NOT NULL "
            "OR answered_as IS NOT NULL"
        ).fetchone()
        assert named == (0,)
    finally:
        conn.close()
