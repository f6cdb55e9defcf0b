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

from surveybot import audit
from surveybot.audit import Action, Actor, Event, Target
from surveybot.crypto import Keyring
from surveybot.domain import (
    Answer,
    ExportRow,
    Loaded,
    PendingCursor,
    PendingPage,
    PendingPerson,
    Results,
    Session,
    StoredResponse,
    Survey,
    SurveyDraft,
    SurveyListing,
    User,
    utcnow,
)
from surveybot.store import queries as q
from surveybot.store.audit_sql import AuditStore, append
from surveybot.store.base import (
    InvalidAnswers,
    WriteOutcome,
)
from surveybot.store.dialect import Dialect, Params
from surveybot.store.keys_sql import KeysStore
from surveybot.store.outbox import OutboxStore, schedule_new_survey
from surveybot.store.people import PeopleStore
from surveybot.store.retention_sql import RetentionStore
from surveybot.store.rows import (
    SURVEY_WIDTH,
    USER_WIDTH,
    build_results,
    decode_answers,
    questions_json,
    survey_from_row,
    user_from_row,
)
from surveybot.store.sealing import Sealing

# Surveys a worker keeps, each under the version it was read at (see get_survey).
SURVEY_CACHE_SIZE = 512


# How many people one 미응답 page looks at, at most: its cost, whatever the number registered.
PENDING_SCAN = 1000


def _cursor(name: Any, number: Any, person_id: Any) -> PendingCursor:
    return str(name), str(number), int(person_id)


def _version(value: Any) -> int | None:
    """The surveys' version; None before migration 0003 (nothing is cached then)."""
    return None if value is None else int(value)


