"""The storage contract: one interface, a PostgreSQL and a SQLite implementation.

Every method is one short transaction. Methods that change data check their preconditions inside
the same statement or transaction, so a refused action changes nothing and a repeated one (a
double-tapped button) has the effect of one.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from surveybot.audit import SYSTEM, Actor, AuditRecord, Event, Verification
from surveybot.domain import (
    Answer,
    ExportRow,
    Loaded,
    PendingCursor,
    PendingPage,
    Results,
    RosterEntry,
    RosterStatus,
    StoredResponse,
    Survey,
    SurveyDraft,
    SurveyListing,
    User,
)
from surveybot.store.outbox_base import Reminders

if TYPE_CHECKING:
    from surveybot.store.keys_sql import Batch


class StoreUnavailable(Exception):
    """The database could not be reached or did not answer in time."""


class StoreUnreachable(StoreUnavailable):
    """No connection could be had (the database is known to be down): nothing was sent to it."""


class NotMigrated(Exception):
    """The database lacks this version's tables: `surveybot migrate` has not run on it yet."""


class InvalidAnswers(ValueError):
    """The database refused answers that do not fit the survey's questions (migration 0002).

    The conversation checks every answer first, so this means a bug, and it must be loud.
    """


@dataclass(frozen=True, slots=True)
class PgSettings:
    """PostgreSQL connection settings of one process (config.py documents each)."""

    pool_min: int = 1
    pool_max: int = 4
    connect_timeout: float = 2.0  # also how long a request waits for a pooled connection
    statement_timeout_ms: int = 2000  # a chat reply's budget
    export_statement_timeout_ms: int = 600_000  # a download's


class RegisterOutcome(enum.StrEnum):
    OK = "ok"
    NOT_ON_ROSTER = "not_on_roster"  # a roster exists and no entry has that name (and number)
    NUMBER_REQUIRED = "number_required"  # the matching entries have numbers; none was given
    CLAIMED = "claimed"  # the entry belongs to another Kakao user
    HAS_CLAIM = "has_claim"  # this Kakao user holds another entry; only an admin can release it


@dataclass(frozen=True, slots=True)
class RegisterResult:
    outcome: RegisterOutcome
    user: User | None = None


class ReleaseOutcome(enum.StrEnum):
    OK = "ok"
    NOT_ON_ROSTER = "not_on_roster"
    NUMBER_REQUIRED = "number_required"  # several entries have that name; say which number
    NOT_CLAIMED = "not_claimed"


@dataclass(frozen=True, slots=True)
class ReleaseResult:
    outcome: ReleaseOutcome
    user_key: str | None = None  # whose claim was released


class WriteOutcome(enum.StrEnum):
    OK = "ok"
    MISSING = "missing"  # no such survey (or no such response, for withdraw)
    CLOSED = "closed"  # the survey is closed or past its deadline


class RoleOutcome(enum.StrEnum):
    OK = "ok"
    UNCHANGED = "unchanged"  # already had that role
    LAST_ADMIN = "last_admin"  # refusing to remove the only admin
    MISSING = "missing"


@dataclass(frozen=True, slots=True)
class Purged:
    survey: Survey
    responses: int  # how many were deleted


@dataclass(frozen=True, slots=True)
class RosterImportResult:
    added: int
    updated: int


