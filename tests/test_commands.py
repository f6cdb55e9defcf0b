"""Command parsing: Korean first, English aliases, case and spacing tolerated."""

from __future__ import annotations

import pytest

from surveybot.conversation.commands import ALIASES, Command, parse_command


@pytest.mark.parametrize(
    ("text", "name", "arg"),
    [
        ("메뉴", "menu", ""),
        ("  HELP ", "menu", ""),
        ("등록 홍길동 1234", "register", "홍길동 1234"),
        ("register   Hong   Gildong", "register", "Hong Gildong"),
        ("참여 3", "join", "3"),
        ("참여3", "join", "3"),
        ("참여3번", "join", "3번"),
        ("결과 3번", "results", "3번"),
        ("JOIN 3", "join", "3"),
        ("취소확인 3", "confirm_cancel", "3"),
        ("취소 확인 3", "confirm_cancel", "3"),
        ("confirm  cancel 3", "confirm_cancel", "3"),
        ("Confirm Delete 4", "confirm_delete", "4"),
        ("관리자 지정 김민수", "grant", "김민수"),
        ("admin-code abc", "admin_code", "abc"),
        ("admin code abc", "admin_code", "abc"),
        ("설문 목록", "surveys", ""),
    ],
)
def test_parses_commands(text: str, name: str, arg: str) -> None:
    command = parse_command(text)
    assert command is not None
    assert (command.name, command.arg) == (name, arg)


@pytest.mark.parametrize("text", ["", "   ", "안녕하세요", "참석", "1,3", "12월 송년회"])
def test_other_text_is_not_a_command(text: str) -> None:
    assert parse_command(text) is None


def test_multi_line_text_keeps_the_following_lines() -> None:
    command = parse_command("설문만들기 제목\nQ 하나 / 가, 나\n익명\n")
    assert command == Command("create", "제목", "Q 하나 / 가, 나\n익명")


@pytest.mark.parametrize(
    ("arg", "number"),
    [
        ("3", 3),
        ("0", None),
        ("-1", None),
        ("3 4", None),
        ("x", None),
        ("", None),
        ("99999999999", None),
        ("3번", 3),  # as people say it
        ("번", None),
        ("3번번", None),
        ("３번", 3),  # a full-width three, as some keyboards type it
    ],
)
def test_survey_number(arg: str, number: int | None) -> None:
    assert Command("join", arg).number == number


def test_every_command_of_the_issue_has_korean_and_english() -> None:
    names = set(ALIASES.values())
    for name in names:
        spellings = [key for key, value in ALIASES.items() if value == name]
        assert any(key.isascii() for key in spellings), name
        assert any(not key.isascii() for key in spellings), name