class SqlStore(PeopleStore, OutboxStore, AuditStore, RetentionStore, KeysStore):
    """Store on a SQL database; see store.base.Store for the contract.

    People and the roster are in people.py, reminders in outbox.py, the audit trail in
    audit_sql.py: every admin change appends its row in its own transaction; purging in
    retention_sql.py.
    """

    def __init__(self, dialect: Dialect, keyring: Keyring | None = None) -> None:
        self._d = dialect
        # Personal data is sealed on the way in and opened on the way out (sealing.py).
        self._seal = Sealing(keyring)
        # survey id -> (surveys' version when read, survey). Shared by the worker's threads:
        # entries are replaced whole, never changed in place.
        self._surveys: dict[int, tuple[int, Survey]] = {}

    # --- plumbing -----------------------------------------------------------------------------
    def _survey(self, row: Sequence[Any]) -> Survey:
        return survey_from_row(row, self._d.read_time, self._d.read_json)

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
        user = None if row[0] is None else user_from_row(row, self._seal)
        session = None
        if row[USER_WIDTH] is not None:
            expires = self._d.read_time(row[USER_WIDTH + 2])
            assert expires is not None
            state = self._seal.open_state(user_key, self._d.read_json(row[USER_WIDTH]))
            session = Session(state, int(row[USER_WIDTH + 1]), expires)
        return Loaded(user, session, _version(row[USER_WIDTH + 3]))

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
            "state": self._d.json(self._seal.state(user_key, state)),
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
                row = tx.one(q.SURVEY_INSERT, params)
                if row is not None:  # its reminders are published with it, or not at all
                    schedule_new_survey(self._d, tx, int(row[0]), draft, created_by, now)
                    published = Event(Action.PUBLISH, Target.SURVEY, int(row[0]))
                    append(self._d, tx, audit.by(created_by), published, now)
                row = row or tx.one(q.SURVEY_BY_DRAFT, key)
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

    def _change_survey(
        self, sql: str, survey_id: int, now: datetime, actor: Actor, action: Action
    ) -> WriteOutcome:
        params = {"survey_id": survey_id, "now": self._d.time(now)}
        with self._d.transaction(write=True) as tx:
            if tx.run(sql, params) == 1:
                append(self._d, tx, actor, Event(action, Target.SURVEY, survey_id), now)
                return WriteOutcome.OK
            exists = tx.one(q.SURVEY_EXISTS, params)[0]
        return WriteOutcome.CLOSED if exists else WriteOutcome.MISSING

    def close_survey(
        self, survey_id: int, now: datetime, actor: Actor = audit.SYSTEM
    ) -> WriteOutcome:
        return self._change_survey(q.CLOSE, survey_id, now, actor, Action.CLOSE)

    def reopen_survey(
        self, survey_id: int, now: datetime, actor: Actor = audit.SYSTEM
    ) -> WriteOutcome:
        return self._change_survey(q.REOPEN, survey_id, now, actor, Action.REOPEN)

    def delete_survey(
        self, survey_id: int, actor: Actor = audit.SYSTEM, now: datetime | None = None
    ) -> bool:
        with self._d.transaction(write=True) as tx:
            if tx.run(q.DELETE_SURVEY, {"survey_id": survey_id}) != 1:
                return False
            deleted = Event(Action.DELETE, Target.SURVEY, survey_id)
            append(self._d, tx, actor, deleted, now or utcnow())
        return True

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
            **self._seal.answered(survey_id, respondent, user.name, user.member_no),
            "answers": self._d.json(self._seal.answers(survey_id, respondent, answers)),
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
        stored = self._seal.open_answers(survey_id, respondent, self._d.read_json(row[0]))
        return StoredResponse(decode_answers(stored), self._d.read_time(row[1]))

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
        opened = [
            (
                question,
                [self._seal.open_text(survey_id, who, question, text) for text, who in found],
            )
            for question, found in self._d.read_json(texts)
        ]
        return build_results(
            self._survey(row),
            int(respondents),
            int(population),
            self._d.read_json(cells),
            opened,
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
        people = [self._pending_person(person) for person in waiting[:limit]]
        next_after: PendingCursor | None
        if len(waiting) > limit:
            shown_last = waiting[limit - 1]  # name, number, department, registered, number, id
            next_after = _cursor(shown_last[0], shown_last[4], shown_last[5])
        elif ends:
            next_after = _cursor(*ends[0])  # this page looked at `scan` people; more may follow
        else:
            next_after = None  # this page looked at everyone left
        # Shown in name order within the page; pages follow the database's order, which for
        # sealed names is the order people were added in.
        people.sort(key=lambda p: (p.name, p.member_no or ""))
        return PendingPage(self._survey(row), int(respondents), int(population), people, next_after)

    def _pending_person(self, found: Sequence[Any]) -> PendingPerson:
        """[name, number, department, registered, number, id, sealed, identity, kind]."""
        plain, sealed, identity = found[0:3], found[6], found[7]
        if found[8] == "r":
            name, member_no, department = self._seal.open_roster(identity, sealed, plain)
        else:
            name, member_no, department = self._seal.open_user(identity, sealed, plain)
        return PendingPerson(name, member_no, department, bool(found[3]))

    @contextmanager
    def export_rows(self, survey_id: int) -> Iterator[Iterator[ExportRow]]:
        with self._d.export_cursor(survey_id) as (anonymous, rows):
            exported = self._export(rows, anonymous, survey_id)
            try:
                yield exported
            finally:
                exported.close()  # a reader that stopped part-way leaves no suspended generator

    def _export(
        self, rows: Iterator[Sequence[Any]], anonymous: bool, survey_id: int
    ) -> Generator[ExportRow, None, None]:
        """Rows of queries.EXPORT_*, opened one at a time as the file is written."""
        seal = self._seal
        for row in rows:
            respondent = row[1]
            answers = decode_answers(
                seal.open_answers(survey_id, respondent, self._d.read_json(row[0]))
            )
            if anonymous:
                yield ExportRow(answers)
                continue
            # Named responses carry the name they were given under; older rows use the person.
            person: tuple[str | None, str | None, str | None] = (None, None, None)
            if row[10] is not None:
                person = seal.open_roster(row[11], row[12], row[13:16])
            elif row[5] is not None:  # no user: a person deleted since (user_id SET NULL)
                person = seal.open_user(row[5], row[6], row[7:10])
            name, member_no = seal.open_answered(survey_id, respondent, row[2])
            if row[2] is None:
                name, member_no = row[3], row[4]
            if name is None:
                name, member_no = person[0], person[1]
            yield ExportRow(answers, name, member_no, person[2], self._d.read_time(row[16]))


__all__ = ["Dialect", "Params", "SqlStore"]
