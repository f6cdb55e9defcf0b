"""Issue 7: every stored answer is exactly what its author meant, under their name (or none).

Each test drives the HTTP app on both backends and judges effects: what is stored, what the
member and the admin then see, what the export contains.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

import pytest

from support.chat_fixtures import ADMIN_CODE, export_rows, publish
from support.chat_helper import SURVEY_MESSAGE, Person
from surveybot.domain import RosterEntry
from surveybot.resources import APOLOGY
from surveybot.store.base import Store


def to_free_text(member: Person, number: int) -> None:
    member.say(f"참여 {number}")
    member.tap("1. 참석")
    member.say("1,3")
    assert "건의사항" in member.text and "질문 3/3" in member.text


# --- 1. a free-text answer that starts with a command word is the answer ---------------------

COMMAND_LIKE_ANSWERS = [
    "등록 절차가 너무 복잡해요",
    "다음 주에 가능합니다",
    "다음",
    "결과 보고는 금요일에",
    "마감 0001-01-01 00:00",
    "참여 2번 했어요",
    "삭제확인 1",
    "취소",
    "설문목록",
    "메뉴",
    "확인",
    "제출",
    "관리자인증 open-sesame-42",
]


@pytest.mark.parametrize("text", COMMAND_LIKE_ANSWERS)
def test_a_free_text_answer_starting_with_a_command_word_is_kept(
    admin: Person, member: Person, text: str
) -> None:
    number = publish(admin)
    to_free_text(member, number)
    reply = member.say(text)
    assert "[응답 확인]" in reply and f"→ {text}" in reply
    assert "응답이 저장되었습니다" in member.tap("제출")
    assert f"→ {text}" in member.say(f"내응답 {number}")
    # Nothing else happened: the name is unchanged, nobody became admin, nothing was deleted.
    assert "이름: 이회원" in member.say("내정보") and "권한: 회원" in member.text
    rows = export_rows(admin, number)
    assert rows[1][0] == "이회원" and rows[1][-1] == text


def test_the_member_s_next_message_is_not_taken_for_an_earlier_one(
    admin: Person, member: Person
) -> None:
    """`다음 …` used to be caught by paging, and the following message became the answer."""
    number = publish(admin)
    to_free_text(member, number)
    member.say("다음 주 화요일이면 좋겠어요")
    assert "→ 다음 주 화요일이면 좋겠어요" in member.text
    assert "응답이 저장되었습니다" in member.say("제출")


def test_control_words_steer_only_as_the_whole_message(admin: Person, member: Person) -> None:
    number = publish(admin)
    to_free_text(member, number)
    assert "질문 2/3" in member.say("이전")
    member.say("2")
    assert "질문 3/3" in member.text
    assert "[응답 확인]" in member.say("건너뛰기") and "(건너뜀)" in member.text
    assert "질문 3/3" in member.say("back")
    assert "→ 그만 두고 싶지만 참을게요" in member.say("그만 두고 싶지만 참을게요")
    assert "저장하지 않고" in member.say("그만")
    assert "아직 응답하지 않았습니다" in member.say(f"내응답 {number}")


def test_a_choice_step_lets_a_real_command_through_and_keeps_the_draft(
    admin: Person, member: Person
) -> None:
    number = publish(admin)
    member.say(f"참여 {number}")
    member.tap("1. 참석")
    assert "진행 중인 설문" in member.say("설문목록")
    assert "이어서" in member.say(f"참여 {number}") and "질문 2/3" in member.text
    assert "이해하지 못했어요" in member.say("다음 주")
    assert "건너뛸 수 없습니다" in member.say("건너뛰기")
    assert "질문 2/3" in member.text


def test_typed_next_pages_only_right_after_a_paged_reply(
    admin: Person, person: Callable[[str], Person]
) -> None:
    number = publish(admin)
    for i in range(150):
        person(f"p{i}").say(f"등록 아주긴이름을가진사람{i:03d} {100000 + i}")
    first = admin.say(f"미응답 {number}")
    assert "1쪽" in first
    assert "2쪽" in admin.say("다음")
    admin.say("메뉴")
    assert "더 볼 내용이 없습니다" in admin.say("다음")
    # The tap still works on the bubble it belongs to.
    admin.say(f"미응답 {number}")
    assert "2쪽" in admin.tap("다음")


def test_guided_creation_takes_command_words_as_values(admin: Person) -> None:
    admin.say("설문만들기")
    assert "'그만'" in admin.text
    assert "설명" in admin.say("결과 보고 일정 조사")
    assert "'건너뛰기'" in admin.text
    admin.say("다음 주 회의 전에 답해 주세요")
    assert "질문을 한 줄로" in admin.text and "'완료'" in admin.text
    assert "질문 1 추가: 삭제확인 1" in admin.say("삭제확인 1")
    assert "질문 2 추가: 메뉴" in admin.say("메뉴 / 한식, 중식")
    admin.say("완료")
    admin.say("건너뛰기")
    admin.say("아니오")
    preview = admin.text
    assert "제목: 결과 보고 일정 조사" in preview and "설명: 다음 주 회의 전에" in preview
    assert "Q1. 삭제확인 1" in preview and "Q2. 메뉴" in preview
    assert "게시했습니다" in admin.say("확인")


# --- 2. forged quick-reply values never reach the database ------------------------------------

FORGED = [
    {"o": True},
    {"o": False},
    {"o": 99},
    {"o": -1},
    {"o": "0"},
    {"o": 0.0},
    {"o": [0]},
    {"o": None},
    {"o": {"$gt": 0}},
    {"o": 10**30},
    {"s": True, "q": 0, "o": 0},
    {"more": "삭제확인 1", "page": True},
]


@pytest.mark.parametrize("extra", FORGED, ids=repr)
def test_forged_extra_values_are_checked_like_typed_text(
    admin: Person, member: Person, extra: dict[str, object]
) -> None:
    number = publish(admin)
    member.say(f"참여 {number}")
    member.say("참석", extra)  # a tap whose text is an option, with a forged extra
    member.say("한식", extra)
    member.say("좋아요", extra)
    member.say("제출")
    assert APOLOGY not in member.text
    mine = member.say(f"내응답 {number}")
    assert APOLOGY not in mine
    if "→ 참석" in mine:  # taken as typed text: exactly what the text says
        assert "→ 한식" in mine and "→ 좋아요" in mine
    rows = export_rows(admin, number)
    assert len(rows) in (1, 2) and all(len(row) == len(rows[0]) for row in rows)
    assert "설문관리" in admin.say("설문관리") and str(number) in admin.text


# --- 3. a member cannot move their answers onto someone else --------------------------------


def test_a_claimed_roster_entry_stays_with_its_kakao_user(
    admin: Person, person: Callable[[str], Person], store: Store
) -> None:
    store.import_roster([RosterEntry("김관리"), RosterEntry("박지원", "101"), RosterEntry("최민수", "102")])
    admin.say("등록 김관리")
    wrong = person("wrong-key")
    assert "등록되었습니다" in wrong.say("등록 박지원 101")
    number = publish(admin)
    wrong.say(f"참여 {number}")
    wrong.say("2")
    wrong.say("1")
    wrong.say("박지원이 아니라 최민수가 씀")
    wrong.say("제출")
    assert "바꿀 수 없습니다" in wrong.say("등록 최민수 102")
    assert "이름: 박지원" in wrong.say("내정보")
    rows = export_rows(admin, number)
    assert [row[0] for row in rows[1:]] == ["박지원"]
    assert "최민수" in admin.say(f"미응답 {number}")
    # An admin releases the wrong claim; the real 박지원 claims it; the answer stays put.
    assert "관리자만" in wrong.say("등록해제 박지원 101")
    assert "등록 해제했습니다" in admin.say("등록해제 박지원 101")
    real = person("real-key")
    assert "등록되었습니다" in real.say("등록 박지원 101")
    assert "아직 응답하지 않았습니다" in real.say(f"내응답 {number}")
    assert "등록되었습니다" in wrong.say("등록 최민수 102") or "바꿨습니다" in wrong.text
    assert "→ 박지원이 아니라 최민수가 씀" in wrong.say(f"내응답 {number}")
    # The real 박지원 has not answered; the answer given under that name is wrong-key's.
    assert "박지원" in admin.say(f"미응답 {number}")
    assert [row[0] for row in export_rows(admin, number)[1:]] == ["박지원"]


def test_without_a_roster_a_rename_keeps_earlier_answers_under_the_old_name(
    admin: Person, member: Person
) -> None:
    number = publish(admin)
    member.say(f"참여 {number}")
    for text in ("1", "1", "좋아요", "제출"):
        member.say(text)
    assert "이름을 바꿨습니다" in member.say("등록 김다른")
    assert [row[0] for row in export_rows(admin, number)[1:]] == ["이회원"]


# --- 7. smaller ones --------------------------------------------------------------------------


def test_confirmations_need_their_question_first(admin: Person, member: Person) -> None:
    number = publish(admin)
    member.say(f"참여 {number}")
    for text in ("1", "1", "좋아요", "제출"):
        member.say(text)
    assert "먼저" in member.say(f"취소확인 {number}")
    assert "→ 참석" in member.say(f"내응답 {number}")
    assert "먼저" in admin.say(f"삭제확인 {number}")
    assert f"{number}. 12월 송년회" in admin.say("설문관리")
    # Asking about one survey does not confirm another.
    other = publish(admin)
    admin.say(f"삭제 {number}")
    assert "먼저" in admin.say(f"삭제확인 {other}")
    assert "삭제했습니다" in admin.say(f"삭제확인 {number}")


def test_wrong_admin_codes_are_limited_for_the_whole_bot(
    person: Callable[[str], Person], store: Store
) -> None:
    guessers = [person(f"guesser-{i}") for i in range(21)]
    for i, guesser in enumerate(guessers[:20]):
        guesser.say(f"등록 추측{i}")
        assert "올바르지 않습니다" in guesser.say("관리자인증 wrong-code-1")
    last = guessers[20]
    last.say("등록 마지막")
    # Even the right code waits: 20 wrong ones an hour is the bot's limit, whoever sent them.
    assert "잠시 막혔습니다" in last.say(f"관리자인증 {ADMIN_CODE}")
    assert "권한: 회원" in last.say("내정보")


@pytest.mark.parametrize(
    "name",
    ["홍\u200b길동", "홍길동\u202e", "\u2066홍길동\u2069", "홍길동\ufeff"],
    ids=["zero-width", "bidi", "isolate", "bom"],
)
def test_names_with_hidden_characters_are_refused(person: Callable[[str], Person], name: str) -> None:
    someone = person("hidden")
    assert "보이지 않는 문자" in someone.say(f"등록 {name}")
    assert "먼저 이름을 등록" in someone.say("내정보")


def test_control_characters_are_dropped_before_anything_reads_them(
    person: Callable[[str], Person], store: Store
) -> None:
    someone = person("bell")
    assert "홍길동님, 등록되었습니다" in someone.say("등록 홍\x07길\x00동")
    assert [user.name for user in store.find_users("홍길동")] == ["홍길동"]


def test_names_are_stored_in_one_normal_form(
    person: Callable[[str], Person], store: Store
) -> None:
    store.import_roster([RosterEntry("한지민")])
    decomposed = unicodedata.normalize("NFD", "한지민")
    assert decomposed != "한지민"
    someone = person("mac-user")
    assert "등록되었습니다" in someone.say(f"등록 {decomposed}")
    assert store.find_users("한지민")


def test_a_name_of_two_words_is_not_a_name_and_a_number(
    admin: Person, person: Callable[[str], Person]
) -> None:
    john = person("john")
    assert "등록되었습니다" in john.say("등록 John Smith")
    assert "관리자로 바꿨습니다" in admin.say("관리자지정 John Smith")
    assert "권한: 관리자" in john.say("내정보")


def test_a_deadline_in_year_one_gets_a_clear_error(admin: Person) -> None:
    admin.say(SURVEY_MESSAGE.replace("마감 2026-12-10 18:00", "마감 0001-01-01 00:00"))
    assert "이미 지났습니다" in admin.text and APOLOGY not in admin.text
    admin.say("설문만들기")
    for text in ("제목", "건너뛰기", "질문", "완료"):
        admin.say(text)
    assert "이미 지났습니다" in admin.say("0001-01-01 00:00")
