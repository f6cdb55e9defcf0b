"""Reads both SQL stores perform the same way: only the SQL text and value decoding differ."""

from __future__ import annotations

from datetime import datetime
from types import ModuleType
from typing import Any, ClassVar

from surveybot.domain import (
    ExportRow,
    RosterEntry,
    RosterStatus,
    Session,
    StoredResponse,
    Survey,
    SurveyListing,
    User,
    utcnow,
)
from surveybot.store.base import ReleaseOutcome, ReleaseResult
from surveybot.store.sql_common import (
    SURVEY_WIDTH,
    USER_WIDTH,
    RosterCandidate,
    choose_release,
    decode_answers,
    survey_from_values,
    user_from_row,
)


class SqlStoreBase:
    """Subclasses set `q` (their module of SQL constants) and the five hooks below."""

    q: ClassVar[ModuleType]

    def _one(self, sql: str, params: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _all(self, sql: str, params: dict[str, Any]) -> list[Any]:
        raise NotImplementedError

    def _db_time(self, value: datetime) -> Any:
        """An aware datetime as the database parameter."""
        raise NotImplementedError

    def _py_time(self, value: Any) -> datetime | None:
        """A stored time (or NULL) as an aware UTC datetime."""
        raise NotImplementedError

    def _py_json(self, value: Any) -> Any:
        """A stored JSON value as Python data."""
        raise NotImplementedError

    # --- decoding -----------------------------------------------------------------------------
    def _survey(self, row: Any) -> Survey:
        times = [self._py_time(row[4]), self._py_time(row[6]), self._py_time(row[7])]
        return survey_from_values(row, self._py_json(row[3]), times)

    def _export_row(self, row: Any, anonymous: bool) -> ExportRow:
        if anonymous:
            return ExportRow(decode_answers(row[0]))
        return ExportRow(decode_answers(row[0]), row[1], row[2], row[3], self._py_time(row[4]))

    # --- reads --------------------------------------------------------------------------------
    def ping(self) -> None:
        self._one("SELECT 1", {})

    def load_context(self, user_key: str, now: datetime) -> tuple[User | None, Session | None]:
        row = self._one(self.q.LOAD_CONTEXT, {"user_key": user_key, "now": self._db_time(now)})
        user = None if row[0] is None else user_from_row(row)
        session = None
        if row[USER_WIDTH] is not None:
            expires = self._py_time(row[USER_WIDTH + 2])
            assert expires is not None
            state = self._py_json(row[USER_WIDTH])
            session = Session(state, int(row[USER_WIDTH + 1]), expires)
        return user, session

    def get_user(self, user_id: int) -> User | None:
        row = self._one(self.q.USER_BY_ID, {"user_id": user_id})
        return None if row is None else user_from_row(row)

    def find_users(self, name_or_key: str) -> list[User]:
        return [user_from_row(r) for r in self._all(self.q.FIND_USERS, {"text": name_or_key})]

    def list_admins(self) -> list[User]:
        return [user_from_row(r) for r in self._all(self.q.LIST_ADMINS, {})]

    def count_admin_code_failures(self, user_key: str, since: datetime) -> tuple[int, int]:
        params = {"user_key": user_key, "since": self._db_time(since)}
        mine, everyone = self._one(self.q.COUNT_FAILURES, params)
        return int(mine), int(everyone)

    def list_roster(self) -> list[tuple[RosterEntry, str | None]]:
        return [(RosterEntry(r[0], r[1], r[2]), r[3]) for r in self._all(self.q.ROSTER_LIST, {})]

    def roster_status(self) -> RosterStatus:
        roster = self.list_roster()
        unregistered = [entry for entry, key in roster if key is None]
        return RosterStatus(len(roster), len(roster) - len(unregistered), unregistered)

    def release_claim(self, name: str, member_no: str | None) -> ReleaseResult:
        rows = self._all(self.q.ROSTER_CANDIDATES, {"name": name})
        outcome, entry = choose_release([RosterCandidate(*row) for row in rows], member_no)
        if entry is None:
            return ReleaseResult(outcome)
        params = {"roster_id": entry.id, "now": self._db_time(utcnow())}
        released = self._one(self.q.RELEASE_CLAIM, params)
        if released is None:  # released by another admin in between: the same end state
            return ReleaseResult(ReleaseOutcome.NOT_CLAIMED)
        return ReleaseResult(ReleaseOutcome.OK, released[0])

    def get_survey(self, survey_id: int) -> Survey | None:
        row = self._one(self.q.SURVEY_GET, {"survey_id": survey_id})
        return None if row is None else self._survey(row)

    def _listings(self, sql: str, params: dict[str, Any]) -> list[SurveyListing]:
        return [
            SurveyListing(self._survey(r), int(r[SURVEY_WIDTH]), bool(r[SURVEY_WIDTH + 1]))
            for r in self._all(sql, params)
        ]

    def list_open_surveys(self, user_id: int, now: datetime) -> list[SurveyListing]:
        return self._listings(self.q.LIST_OPEN, {"user_id": user_id, "now": self._db_time(now)})

    def list_surveys(self) -> list[SurveyListing]:
        # user_id NULL: `answered` is false for everyone in the admin's list.
        return self._listings(self.q.LIST_ALL, {"user_id": None})

    def get_response(self, survey_id: int, respondent: str) -> StoredResponse | None:
        params = {"survey_id": survey_id, "respondent": respondent}
        row = self._one(self.q.RESPONSE_GET, params)
        if row is None:
            return None
        return StoredResponse(decode_answers(row[0]), self._py_time(row[1]))
