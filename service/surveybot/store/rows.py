"""Python-side pieces of the SQL store: row decoding, roster matching, results assembly."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from surveybot.domain import (
    Answer,
    Question,
    QuestionKind,
    Results,
    Role,
    Survey,
    SurveyDraft,
    User,
)
from surveybot.store.base import RegisterOutcome, ReleaseOutcome
from surveybot.store.sealing import Sealing

# Columns of a User, identical in both dialects. Alias u = users, r = the claimed roster entry;
# a claimed entry is the truth for number and department (an import may have changed them).
# Each side is sealed or plaintext (sealing.py); user_from_row opens what it must.
USER_COLUMNS = """
    u.id, u.user_key, u.role, u.roster_id, u.sealed, u.name, u.member_no, u.department,
    r.id, r.sealed, r.person_idx, r.name, r.member_no, r.department
"""
USER_FROM = "users u LEFT JOIN roster r ON r.id = u.roster_id"

SURVEY_COLUMNS = """
    s.id, s.title, s.description, s.questions, s.deadline_at, s.anonymous, s.closed_at,
    s.created_at, s.purged_at, s.summary_kept
"""

# Number of columns USER_COLUMNS / SURVEY_COLUMNS produce, for slicing joined rows.
USER_WIDTH = 14
SURVEY_WIDTH = 10


def to_utc(value: datetime) -> datetime:
    """Refuse naive datetimes: the store cannot guess their zone."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime given to the store: {value!r}")
    return value.astimezone(UTC)


def dump_json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def user_from_row(row: Sequence[Any], sealing: Sealing) -> User:
    name, member_no, department = sealing.open_user(row[1], row[4], row[5:8])
    if row[8] is not None:
        _, member_no, department = sealing.open_roster(row[10], row[9], row[11:14])
    return User(
        id=int(row[0]),
        user_key=row[1],
        name=name,
        role=Role(row[2]),
        member_no=member_no,
        department=department,
        roster_id=None if row[3] is None else int(row[3]),
    )


def survey_from_row(
    row: Sequence[Any],
    read_time: Callable[[Any], datetime | None],
    read_json: Callable[[Any], Any],
) -> Survey:
    """Build a Survey from SURVEY_COLUMNS with the dialect's readers of times and JSON."""
    times = [read_time(row[i]) for i in (4, 6, 7, 8)]
    return survey_from_values(row, read_json(row[3]), times)


def survey_from_values(
    row: Sequence[Any], questions: list[dict[str, object]], times: list[datetime | None]
) -> Survey:
    """Build a Survey from SURVEY_COLUMNS, with JSON and times already decoded by the dialect."""
    deadline, closed_at, created_at, purged_at = times
    assert created_at is not None
    return Survey(
        id=int(row[0]),
        title=row[1],
        description=row[2],
        questions=tuple(Question.from_json(q) for q in questions),
        deadline=deadline,
        anonymous=bool(row[5]),
        closed_at=closed_at,
        created_at=created_at,
        purged_at=purged_at,
        summary_kept=bool(row[9]),
    )


def questions_json(draft: SurveyDraft) -> list[dict[str, object]]:
    return [q.to_json() for q in draft.questions]


def decode_answers(value: Any) -> tuple[Answer, ...]:
    """JSON list (decoded or text) -> answers tuple; lists stay lists (multi choice)."""
    items = json.loads(value) if isinstance(value, str | bytes) else value
    out: list[Answer] = []
    for item in items:
        if isinstance(item, list):
            out.append([int(i) for i in item])
        elif isinstance(item, bool):  # bool is an int; never a valid answer, keep it visible
            raise ValueError(f"invalid stored answer {item!r}")
        elif isinstance(item, int):
            out.append(item)
        else:
            out.append(str(item))
    return tuple(out)


def encode_answers(answers: Iterable[Answer]) -> list[Answer]:
    return [list(a) if isinstance(a, list | tuple) else a for a in answers]


@dataclass(frozen=True, slots=True)
class RosterCandidate:
    """A roster entry with the requested name, and who (if anyone) has claimed it."""

    id: int
    name: str
    member_no: str | None
    department: str | None
    claimed_by: str | None


def choose_roster_entry(
    candidates: Sequence[RosterCandidate],
    member_no: str | None,
    user_key: str,
    current_claim: int | None = None,
) -> tuple[RegisterOutcome, RosterCandidate | None]:
    """Apply the roster rules of `register` to the entries that carry the given name.

    `current_claim` is the entry this Kakao user holds already: a person cannot move to another
    entry (and take their answers along) without an admin releasing the first.
    """
    if not candidates:
        return RegisterOutcome.NOT_ON_ROSTER, None
    if member_no is not None:
        matches = [c for c in candidates if c.member_no == member_no]
    else:
        # (name, NULL number) is unique, so at most one entry can match.
        matches = [c for c in candidates if c.member_no is None]
        if not matches:
            return RegisterOutcome.NUMBER_REQUIRED, None
    if not matches:
        return RegisterOutcome.NOT_ON_ROSTER, None
    entry = matches[0]
    if entry.claimed_by is not None and entry.claimed_by != user_key:
        return RegisterOutcome.CLAIMED, None
    if current_claim is not None and current_claim != entry.id:
        return RegisterOutcome.HAS_CLAIM, None
    return RegisterOutcome.OK, entry


def choose_release(
    candidates: Sequence[RosterCandidate], member_no: str | None
) -> tuple[ReleaseOutcome, RosterCandidate | None]:
    """The one roster entry `등록해제 이름 [번호]` names, or why there is none."""
    matches = [c for c in candidates if member_no is None or c.member_no == member_no]
    if not matches:
        return ReleaseOutcome.NOT_ON_ROSTER, None
    if len(matches) > 1:
        return ReleaseOutcome.NUMBER_REQUIRED, None
    if matches[0].claimed_by is None:
        return ReleaseOutcome.NOT_CLAIMED, None
    return ReleaseOutcome.OK, matches[0]


def build_results(
    survey: Survey,
    respondents: int,
    population: int,
    cells: Iterable[Sequence[Any]],
    texts: Iterable[Sequence[Any]],
) -> Results:
    """Assemble Results from counter cells (question, choice, n) and ([question, [texts]]).

    choice -1 of a question is its number of written texts; texts come newest first (named) or
    in respondent order (anonymous).
    """
    counts: dict[int, dict[int, int]] = {}
    text_counts: dict[int, int] = {}
    latest_texts: dict[int, list[str]] = {}
    # Every option and text question appears, even when nobody picked or wrote anything.
    for index, question in enumerate(survey.questions):
        if question.kind is QuestionKind.TEXT:
            text_counts[index] = 0
            latest_texts[index] = []
        else:
            counts[index] = {option: 0 for option in range(len(question.options))}
    for question, choice, total in cells:
        q, c = int(question), int(choice)
        if c == -1 and q in text_counts:
            text_counts[q] = int(total)
        elif q in counts and c in counts[q]:
            counts[q][c] = int(total)
    for question, written in texts:
        if int(question) in latest_texts:
            latest_texts[int(question)] = [str(text) for text in written]
    return Results(
        survey=survey,
        respondents=respondents,
        population=population,
        counts=counts,
        text_counts=text_counts,
        latest_texts=latest_texts,
    )


def check_role(role: str) -> Role:
    """The role names the schema allows; anything else is a programming error."""
    return Role(role)
