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
from surveybot.store.sealing import Sealing


class PeopleStore:
    """The people part of the Store contract; `_d` is set by SqlStore."""

    _d: Dialect
    _seal: Sealing

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
                    person = self._seal.user_columns(user_key, name, member_no, None)
                    tx.run(q.UPSERT_USER, {**params, **person})
                else:
                    outcome = self._claim(tx, params, name, member_no)
                    if outcome is not RegisterOutcome.OK:
                        return RegisterResult(outcome)
                row = tx.one(q.USER_BY_KEY, params)
        except Exception as error:
            if self._d.is_unique_violation(error):
                return RegisterResult(RegisterOutcome.CLAIMED)  # claimed in between by another
            raise
        return RegisterResult(RegisterOutcome.OK, user_from_row(row, self._seal))

    def _claim(self, tx: Tx, params: Params, name: str, member_no: str | None) -> RegisterOutcome:
        named = {"name": name, "name_idx": self._seal.name_idx(name)}
        self._d.lock_roster_name(tx, named)
        # A statement after the lock: it sees any claim committed while we waited.
        rows = tx.all(q.ROSTER_CANDIDATES, named)
        claim = tx.one(q.USER_CLAIM, params)
        outcome, entry = choose_roster_entry(
            self._candidates(rows),
            member_no,
            params["user_key"],
            None if claim is None else claim[0],
        )
        if entry is None:
            return outcome
        person = self._seal.user_columns(
            params["user_key"], entry.name, entry.member_no, entry.department
        )
        tx.run(q.UPSERT_CLAIMING_USER, {**params, **person, "roster_id": entry.id})
        return RegisterOutcome.OK

    def _candidates(self, rows: list[Any]) -> list[RosterCandidate]:
        """Roster rows (queries.ROSTER_ROW) opened, in the order read."""
        return [
            RosterCandidate(int(r[0]), *self._seal.open_roster(r[3], r[2], r[4:7]), r[1])
            for r in rows
        ]

    def _users(self, rows: list[Any]) -> list[User]:
        """Users in name order: sealed names can only be sorted once opened."""
        people = [user_from_row(r, self._seal) for r in rows]
        return sorted(people, key=lambda user: (user.name, user.id))

    def get_user(self, user_id: int) -> User | None:
        row = self._one(q.USER_BY_ID, {"user_id": user_id})
        return None if row is None else user_from_row(row, self._seal)

    def find_users(self, name_or_key: str) -> list[User]:
        found = {"text": name_or_key, "name_idx": self._seal.name_idx(name_or_key)}
        return self._users(self._all(q.FIND_USERS, found))

    def list_admins(self) -> list[User]:
        return self._users(self._all(q.LIST_ADMINS))

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
                person = self._seal.roster_columns(entry.name, entry.member_no, entry.department)
                lookup = {"name": entry.name, "member_no": entry.member_no, **person}
                found = self._candidates(tx.all(q.ROSTER_FIND, lookup))
                if not found:
                    tx.run(q.ROSTER_INSERT, person)
                    added += 1
                # A file without departments keeps the ones already known.
                elif entry.department is not None and found[0].department != entry.department:
                    tx.run(q.ROSTER_REWRITE, {**person, "id": found[0].id})
                    updated += 1
            counts = f"entries={len(entries)} added={added} updated={updated}"
            append(
                self._d,
                tx,
                actor,
                Event(Action.ROSTER_IMPORT, Target.ROSTER, None, counts),
                utcnow(),
            )
        return RosterImportResult(added=added, updated=updated)

    def list_roster(self) -> list[tuple[RosterEntry, str | None]]:
        entries = self._candidates(self._all(q.ROSTER_LIST))
        entries.sort(key=lambda c: (c.name, c.member_no or "", c.id))
        return [(RosterEntry(c.name, c.member_no, c.department), c.claimed_by) for c in entries]

    def roster_status(self) -> RosterStatus:
        roster = self.list_roster()
        unregistered = [entry for entry, key in roster if key is None]
        return RosterStatus(len(roster), len(roster) - len(unregistered), unregistered)

    def release_claim(
        self, name: str, member_no: str | None, actor: Actor = audit.SYSTEM
    ) -> ReleaseResult:
        named = {"name": name, "name_idx": self._seal.name_idx(name)}
        outcome, entry = choose_release(self._candidates(self._all(q.ROSTER_CANDIDATES, named)),
                                        member_no)  # fmt: skip
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
