"""Read a survey written in one chat message (or piece by piece in the guided flow).

The first line is 설문만들기 and the title; then optional 설명, one line a question (Q title, then
/ and options for a choice; (복수) for several), optional 마감 date and 익명. creating.EXAMPLE is a
whole one, as the bot shows it to admins.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

from surveybot.domain import (
    DESCRIPTION_MAX,
    KST,
    OPTION_MAX,
    OPTIONS_MAX,
    OPTIONS_MIN,
    QUESTION_TITLE_MAX,
    QUESTIONS_MAX,
    TITLE_MAX,
    Question,
    QuestionKind,
    SurveyDraft,
)
from surveybot.korean import quoted


class SurveyTextError(ValueError):
    """A line of the survey text is malformed; `line` is 1-based, 0 when no line is at fault."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line

    def __str__(self) -> str:
        return f"{self.line}번째 줄: {self.message}" if self.line else self.message


_QUESTION = re.compile(r"^(?:q|질문)\s*\d*\s*[.):]?\s+(.*)$", re.IGNORECASE)
_KEYWORD = re.compile(r"^(설명|desc|마감|due|알림|remind)(?:\s+(.*))?$", re.IGNORECASE)
_MULTI = re.compile(r"\((?:복수|multi)\)", re.IGNORECASE)
_DATE = re.compile(r"^(\d{4})[-./](\d{1,2})[-./](\d{1,2})\.?(?:\s+(\d{1,2}):(\d{2}))?$")
_ANONYMOUS = {"익명", "anonymous"}
_NOTICE = {"공지", "notice"}
# "24시간 전", "2 hours before", "30분", "1d": a time before the deadline.
_OFFSET = re.compile(
    r"^(\d{1,4})\s*(일|days?|d|시간|hours?|h|분|minutes?|mins?|m)\s*(?:전|before)?$", re.IGNORECASE
)
_UNIT_MINUTES = {"일": 1440, "d": 1440, "시간": 60, "h": 60, "분": 1, "m": 1}
REMINDERS_MAX = 3
REMINDER_MINUTES = (10, 30 * 1440)  # from 10 minutes to 30 days before the deadline


def parse_survey_text(title: str, lines: list[str], now: datetime) -> SurveyDraft:
    """Build a draft from the title and the following lines; raise SurveyTextError naming a line.

    Line numbers count the command line as line 1, as the admin sees the message.
    """
    title = check_title(title, line=1)
    draft = SurveyDraft(title=title, questions=())
    questions: list[Question] = []
    for number, raw in enumerate(lines, start=2):
        line = raw.strip()
        if not line:
            continue
        if line.casefold() in _ANONYMOUS:
            draft = replace(draft, anonymous=True)
        elif line.casefold() in _NOTICE:
            draft = replace(draft, notice=True)
        elif (match := _QUESTION.match(line)) is not None:
            questions.append(parse_question(match.group(1), line=number))
        elif (match := _KEYWORD.match(line)) is not None:
            draft = _apply_keyword(draft, match.group(1), match.group(2) or "", number, now)
        else:
            raise SurveyTextError(
                "이해할 수 없는 줄입니다. 'Q 질문 / 보기1, 보기2', '설명 ...', "
                "'마감 YYYY-MM-DD HH:MM', '익명', '알림 24시간 전', '공지' 중 하나로 써 주세요.",
                number,
            )
    if not questions:
        raise SurveyTextError(
            "질문이 없습니다. 'Q 질문 / 보기1, 보기2' 줄을 하나 이상 넣어 주세요."
        )
    if len(questions) > QUESTIONS_MAX:
        raise SurveyTextError(f"질문은 {QUESTIONS_MAX}개까지입니다 ({len(questions)}개).")
    if draft.reminders and draft.deadline is None:
        raise SurveyTextError(NEEDS_DEADLINE)
    return replace(draft, questions=tuple(questions))


def question_body(line: str) -> str:
    """A question line without its optional `Q` / `질문` prefix."""
    match = _QUESTION.match(line.strip())
    return match.group(1) if match else line.strip()


def _apply_keyword(
    draft: SurveyDraft, keyword: str, value: str, line: int, now: datetime
) -> SurveyDraft:
    if keyword.casefold() in {"설명", "desc"}:
        return replace(draft, description=check_description(value, line))
    if keyword.casefold() in {"알림", "remind"}:
        notice, minutes = parse_alerts(value, line)
        return replace(draft, notice=draft.notice or notice, reminders=minutes)
    return replace(draft, deadline=parse_deadline(value, now, line))


def check_title(title: str, line: int = 0) -> str:
    title = " ".join(title.split())
    if not title:
        raise SurveyTextError("설문 제목이 없습니다. '설문만들기 제목' 처럼 써 주세요.", line)
    if len(title) > TITLE_MAX:
        raise SurveyTextError(f"제목은 {TITLE_MAX}자까지입니다 ({len(title)}자).", line)
    return title


