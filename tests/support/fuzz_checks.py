"""The fuzz test's checks: what every reply and every stored answer must be (test_fuzz.py)."""

from __future__ import annotations

import json
import sqlite3
import unicodedata
from typing import Any, NamedTuple

import psycopg

from devstack.openbuilder import assert_valid_reply
from support.keys import opened_answers
from surveybot import resources
from surveybot.kakao import reply as kakao_reply
from surveybot.store.base import Store
from surveybot.store.postgres import PostgresStore
from surveybot.store.sqlite import SqliteStore

APOLOGIES = (resources.APOLOGY, kakao_reply.APOLOGY)
# Re-stated from the README, not imported: the checks must not share the app's bugs.
FREE_TEXT_MAX = 500
SKIP_WORDS = {"건너뛰기", "skip"}
# Every command of the README (Korean and English, spaces removed). Sent alone, without an
# argument, at a free-text question it may be taken as the command; anything longer is an answer.
BARE_COMMANDS = {
    "메뉴", "도움말", "처음", "menu", "help", "start", "등록", "register", "내정보", "me",
    "설문목록", "surveys", "참여", "join", "내응답", "mine", "취소", "cancel", "취소확인",
    "confirmcancel", "관리자인증", "admin-code", "admincode", "설문만들기", "create", "설문관리",
    "manage", "결과", "results", "미응답", "pending", "마감", "close", "재개", "reopen", "삭제",
    "delete", "삭제확인", "confirmdelete", "다운로드", "export", "관리자지정", "grant",
    "관리자해제", "revoke", "명단", "roster", "다음", "next", "이전", "back", "그만", "stop",
    "제출", "submit", "확인", "confirm", "건너뛰기", "skip", "미리보기", "preview", "완료", "done",
}  # fmt: skip

INVISIBLE = {"Cc", "Cf", "Zs", "Zl", "Zp"}  # control, format (zero-width, bidi), spaces, breaks


# --- the checks, one function each so Hypothesis tells the failures apart ---------------------


def check_status(status: int, body: str, where: str) -> None:
    assert status == 200, f"HTTP {status} for {where}: {body[:300]}"


def check_limits(reply: Any, where: str) -> None:
    try:
        assert_valid_reply(reply)
    except AssertionError as error:
        raise AssertionError(f"{error}\nfor {where}") from None


def check_no_apology(reply: Any, where: str) -> None:
    raw = json.dumps(reply, ensure_ascii=False)
    assert not any(text in raw for text in APOLOGIES), f"apology for {where}"


def check_quick_reply(reply: Any, where: str) -> None:
    assert reply["template"].get("quickReplies"), f"no quick reply for {where}"


def check_free_text_taken(lost: bool, where: str) -> None:
    assert not lost, f"a free-text answer was not taken as the answer: {where}"


def answer_problem(kind: str, options: int, answer: Any) -> str | None:
    """Why `answer` cannot be the answer to a question of `kind` with `options` options."""
    if kind == "single":
        if type(answer) is not int or not 0 <= answer < options:
            return f"not an option index in 0..{options - 1}"
    elif kind == "multi":
        if not isinstance(answer, list) or not answer:
            return "not a non-empty list"
        if any(type(a) is not int or not 0 <= a < options for a in answer):
            return f"an element is not an option index in 0..{options - 1}"
        if len(set(answer)) != len(answer):
            return "repeated options"
    elif kind == "text":
        if type(answer) is not str or len(answer) > FREE_TEXT_MAX or "\x00" in answer:
            return f"not a text of at most {FREE_TEXT_MAX} characters without NUL"
    else:
        return f"unknown question kind {kind!r}"
    return None


