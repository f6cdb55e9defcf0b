"""Plain data of the survey domain, shared by the store, the conversation and the export."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

KST = ZoneInfo("Asia/Seoul")

# Limits of what an admin may author; they keep every question inside one Kakao bubble.
TITLE_MAX = 50
DESCRIPTION_MAX = 400
QUESTIONS_MAX = 20
QUESTION_TITLE_MAX = 200
OPTIONS_MIN = 2
OPTIONS_MAX = 10
OPTION_MAX = 50
FREE_TEXT_MAX = 500
NAME_MAX = 30
MEMBER_NO_MAX = 30
DEPARTMENT_MAX = 50
# An anonymous survey shows what people chose only once it is closed and at least this many have
# answered: before that, comparing two views of 결과 would tell what one person chose.
ANONYMOUS_RESULTS_MIN = 3

# One answer per question: option index (single), sorted option indexes (multi), text ("" = skipped).
Answer = int | list[int] | str


class Role(enum.StrEnum):
    MEMBER = "member"
    ADMIN = "admin"


class QuestionKind(enum.StrEnum):
    SINGLE = "single"
    MULTI = "multi"
    TEXT = "text"


@dataclass(frozen=True, slots=True)
class Question:
    kind: QuestionKind
    title: str
    options: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind.value, "title": self.title, "options": list(self.options)}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Question:
        options = data.get("options") or []
        assert isinstance(options, list)
        return cls(QuestionKind(str(data["kind"])), str(data["title"]), tuple(map(str, options)))


@dataclass(frozen=True, slots=True)
class SurveyDraft:
    """A survey as the admin wrote it, before it is published."""

    title: str
    questions: tuple[Question, ...]
    description: str = ""
    deadline: datetime | None = None  # aware, UTC
    anonymous: bool = False
    # Reminders to those who have not answered, in minutes before the deadline (issue 10).
    reminders: tuple[int, ...] = ()
    notice: bool = False  # tell every member when it is published (공지)


@dataclass(frozen=True, slots=True)
class Survey:
    id: int
    title: str
    description: str
    questions: tuple[Question, ...]
    deadline: datetime | None  # aware, UTC
    anonymous: bool
    closed_at: datetime | None  # aware, UTC; set by an admin's close
    created_at: datetime
    # Set by `surveybot purge`: the responses are gone; summary_kept: the counts stay (migration 0006)
    purged_at: datetime | None = None
    summary_kept: bool = False

    def is_open(self, now: datetime) -> bool:
        """Open unless closed by hand or past its deadline: no job has to close it."""
        if self.closed_at is not None:
            return False
        return self.deadline is None or now < self.deadline


@dataclass(frozen=True, slots=True)
class User:
    id: int
    user_key: str
    name: str
    role: Role
    member_no: str | None = None
    department: str | None = None
    roster_id: int | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


@dataclass(frozen=True, slots=True)
class Session:
    """Conversation state of one person, kept in the database so any worker can go on with it."""

    state: dict[str, object]
    version: int
    expires_at: datetime


class Loaded(NamedTuple):
    """What a request starts from, read in one statement."""

    user: User | None
    session: Session | None
    # The version of all surveys (migration 0003): surveys read at this version can be reused.
    surveys_version: int | None = None


@dataclass(frozen=True, slots=True)
class SurveyListing:
    survey: Survey
    response_count: int
    answered: bool = False


@dataclass(frozen=True, slots=True)
class StoredResponse:
    answers: tuple[Answer, ...]
    submitted_at: datetime | None  # None for anonymous surveys


@dataclass(frozen=True, slots=True)
class Results:
    survey: Survey
    respondents: int
    population: int  # roster size, or registered people when there is no roster
    # counts[question][option] for choice questions
    counts: dict[int, dict[int, int]] = field(default_factory=dict)
    # text_counts[question]: how many non-empty free-text answers
    text_counts: dict[int, int] = field(default_factory=dict)
    # latest_texts[question]: newest free-text answers first, a few at most
    latest_texts: dict[int, list[str]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PendingPerson:
    name: str
    member_no: str | None
    department: str | None
    registered: bool


# Where a page of 미응답 starts: after this person in name order, (name, number, id); the number is
# '' for people without one.
PendingCursor = tuple[str, str, int]


@dataclass(frozen=True, slots=True)
class PendingPage:
    """One page of who has not answered a survey, with the counts a page header shows.

    A page looks at a bounded number of people, so its cost does not grow with the people
    registered even when nearly all have answered; `after` is where the next page starts, None
    when this page reached the end.
    """

    survey: Survey
    respondents: int
    population: int
    people: list[PendingPerson]
    after: PendingCursor | None


@dataclass(frozen=True, slots=True)
class RosterEntry:
    name: str
    member_no: str | None = None
    department: str | None = None


@dataclass(frozen=True, slots=True)
class RosterStatus:
    size: int
    registered: int
    unregistered: list[RosterEntry]


@dataclass(frozen=True, slots=True)
class ExportRow:
    """One respondent in a results file; identity fields are None for anonymous surveys."""

    answers: tuple[Answer, ...]
    name: str | None = None
    member_no: str | None = None
    department: str | None = None
    submitted_at: datetime | None = None


def answer_fits(question: Question, answer: object) -> bool:
    """Whether an answer can be the answer to this question (the store checks the same)."""
    if question.kind is QuestionKind.TEXT:
        return isinstance(answer, str) and len(answer) <= FREE_TEXT_MAX
    count = len(question.options)
    if question.kind is QuestionKind.SINGLE:
        # type() is int: True is an int to isinstance, and never an option.
        return type(answer) is int and 0 <= answer < count
    if not isinstance(answer, list) or not answer:
        return False
    in_range = all(type(i) is int and 0 <= i < count for i in answer)
    return in_range and len(set(answer)) == len(answer)


def utcnow() -> datetime:
    return datetime.now(UTC)