def check_description(text: str, line: int = 0) -> str:
    text = text.strip()
    if len(text) > DESCRIPTION_MAX:
        raise SurveyTextError(f"설명은 {DESCRIPTION_MAX}자까지입니다 ({len(text)}자).", line)
    return text


def parse_question(text: str, line: int = 0) -> Question:
    """`제목 [(복수)] [/ 보기1, 보기2]`: options make it a choice, none make it free text."""
    head, slash, tail = text.partition("/")
    multi = _MULTI.search(head) is not None
    title = " ".join(_MULTI.sub(" ", head).split())
    if not title:
        raise SurveyTextError("질문 내용이 없습니다.", line)
    if len(title) > QUESTION_TITLE_MAX:
        raise SurveyTextError(f"질문은 {QUESTION_TITLE_MAX}자까지입니다 ({len(title)}자).", line)
    if not slash:
        if multi:
            raise SurveyTextError("복수 선택 질문에는 '/ 보기1, 보기2' 보기가 필요합니다.", line)
        return Question(QuestionKind.TEXT, title)
    options = tuple(" ".join(part.split()) for part in re.split(r"[,，]", tail))
    return Question(
        QuestionKind.MULTI if multi else QuestionKind.SINGLE, title, _check_options(options, line)
    )


def _check_options(options: tuple[str, ...], line: int) -> tuple[str, ...]:
    if any(not option for option in options):
        raise SurveyTextError("빈 보기가 있습니다. 보기는 쉼표로 구분해 주세요.", line)
    if not OPTIONS_MIN <= len(options) <= OPTIONS_MAX:
        raise SurveyTextError(
            f"보기는 {OPTIONS_MIN}~{OPTIONS_MAX}개여야 합니다 ({len(options)}개).", line
        )
    if len({option.casefold() for option in options}) != len(options):
        raise SurveyTextError("같은 보기가 두 번 있습니다.", line)
    longest = max(len(option) for option in options)
    if longest > OPTION_MAX:
        raise SurveyTextError(f"보기는 {OPTION_MAX}자까지입니다 ({longest}자).", line)
    return options


def parse_deadline(text: str, now: datetime, line: int = 0) -> datetime:
    """`YYYY-MM-DD HH:MM` in Korea time (a date alone means 23:59), in the future, as UTC."""
    match = _DATE.match(text.strip())
    if match is None:
        raise SurveyTextError("마감은 'YYYY-MM-DD HH:MM' (한국 시간) 형식으로 써 주세요.", line)
    year, month, day = (int(match.group(i)) for i in (1, 2, 3))
    hour, minute = (
        (23, 59) if match.group(4) is None else (int(match.group(4)), int(match.group(5)))
    )
    try:
        local = datetime(year, month, day, hour, minute, tzinfo=KST)
    except ValueError:
        raise SurveyTextError("없는 날짜나 시각입니다.", line) from None
    if year <= now.year - 1:
        # Also spares datetime an overflow: 0001-01-01 in Korea is before year 1 in UTC.
        raise SurveyTextError("마감 시각이 이미 지났습니다.", line)
    deadline = local.astimezone(UTC)
    if deadline <= now:
        raise SurveyTextError("마감 시각이 이미 지났습니다.", line)
    return deadline


NEEDS_DEADLINE = "마감 전 알림에는 마감이 필요합니다. '마감 YYYY-MM-DD HH:MM' 줄을 넣어 주세요."


def parse_alerts(text: str, line: int = 0) -> tuple[bool, tuple[int, ...]]:
    """`공지, 24시간 전, 2시간 전`: (notice, minutes before the deadline, latest first)."""
    notice = False
    minutes: set[int] = set()
    for part in re.split(r"[,，]", text):
        piece = " ".join(part.split())
        if not piece:
            continue
        if piece.casefold() in _NOTICE:
            notice = True
            continue
        match = _OFFSET.match(piece)
        if match is None:
            raise SurveyTextError(
                f"알림 시각 {quoted(piece, '을/를')} 알 수 없습니다. '24시간 전, 30분 전, 2일 전' "
                "처럼 써 주세요.",
                line,
            )
        unit = match.group(2).casefold()
        value = int(match.group(1)) * next(v for k, v in _UNIT_MINUTES.items() if unit.startswith(k))
        low, high = REMINDER_MINUTES
        if not low <= value <= high:
            raise SurveyTextError("알림은 마감 10분 전부터 30일 전 사이로 정해 주세요.", line)
        minutes.add(value)
    if len(minutes) > REMINDERS_MAX:
        raise SurveyTextError(f"마감 전 알림은 {REMINDERS_MAX}번까지입니다.", line)
    return notice, tuple(sorted(minutes, reverse=True))


def offset_label(minutes: int) -> str:
    """Minutes before the deadline as people say it: 2일 전, 24시간 전, 90분 전."""
    if minutes % 1440 == 0 and minutes >= 2 * 1440:
        return f"{minutes // 1440}일 전"
    if minutes % 60 == 0:
        return f"{minutes // 60}시간 전"
    return f"{minutes}분 전"