def row_problems(survey_id: int, answers: Any, questions: Any) -> list[str]:
    if not isinstance(questions, list):
        return [f"survey {survey_id}: no questions for a response"]
    if not isinstance(answers, list) or len(answers) != len(questions):
        return [f"survey {survey_id}: {answers!r} is not one answer per question"]
    problems = []
    for index, (question, answer) in enumerate(zip(questions, answers, strict=True)):
        why = answer_problem(question.get("kind"), len(question.get("options") or []), answer)
        if why:
            problems.append(f"survey {survey_id} question {index + 1}: {answer!r}: {why}")
    return problems


def check_stored_answers(rows: list[Row]) -> None:
    problems = [p for row in rows for p in row_problems(row.survey, row.answers, row.questions)]
    assert not problems, "stored answers that do not fit their question:\n  " + "\n  ".join(problems)


def check_texts_kept(rows: list[Row], expected: dict[tuple[str, int], dict[int, str]]) -> None:
    problems = []
    for row in rows:
        for index, typed in expected.get((row.user_key or "", row.survey), {}).items():
            stored = row.answers[index] if index < len(row.answers) else None
            if not isinstance(stored, str) or not kept(typed, stored):
                problems.append(f"{row.user_key} survey {row.survey} question {index + 1}: "
                                f"typed {typed[:80]!r}, stored {str(stored)[:80]!r}")  # fmt: skip
    assert not problems, "submitted free-text answers not stored as typed:\n  " + "\n  ".join(
        problems
    )


def kept(typed: str, stored: str) -> bool:
    """Is `stored` what was typed (or the skip it asked for)?"""
    if canonical(stored) == canonical(typed):
        return True
    return canonical(typed).casefold() in SKIP_WORDS and stored == ""


def canonical(text: str) -> str:
    """The text as compared: the app may normalise it and drop spaces and invisible characters."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(c for c in text if unicodedata.category(c) not in INVISIBLE)


# --- the database, read and reset behind the app's back ------------------------------------------


class Row(NamedTuple):
    survey: int
    user_key: str | None  # None for anonymous responses
    answers: Any
    questions: Any


ROWS_SQL = (
    "SELECT r.survey_id, u.user_key, r.answers, s.questions, r.respondent FROM responses r "
    "LEFT JOIN surveys s ON s.id = r.survey_id LEFT JOIN users u ON u.id = r.user_id ORDER BY r.id"
)
OPEN_SQL = "SELECT 1 FROM surveys WHERE id = %s AND closed_at IS NULL"
# Children of surveys and users go with them (ON DELETE CASCADE / SET NULL).
RESET_SQL = ("DELETE FROM surveys", "DELETE FROM sessions", "DELETE FROM admin_code_failures",
             "DELETE FROM users")  # fmt: skip


class Database:
    """A connection of the test's own to the store's database."""

    def __init__(self, store: Store) -> None:
        self._sqlite = isinstance(store, SqliteStore)
        self._open_sql = OPEN_SQL.replace("%s", "?") if self._sqlite else OPEN_SQL
        if isinstance(store, SqliteStore):
            self._conn: Any = sqlite3.connect(store.path, isolation_level=None)
            self._conn.execute("PRAGMA foreign_keys = ON")
        else:
            assert isinstance(store, PostgresStore)
            self._conn = psycopg.connect(store.url, autocommit=True)

    def reset(self) -> None:
        for statement in RESET_SQL:
            self._conn.execute(statement)

    def rows(self) -> list[Row]:
        found = self._conn.execute(ROWS_SQL).fetchall()
        # Sealed texts opened (issue 13): the promises are about what was answered.
        decode = json.loads if self._sqlite else (lambda value: value)  # jsonb arrives decoded
        return [
            Row(s, k, opened_answers(s, who, a), None if q is None else decode(q))
            for s, k, a, q, who in found
        ]

    def is_open(self, survey: int) -> bool:
        return bool(self._conn.execute(self._open_sql, (survey,)).fetchall())

    def close(self) -> None:
        self._conn.close()


# --- what a reply shows of the answering flow ----------------------------------------------------
