"""The Store, written once for both databases; a Dialect supplies connections and what differs.

Every method is one short transaction (or one statement). Methods that change data check their
preconditions inside the same statement or transaction, so a refused action changes nothing and a
repeated one (a double-tapped button) has the effect of one.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from surveybot.domain import (
    Answer,
    ExportRow,
    Loaded,
    PendingCursor,
    PendingPage,
    PendingPerson,
    Results,
    RosterEntry,
    RosterStatus,
    Session,
    StoredResponse,
    Survey,
    SurveyDraft,
    SurveyListing,
    User,
    utcnow,
)
from surveybot.store import queries as q
from surveybot.store.base import (
    InvalidAnswers,
    RegisterOutcome,
    RegisterResult,
    ReleaseOutcome,
    ReleaseResult,
    RoleOutcome,
    RosterImportResult,
    WriteOutcome,
)
from surveybot.store.dialect import Dialect, Params, Tx
from surveybot.store.rows import (
    SURVEY_WIDTH,
    USER_WIDTH,
    RosterCandidate,
    build_results,
    check_role,
    choose_release,
    choose_roster_entry,
    decode_answers,
    encode_answers,
    questions_json,
    survey_from_values,
    user_from_row,
)

# Surveys a worker keeps, each under the version it was read at (see get_survey).
SURVEY_CACHE_SIZE = 512


# How many people one 미응답 page looks at, at most: its cost, whatever the number registered.
PENDING_SCAN = 1000


def _cursor(name: Any, number: Any, person_id: Any) -> PendingCursor:
    return str(name), str(number), int(person_id)


def _version(value: Any) -> int | None:
    """The surveys' version; None before migration 0003 (nothing is cached then)."""
    return None if value is None else int(value)