class Store(Reminders, Protocol):
    """What the bot needs from a database. Times are aware datetimes in UTC.

    Every admin change (publish, close, reopen, delete, roles, roster, reminders) appends its
    audit row in its own transaction, attributed to `actor` (audit.py).
    """

    def migrate(self) -> list[str]:
        """Apply pending migrations (safe when several processes start at once); return names."""
        ...

    def ping(self) -> None:
        """Raise StoreUnavailable unless the database answers."""
        ...

    def close(self) -> None: ...

    def pool_stats(self) -> dict[str, int]:
        """Connection pool figures for metrics (psycopg_pool's get_stats); {} without a pool."""
        ...

    # --- people -------------------------------------------------------------------------------
    def load_context(self, user_key: str, now: datetime) -> Loaded:
        """The person, their unexpired conversation state and the surveys' version, in one
        round trip."""
        ...

    def register(self, user_key: str, name: str, member_no: str | None) -> RegisterResult:
        """Register or rename; with a roster, claim the matching unclaimed entry."""
        ...

    def get_user(self, user_id: int) -> User | None: ...

    def find_users(self, name_or_key: str) -> list[User]:
        """Registered people whose name or Kakao user key equals the text."""
        ...

    def list_admins(self) -> list[User]: ...

    def set_role(self, user_id: int, role: str, actor: Actor = SYSTEM) -> RoleOutcome:
        """Change a role; never leaves the bot without an admin."""
        ...

    def count_admin_code_failures(self, user_key: str, since: datetime) -> tuple[int, int]:
        """Wrong admin codes since `since`: (this person's, everyone's)."""
        ...

    def record_admin_code_failure(self, user_key: str, at: datetime) -> None: ...

    # --- roster -------------------------------------------------------------------------------
    def import_roster(
        self, entries: list[RosterEntry], actor: Actor = SYSTEM
    ) -> RosterImportResult:
        """Add entries, update departments of known (name, number) pairs; never drops claims."""
        ...

    def roster_status(self) -> RosterStatus: ...

    def release_claim(
        self, name: str, member_no: str | None, actor: Actor = SYSTEM
    ) -> ReleaseResult:
        """Free the roster entry of that name (and number) from the Kakao user who claimed it."""
        ...

    def list_roster(self) -> list[tuple[RosterEntry, str | None]]:
        """Every entry with the Kakao user key that claimed it, if any."""
        ...

    # --- conversation state -------------------------------------------------------------------
    def save_session(
        self,
        user_key: str,
        state: dict[str, object],
        expected_version: int | None,
        expires_at: datetime,
        now: datetime,
    ) -> int | None:
        """Write state if nobody changed it since `expected_version` (None: there was none).

        Returns the new version, or None when another request got there first, which is how a
        double tap shows.
        """
        ...

    def clear_session(self, user_key: str) -> None: ...

    # --- surveys ------------------------------------------------------------------------------
    def create_survey(
        self, draft: SurveyDraft, created_by: int, draft_key: str, now: datetime
    ) -> Survey:
        """Publish; the same draft_key publishes once and returns the same survey again."""
        ...

    def get_survey(self, survey_id: int, seen_version: int | None = None) -> Survey | None:
        """The survey; with the version from load_context, a copy this worker read at that
        version is returned without a round trip."""
        ...

    def list_open_surveys(self, user_id: int, now: datetime) -> list[SurveyListing]:
        """Open surveys, newest first, each with whether this person has answered.

        response_count is 0 here: members are not shown counts, and counting grows with data.
        """
        ...

    def list_surveys(self) -> list[SurveyListing]:
        """Every survey, newest first, with response counts."""
        ...

    def close_survey(self, survey_id: int, now: datetime, actor: Actor = SYSTEM) -> WriteOutcome:
        """Close now; MISSING if absent, CLOSED if it was closed already (nothing changes)."""
        ...

    def reopen_survey(self, survey_id: int, now: datetime, actor: Actor = SYSTEM) -> WriteOutcome:
        """Reopen; a deadline already past is removed. CLOSED here means it was open already."""
        ...

    def delete_survey(
        self, survey_id: int, actor: Actor = SYSTEM, now: datetime | None = None
    ) -> bool: ...

    # --- responses ----------------------------------------------------------------------------
    def submit_response(
        self,
        survey_id: int,
        user: User,
        respondent: str,
        answers: tuple[Answer, ...],
        now: datetime,
    ) -> WriteOutcome:
        """Save or replace this person's answers while the survey is open, and end the session.

        `respondent` is the unique key of the response: tied to the user for named surveys and a
        keyed hash for anonymous ones, whose responses keep neither the user nor a time. Named
        responses keep the name and number the user had, so a later rename relabels nothing.
        Raises InvalidAnswers when the answers do not fit the questions.
        """
        ...

    def get_response(self, survey_id: int, respondent: str) -> StoredResponse | None: ...

    def withdraw_response(
        self, survey_id: int, user: User, respondent: str, now: datetime
    ) -> WriteOutcome: ...

    def results(self, survey_id: int, latest: int = 3) -> Results | None: ...

    def pending(
        self, survey_id: int, after: PendingCursor | None = None, limit: int = 1000
    ) -> PendingPage | None:
        """Who should answer and has not, in name order after `after`: roster entries, or
        registered people without one; at most `limit`, from a bounded number of people looked at
        (see PendingPage). None when the survey does not exist."""
        ...

    def export_rows(self, survey_id: int) -> AbstractContextManager[Iterator[ExportRow]]:
        """Stream respondents without loading them all; named ones in order of submission."""
        ...

    # --- audit trail (audit.py) ---------------------------------------------------------------
    def record_audit(self, actor: Actor, event: Event, now: datetime) -> None:
        """Record an action that changes nothing else (an export link issued or used)."""
        ...

    def audit_page(
        self, before: int | None = None, limit: int = 20, survey_id: int | None = None
    ) -> list[AuditRecord]:
        """The newest records older than sequence number `before` (of one survey), newest first."""
        ...

    def audit_since(self, since: datetime) -> list[AuditRecord]: ...

    def verify_audit(self) -> Verification:
        """Recompute the trail's hash chain against its head."""
        ...

    # --- retention (store/retention_sql.py) ---------------------------------------------------
    def purge_candidates(self, before: datetime, now: datetime) -> list[Survey]:
        """Surveys closed before `before` whose responses are still kept."""
        ...

    def purge_survey(
        self,
        survey: Survey,
        before: datetime,
        keep_summary: bool,
        now: datetime,
        actor: Actor = SYSTEM,
    ) -> Purged | None:
        """Delete one candidate's responses and participation (keeping its counts if asked);
        None when it is no longer a candidate."""
        ...

    # --- keys (store/keys_sql.py, issue 13) -------------------------------------------------------
    def check_keys(self) -> None:
        """Raise KeyProblem unless this process's keys open all that this database has sealed."""
        ...

    def reseal(self, table: str, after: Any, limit: int, verify_only: bool = False) -> Batch:
        """Reseal (or only open, to verify) the next `limit` rows of a table after `after`."""
        ...

    def retire_other_keys(self) -> None:
        """Forget every data key but the first (after a verified full reseal)."""
        ...
