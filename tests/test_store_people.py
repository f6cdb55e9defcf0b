"""The Store contract on both backends: people, roster, roles, conversation state."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from support.store_helpers import LATER, NOW, count, person
from surveybot.domain import (
    Role,
    RosterEntry,
)
from surveybot.store.base import (
    RegisterOutcome,
    RoleOutcome,
    RosterImportResult,
    Store,
)


# --- people -------------------------------------------------------------------------------------
def test_unknown_person_has_no_context(store: Store) -> None:
    assert store.load_context("nobody", NOW)[:2] == (None, None)
    assert store.get_user(12345) is None


def test_register_without_roster_creates_then_renames(store: Store) -> None:
    first = store.register("k1", "Kim", None)
    assert first.outcome is RegisterOutcome.OK and first.user is not None
    assert (first.user.name, first.user.role, first.user.member_no) == ("Kim", Role.MEMBER, None)
    again = store.register("k1", "Kim Minsu", "77")
    assert again.user is not None
    assert again.user.id == first.user.id
    assert (again.user.name, again.user.member_no) == ("Kim Minsu", "77")
    user, session, _ = store.load_context("k1", NOW)
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
    user, _, _ = store.load_context("k2", NOW)
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
    user, _, _ = store.load_context("kb", NOW)
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
    _, session, _ = store.load_context("k1", NOW)
    assert session is not None and (session.state, session.version) == (state, 1)
    assert session.expires_at == LATER and session.expires_at.tzinfo is not None

    assert store.save_session("k1", {"step": 2}, 1, LATER, NOW)
    assert not store.save_session("k1", {"step": 3}, 1, LATER, NOW)  # stale version
    assert not store.save_session("k9", {"step": 1}, 1, LATER, NOW)  # nothing to update
    _, session, _ = store.load_context("k1", NOW)
    assert session is not None and (session.state, session.version) == ({"step": 2}, 2)

    # An expired session is invisible and may be replaced as if there were none.
    after = LATER + timedelta(seconds=1)
    assert store.load_context("k1", LATER)[:2] == (None, None)
    assert store.save_session("k1", {"fresh": True}, None, after + timedelta(hours=1), after)
    _, session, _ = store.load_context("k1", after)
    assert session is not None and session.state == {"fresh": True} and session.version == 3

    store.clear_session("k1")
    assert store.load_context("k1", after)[:2] == (None, None)
    store.clear_session("k1")  # nothing to clear is fine


def test_load_context_joins_user_and_session(store: Store) -> None:
    user = person(store, "k1")
    store.save_session("k1", {"a": 1}, None, LATER, NOW)
    found, session, _ = store.load_context("k1", NOW)
    assert found == user and session is not None and session.state == {"a": 1}