class SqlStore:
    """Store on a SQL database; see store.base.Store for the contract."""

    def __init__(self, dialect: Dialect) -> None:
        self._d = dialect
        # survey id -> (surveys' version when read, survey). Shared by the worker's threads:
        # entries are replaced whole, never changed in place.
        self._surveys: dict[int, tuple[int, Survey]] = {}

    # --- plumbing -----------------------------------------------------------------------------
    def _one(self, sql: str, params: Params | None = None) -> Any:
        with self._d.statement() as tx:
            return tx.one(sql, params)

    def _all(self, sql: str, params: Params | None = None) -> list[Any]:
        with self._d.statement() as tx:
            return tx.all(sql, params)

    def _survey(self, row: Sequence[Any]) -> Survey:
        times = [self._d.read_time(row[i]) for i in (4, 6, 7)]
        return survey_from_values(row, self._d.read_json(row[3]), times)

    def migrate(self) -> list[str]:
        return self._d.migrate()

    def ping(self) -> None:
        self._one("SELECT 1")

    def close(self) -> None:
        self._d.close()

    def pool_stats(self) -> dict[str, int]:
        return self._d.pool_stats()

    # --- people -------------------------------------------------------------------------------
    def load_context(self, user_key: str, now: datetime) -> Loaded:
        row = self._one(q.LOAD_CONTEXT, {"user_key": user_key, "now": self._d.time(now)})
        user = None if row[0] is None else user_from_row(row)
        session = None
        if row[USER_WIDTH] is not None:
            expires = self._d.read_time(row[USER_WIDTH + 2])
            assert expires is not None
            state = self._d.read_json(row[USER_WIDTH])
            session = Session(state, int(row[USER_WIDTH + 1]), expires)
        return Loaded(user, session, _version(row[USER_WIDTH + 3]))

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

    def set_role(self, user_id: int, role: str) -> RoleOutcome:
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
            params = {"role": wanted.value, "now": self._d.time(utcnow()), "user_id": user_id}
            tx.run(q.SET_ROLE, params)
        return RoleOutcome.OK

    def count_admin_code_failures(self, user_key: str, since: datetime) -> tuple[int, int]:
        params = {"user_key": user_key, "since": self._d.time(since)}
        mine, everyone = self._one(q.COUNT_FAILURES, params)
        return int(mine), int(everyone)

    def record_admin_code_failure(self, user_key: str, at: datetime) -> None:
        with self._d.statement() as tx:
            tx.run(q.RECORD_FAILURE, {"user_key": user_key, "at": self._d.time(at)})

    # --- roster -------------------------------------------------------------------------------
    def import_roster(self, entries: list[RosterEntry]) -> RosterImportResult:
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
        return RosterImportResult(added=added, updated=updated)

    def list_roster(self) -> list[tuple[RosterEntry, str | None]]:
        return [(RosterEntry(r[0], r[1], r[2]), r[3]) for r in self._all(q.ROSTER_LIST)]

    def roster_status(self) -> RosterStatus:
        roster = self.list_roster()
        unregistered = [entry for entry, key in roster if key is None]
        return RosterStatus(len(roster), len(roster) - len(unregistered), unregistered)

    def release_claim(self, name: str, member_no: str | None) -> ReleaseResult:
        rows = self._all(q.ROSTER_CANDIDATES, {"name": name})
        outcome, entry = choose_release([RosterCandidate(*row) for row in rows], member_no)
        if entry is None:
            return ReleaseResult(outcome)
        params = {"roster_id": entry.id, "now": self._d.time(utcnow())}
        released = self._one(q.RELEASE_CLAIM, params)
        if released is None:  # released by another admin in between: the same end state
            return ReleaseResult(ReleaseOutcome.NOT_CLAIMED)
        return ReleaseResult(ReleaseOutcome.OK, released[0])

    # --- conversation state -------------------------------------------------------------------
    def save_session(
        self,
        user_key: str,
        state: dict[str, object],
        expected_version: int | None,
        expires_at: datetime,
        now: datetime,
    ) -> int | None:
        params: Params = {
            "user_key": user_key,
            "state": self._d.json(state),
            "expires_at": self._d.time(expires_at),
        }
        if expected_version is None:
            row = self._one(q.SESSION_INSERT, {**params, "now": self._d.time(now)})
        else:
            row = self._one(q.SESSION_UPDATE, {**params, "expected": expected_version})
        return None if row is None else int(row[0])

    def clear_session(self, user_key: str) -> None:
        with self._d.statement() as tx:
            tx.run(q.SESSION_DELETE, {"user_key": user_key})

    # --- surveys ------------------------------------------------------------------------------
    def create_survey(
        self, draft: SurveyDraft, created_by: int, draft_key: str, now: datetime
    ) -> Survey:
        key = {"draft_key": draft_key}
        with self._d.transaction(write=True) as tx:
            # Published before (a double-tapped 확인): the same survey, and no number spent.
            row = tx.one(q.SURVEY_BY_DRAFT, key)
            if row is None:
                params = {
                    **key,
                    "title": draft.title,
                    "description": draft.description,
                    "questions": self._d.json(questions_json(draft)),
                    "deadline_at": None if draft.deadline is None else self._d.time(draft.deadline),
                    "anonymous": draft.anonymous,
                    "created_by": created_by,
                    "now": self._d.time(now),
                }
                row = tx.one(q.SURVEY_INSERT, params) or tx.one(q.SURVEY_BY_DRAFT, key)
        return self._survey(row)

    def get_survey(self, survey_id: int, seen_version: int | None = None) -> Survey | None:
        if seen_version is not None:
            cached = self._surveys.get(survey_id)
            if cached is not None and cached[0] == seen_version:
                return cached[1]
        row = self._one(q.SURVEY_GET, {"survey_id": survey_id})
        if row is None:
            return None
        survey = self._survey(row)
        version = _version(row[SURVEY_WIDTH])
        if version is not None:
            if len(self._surveys) >= SURVEY_CACHE_SIZE:
                self._surveys.clear()  # simpler than LRU; a worker rarely sees this many surveys
            self._surveys[survey_id] = (version, survey)
        return survey

    def _listings(self, sql: str, params: Params) -> list[SurveyListing]:
        return [
            SurveyListing(self._survey(r), int(r[SURVEY_WIDTH]), bool(r[SURVEY_WIDTH + 1]))
            for r in self._all(sql, params)
        ]

    def list_open_surveys(self, user_id: int, now: datetime) -> list[SurveyListing]:
        return self._listings(q.LIST_OPEN, {"user_id": user_id, "now": self._d.time(now)})

    def list_surveys(self) -> list[SurveyListing]:
        return self._listings(q.LIST_ALL, {})

    def _change_survey(self, sql: str, survey_id: int, now: datetime) -> WriteOutcome:
        params = {"survey_id": survey_id, "now": self._d.time(now)}
        with self._d.transaction(write=True) as tx:
            if tx.run(sql, params) == 1:
                return WriteOutcome.OK
            exists = tx.one(q.SURVEY_EXISTS, params)[0]
        return WriteOutcome.CLOSED if exists else WriteOutcome.MISSING

    def close_survey(self, survey_id: int, now: datetime) -> WriteOutcome:
        return self._change_survey(q.CLOSE, survey_id, now)

    def reopen_survey(self, survey_id: int, now: datetime) -> WriteOutcome:
        return self._change_survey(q.REOPEN, survey_id, now)

    def delete_survey(self, survey_id: int) -> bool:
        with self._d.statement() as tx:
            return tx.run(q.DELETE_SURVEY, {"survey_id": survey_id}) == 1

    # --- responses ----------------------------------------------------------------------------
    def submit_response(
        self,
        survey_id: int,
        user: User,
        respondent: str,
        answers: tuple[Answer, ...],
        now: datetime,
    ) -> WriteOutcome:
        params = {
            "survey_id": survey_id,
            "respondent": respondent,
            "user_id": user.id,
            "user_key": user.user_key,
            "name": user.name,
            "member_no": user.member_no,
            "answers": self._d.json(encode_answers(answers)),
            "now": self._d.time(now),
        }
        try:
            exists, saved = self._d.submit(params)
        except Exception as error:
            if self._d.is_survey_gone(error) or (
                self._d.is_answer_refused(error) and self.get_survey(survey_id) is None
            ):
                # Deleted by an admin while this submit ran: the answer check or the foreign
                # key met a survey that is no longer there.
                return WriteOutcome.MISSING
            if self._d.is_answer_refused(error):
                raise InvalidAnswers(str(error)) from error
            raise
        if saved:
            return WriteOutcome.OK
        return WriteOutcome.CLOSED if exists else WriteOutcome.MISSING

    def get_response(self, survey_id: int, respondent: str) -> StoredResponse | None:
        row = self._one(q.RESPONSE_GET, {"survey_id": survey_id, "respondent": respondent})
        if row is None:
            return None
        return StoredResponse(decode_answers(row[0]), self._d.read_time(row[1]))

    def withdraw_response(
        self, survey_id: int, user: User, respondent: str, now: datetime
    ) -> WriteOutcome:
        params = {
            "survey_id": survey_id,
            "respondent": respondent,
            "user_id": user.id,
            "now": self._d.time(now),
        }
        try:
            exists, is_open, gone = self._d.withdraw(params)
        except Exception as error:
            if self._d.is_survey_gone(error):
                return WriteOutcome.MISSING  # deleted by an admin while this withdrawal ran
            raise
        if gone:
            return WriteOutcome.OK
        if exists and not is_open:
            return WriteOutcome.CLOSED
        return WriteOutcome.MISSING

    def results(self, survey_id: int, latest: int = 3) -> Results | None:
        # One statement: the counters and the texts are of the same moment.
        row = self._one(self._d.sql.results, {"survey_id": survey_id, "latest": latest})
        if row is None:
            return None
        respondents, population, cells, texts = row[SURVEY_WIDTH:]
        return build_results(
            self._survey(row),
            int(respondents),
            int(population),
            self._d.read_json(cells),
            self._d.read_json(texts),
        )

    def pending(
        self,
        survey_id: int,
        after: PendingCursor | None = None,
        limit: int = 1000,
        scan: int = PENDING_SCAN,
    ) -> PendingPage | None:
        name, number, person_id = after or ("", "", 0)
        params = {
            "survey_id": survey_id,
            "after_name": name,
            "after_number": number,
            "after_id": person_id,
            "limit": limit + 1,  # one more tells whether the page is full
            "scan": scan,
        }
        row = self._one(self._d.sql.pending, params)
        if row is None:
            return None
        respondents, population, found = row[SURVEY_WIDTH:]
        waiting, ends = self._d.read_json(found)
        people = [
            PendingPerson(name, member_no, department, bool(registered))
            for name, member_no, department, registered, *_ in waiting[:limit]
        ]
        next_after: PendingCursor | None
        if len(waiting) > limit:
            shown_last = waiting[limit - 1]  # name, number, department, registered, number, id
            next_after = _cursor(shown_last[0], shown_last[4], shown_last[5])
        elif ends:
            next_after = _cursor(*ends[0])  # this page looked at `scan` people; more may follow
        else:
            next_after = None  # this page looked at everyone left
        return PendingPage(self._survey(row), int(respondents), int(population), people, next_after)

    @contextmanager
    def export_rows(self, survey_id: int) -> Iterator[Iterator[ExportRow]]:
        with self._d.export_cursor(survey_id) as (anonymous, rows):
            exported = self._export(rows, anonymous)
            try:
                yield exported
            finally:
                exported.close()  # a reader that stopped part-way leaves no suspended generator

    def _export(
        self, rows: Iterator[Sequence[Any]], anonymous: bool
    ) -> Generator[ExportRow, None, None]:
        for row in rows:
            if anonymous:
                yield ExportRow(decode_answers(row[0]))
            else:
                time = self._d.read_time(row[4])
                yield ExportRow(decode_answers(row[0]), row[1], row[2], row[3], time)


__all__ = ["Dialect", "Params", "SqlStore"]
