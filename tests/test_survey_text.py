"""Reading a survey written in one message."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from surveybot.conversation.survey_text import SurveyTextError, parse_question, parse_survey_text
from surveybot.domain import QuestionKind

NOW = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def test_the_example_of_the_issue() -> None:
    lines = [
        "설명 12월 20일 18시, 본관 식당",
        "Q 참석하시나요? / 참석, 불참",
        "Q 선호 메뉴 (복수) / 한식, 중식, 양식",
        "Q 건의사항",
        "마감 2026-12-10 18:00",
        "익명",
    ]
    draft = parse_survey_text("12월 송년회 참석 조사", lines, NOW)
    assert draft.title == "12월 송년회 참석 조사"
    assert draft.description == "12월 20일 18시, 본관 식당"
    assert [q.kind for q in draft.questions] == [
        QuestionKind.SINGLE,
        QuestionKind.MULTI,
        QuestionKind.TEXT,
    ]
    assert draft.questions[1].title == "선호 메뉴"
    assert draft.questions[1].options == ("한식", "중식", "양식")
    assert draft.deadline == datetime(2026, 12, 10, 9, 0, tzinfo=UTC)
    assert draft.anonymous


def test_english_keywords_and_question_numbers() -> None:
    lines = [
        "desc hello",
        "q1. Coming? / yes, no",
        "Q2) Food (multi) / a, b",
        "due 2026-12-01",
        "anonymous",
    ]
    draft = parse_survey_text("Party", lines, NOW)
    assert [q.title for q in draft.questions] == ["Coming?", "Food"]
    assert draft.deadline == datetime(2026, 12, 1, 14, 59, tzinfo=UTC)  # 23:59 KST


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("좋아요? / 네", "2~10개"),
        ("좋아요? / " + ", ".join(str(i) + "번" for i in range(11)), "2~10개"),
        ("좋아요? / 네,, 아니오", "빈 보기"),
        ("좋아요? / 네, 네", "같은 보기"),
        ("메뉴 (복수)", "보기가 필요"),
        (" / 네, 아니오", "질문 내용"),
        ("좋아요? / 네, " + "가" * 51, "50자"),
    ],
)
def test_bad_questions(text: str, message: str) -> None:
    with pytest.raises(SurveyTextError, match=message):
        parse_question(text, line=4)


@pytest.mark.parametrize(
    ("lines", "line"),
    [
        (["Q 좋아요? / 네, 아니오", "마감 2026-02-30 10:00"], 3),
        (["Q 좋아요? / 네, 아니오", "마감 내일"], 3),
        (["Q 좋아요? / 네, 아니오", "마감 2025-01-01 10:00"], 3),
        (["무엇", "Q 좋아요? / 네, 아니오"], 2),
        (["설명 " + "가" * 401, "Q 좋아요? / 네, 아니오"], 2),
    ],
)
def test_errors_name_the_line(lines: list[str], line: int) -> None:
    with pytest.raises(SurveyTextError) as error:
        parse_survey_text("제목", lines, NOW)
    assert error.value.line == line
    assert str(error.value).startswith(f"{line}번째 줄")


def test_question_count_limits() -> None:
    with pytest.raises(SurveyTextError, match="질문이 없습니다"):
        parse_survey_text("제목", ["설명 없음"], NOW)
    with pytest.raises(SurveyTextError, match="20개까지"):
        parse_survey_text("제목", [f"Q 질문 {i}" for i in range(21)], NOW)
