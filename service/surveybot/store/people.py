"""People and the roster on SQL: registering, roles, admin-code failures, roster claims.

Mixed into SqlStore (sql.py), which gives it the dialect; the same rules as there: each method is
one statement or one short transaction that checks its preconditions itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from surveybot import audit
from surveybot.audit import Action, Actor, Event, Target
from surveybot.domain import RosterEntry, RosterStatus, User, utcnow
from surveybot.store import queries as q
from surveybot.store.audit_sql import append
from surveybot.store.base import (
    RegisterOutcome,
    RegisterResult,
    ReleaseOutcome,
    ReleaseResult,
    RoleOutcome,
    RosterImportResult,
)
from surveybot.store.dialect import Dialect, Params, Tx
from surveybot.store.rows import (
    RosterCandidate,
    check_role,
    choose_release,
    choose_roster_entry,
    user_from_row,
)


class PeopleStore:
    """The people part of the Store contract; `_d` is set by SqlStore."""

    _d: Dialect

    def _one(self, sql: str, params: Params | None = None) -> Any:
        with self._d.statement() as tx:
            return tx.one(sql, params)

    def _all(self, sql: str, params: Params | None = None) -> list[Any]:
        with self._d.statement() as tx:
            return tx.all(sql, params)

    def register(self, user_key: str, name: str, member_no: str | None) -> RegisterResult:
        params: Params = {"user_key": user_key, "now": self._d.time(utcnow())}
        try:
            with self._d.transaction(write=True) as tx:
                if not tx.one(q.ROSTER_EXISTS)[0]:
                    tx.run(q.UPSERT_USER, {**params, "name": name, "member_no": member_no})
                else:
                    outcome = self._claim(tx, params, name, member_no)
                    if outcome is not RegisterOutcome.OK:
                        return RegisterResult(outcome)
                row = tx.one(q.USER_BY_KEY, params)
        except Exception as error:
            if self._d.is_unique_violation(error):
                return RegisterResult(RegisterOutcome.CLAIMED)  # claimed in between by another
            raise
        return RegisterResult(RegisterOutcome.OK, user_from_row(row))

    def _claim(self, tx: Tx, params: Params, name: str, member_no: str | None) -> RegisterOutcome:
        self._d.lock_roster_name(tx, name)
        # A statement after the lock: it sees any claim committed while we waited.
        rows = tx.all(q.ROSTER_CANDIDATES, {"name": name})
        claim = tx.one(q.USER_CLAIM, params)
        outcome, entry = choose_roster_entry(
            [RosterCandidate(*row) for row in rows],
            member_no,
            params["user_key"],
            None if claim is None else claim[0],
        )
        if entry is None:
            return outcome
        claiming = {
            "name": entry.name,
            "member_no": entry.member_no,
            "department": entry.department,
            "roster_id": entry.id,
        }
        tx.run(q.UPSERT_CLAIMING_USER, {**params, **claiming})
        return RegisterOutcome.OK

    def get_user(self, user_id: int) -> User | None:
        row = self._one(q.USER_BY_ID, {"user_id": user_id})
        return None if row is None else user_from_row(row)

    def find_users(self, name_or_key: str) -> list[User]:
        return [user_from_row(r) for r in self._all(q.FIND_USERS, {"text": name_or_key})]

    def list_admins(self) -> list[User]:
        return [user_from_row(r) for r in self._all(q.LIST_ADMINS)]

    def set_role(self, user_id: int, role: str, actor: Actor = audit.SYSTEM) -> RoleOutcome:
        wanted = check_role(role)
        with self._d.transaction(write=True) as tx:
            current = {int(r[0]): r[1] for r in tx.all(self._d.sql.role_rows, {"user_id": user_id})}
            if user_id not in current:
                return RoleOutcome.MISSING
            if current[user_id] == wanted:
                return RoleOutcome.UNCHANGED
            admins = sum(1 for r in current.values() if r == "admin")
            if current[user_id] == "admin" and admins <= 1:
                return RoleOutcome.LAST_ADMIN
            now = utcnow()
            params = {"role": wanted.value, "now": self._d.time(now), "user_id": user_id}
            tx.run(q.SET_ROLE, params)
            action = Action.GRANT if wanted.value == "admin" else Action.REVOKE
            append(self._d, tx, actor, Event(action, Target.USER, user_id, wanted.value), now)
        return RoleOutcome.OK

    def count_admin_code_failures(self, user_key: str, since: datetime) -> tuple[int, int]:
        params = {"user_key": user_key, "since": self._d.time(since)}
        mine, everyone = self._one(q.COUNT_FAILURES, params)
        return int(mine), int(everyone)

    def record_admin_code_failure(self, user_key: str, at: datetime) -> None:
        with self._d.statement() as tx:
            tx.run(q.RECORD_FAILURE, {"user_key": user_key, "at": self._d.time(at)})

    # --- roster -------------------------------------------------------------------------------
    def import_roster(
        self, entries: list[RosterEntry], actor: Actor = audit.SYSTEM
    ) -> RosterImportResult:
        added = updated = 0
        with self._d.transaction(write=True) as tx:
            for entry in entries:
                params = {
                    "name": entry.name,
                    "member_no": entry.member_no,
                    "department": entry.department,
                }
                found = tx.one(q.ROSTER_FIND, params)
                if found is None:
                    tx.run(q.ROSTER_INSERT, params)
                    added += 1
                # A file without departments keeps the ones already known.
                elif entry.department is not None and found[1] != entry.department:
                    change = {"id": found[0], "department": entry.department}
                    tx.run(q.ROSTER_SET_DEPARTMENT, change)
                    updated += 1
            counts = f"entries={len(entries)} added={added} updated={updated}"
            append(self._d, tx, actor, Event(Action.ROSTER_IMPORT, Target.ROSTER, None, counts),
                   utcnow())
        return RosterImportResult(added=added, updated=updated)

    def list_roster(self) -> list[tuple[RosterEntry, str | None]]:
        return [(RosterEntry(r[0], r[1], r[2]), r[3]) for r in self._all(q.ROSTER_LIST)]

    def roster_status(self) -> RosterStatus:
        roster = self.list_roster()
        unregistered = [entry for entry, key in roster if key is None]
        return RosterStatus(len(roster), len(roster) - len(unregistered), unregistered)

    def release_claim(
        self, name: str, member_no: str | None, actor: Actor = audit.SYSTEM
    ) -> ReleaseResult:
        rows = self._all(q.ROSTER_CANDIDATES, {"name": name})
        outcome, entry = choose_release([RosterCandidate(*row) for row in rows], member_no)
        if entry is None:
            return ReleaseResult(outcome)
        now = utcnow()
        params = {"roster_id": entry.id, "now": self._d.time(now)}
        with self._d.transaction(write=True) as tx:
            released = tx.one(q.RELEASE_CLAIM, params)
            if released is None:  # released by another admin in between: the same end state
                return ReleaseResult(ReleaseOutcome.NOT_CLAIMED)
            freed = Event(Action.ROSTER_RELEASE, Target.ROSTER, entry.id)
            append(self._d, tx, actor, freed, now)
        return ReleaseResult(ReleaseOutcome.OK, released[0])
