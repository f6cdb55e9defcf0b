"""Conversations through the HTTP app: creating surveys, answering them, anonymous surveys."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from support.chat_fixtures import answer_all, export_rows, publish
from support.chat_helper import SURVEY_MESSAGE, Clock, Person
from support.keys import opened_answers
from support.store_helpers import raw
from surveybot.store.base import Store

# --- creating surveys ---------------------------------------------------------------------------


def test_create_in_one_message_then_confirm_twice_publishes_once(
    admin: Person, store: Store
) -> None:
    admin.say(SURVEY_MESSAGE + "\n익명")
    preview = admin.text
    assert "제목: 12월 송년회 참석 조사" in preview
    assert "Q2. 선호 메뉴 (복수 선택)" in preview
    assert "마감: 2026-12-10(목) 18:00" in preview
    assert "익명: 예" in preview
    confirm = admin.quick("확인")
    assert "게시했습니다" in admin.say(confirm["messageText"], confirm.get("extra"))
    # A double tap on 확인 arrives after the draft is gone: nothing more is published.
    assert "게시" not in admin.say(confirm["messageText"], confirm.get("extra"))
    assert [listing.survey.id for listing in store.list_surveys()] == [1]
    survey = store.get_survey(1)
    assert survey is not None and survey.anonymous and len(survey.questions) == 3


@pytest.mark.parametrize(
    ("message", "fault"),
    [
        ("설문만들기", None),
        ("설문만들기 제목\nQ 질문 / 하나", "2번째 줄"),
        ("설문만들기 제목\n이상한 줄", "2번째 줄"),
        ("설문만들기 제목\nQ 좋아요? / 네, 아니오\n마감 2020-01-01 10:00", "3번째 줄"),
        ("설문만들기 제목\nQ 좋아요? / 네, 네", "2번째 줄"),
        ("설문만들기 제목\nQ 메뉴 (복수)", "2번째 줄"),
        ("설문만들기 제목만", "질문이 없습니다"),
        ("설문만들기 " + "가" * 51 + "\nQ 자유", "1번째 줄"),
    ],
)
def test_malformed_survey_message_names_the_line(
    admin: Person, store: Store, message: str, fault: str | None
) -> None:
    reply = admin.say(message)
    if fault is None:  # no text at all starts the guided flow instead
        assert "설문 제목을 보내 주세요" in reply
    else:
        assert "설문을 만들 수 없습니다" in reply and fault in reply
    assert store.list_surveys() == []


def test_guided_creation_with_back_and_skip(admin: Person, store: Store, clock: Clock) -> None:
    admin.say("설문만들기")
    admin.say("유니폼 사이즈")
    assert "설명을 보내" in admin.text
    admin.tap("건너뛰기")
    admin.say("사이즈 / S, M, L, XL")
    assert "질문 1 추가" in admin.text
    admin.say("Q 색상 (복수) / 검정, 흰색")
    admin.tap("이전")  # drops the last question
    admin.say("색상 / 검정, 흰색")
    admin.tap("완료")
    assert "마감 일시" in admin.say("내일")  # not a date: asked again
    admin.say("2026-12-01 09:00")
    admin.tap("아니오")
    assert "제목: 유니폼 사이즈" in admin.text and "Q2. 색상 (하나 선택)" in admin.text
    assert "게시했습니다" in admin.tap("확인")
    survey = store.get_survey(1)
    assert survey is not None and [q.title for q in survey.questions] == ["사이즈", "색상"]
    assert survey.deadline is not None and survey.deadline.hour == 0  # 09:00 KST is 00:00 UTC


def test_guided_creation_can_be_abandoned(admin: Person, store: Store) -> None:
    admin.say("create")
    admin.say("제목")
    assert "그만두었습니다" in admin.say("그만")
    assert "진행 중인 작업이 없습니다" in admin.say("확인")
    assert store.list_surveys() == []


def test_menu_during_creation_keeps_the_draft(admin: Person) -> None:
    admin.say(SURVEY_MESSAGE)
    assert "무엇을 할까요" in admin.say("메뉴")
    assert "게시했습니다" in admin.say("확인")


# --- answering ----------------------------------------------------------------------------------


def test_member_answers_checks_withdraws_and_answers_again(admin: Person, member: Person) -> None:
    number = publish(admin)
    assert "⬜ 미응답" in member.say("설문목록")
    assert "12월 송년회" in member.say(f"참여 {number}")
    assert "질문 1/3" in member.text and "1) 참석" in member.text
    assert "응답이 저장되었습니다" in answer_all(member, number)
    assert "✅ 응답함" in member.say("surveys")
    mine = member.say(f"내응답 {number}")
    assert "→ 참석" in mine and "→ 한식, 양식" in mine and "주차 공간" in mine
    assert "철회할까요" in member.say(f"취소 {number}")
    assert "철회했습니다" in member.tap("철회 확인")
    assert "아직 응답하지 않았습니다" in member.say(f"내응답 {number}")
    assert "먼저 '취소 1'을 보내" in member.say(f"취소확인 {number}")
    member.say(f"join {number}")
    member.say("불참")
    member.say("중식")
    member.tap("건너뛰기")
    member.say("submit")
    mine = member.say(f"mine {number}")
    assert "→ 불참" in mine and "→ 중식" in mine and "(건너뜀)" in mine


def test_answering_replaces_the_earlier_answer(admin: Person, member: Person, store: Store) -> None:
    number = publish(admin)
    answer_all(member, number)
    member.say(f"참여 {number}")
    member.say("2")
    member.say("2 3")
    member.say("없음")
    member.say("제출")
    results = store.results(number)
    assert results is not None and results.respondents == 1
    assert results.counts[0] == {0: 0, 1: 1}
    assert results.counts[1] == {0: 0, 1: 1, 2: 1}


def test_back_and_stop_while_answering(admin: Person, member: Person, store: Store) -> None:
    number = publish(admin)
    member.say(f"참여 {number}")
    member.say("참석")
    assert "질문 2/3" in member.text
    member.tap("이전")
    assert "질문 1/3" in member.text
    assert "저장하지 않고" in member.say("그만")
    assert store.get_response(number, "u:2") is None
    member.say(f"참여 {number}")
    assert "저장하지 않고" in member.say("취소")  # 취소 with no number leaves the flow


def test_bad_answers_are_explained(admin: Person, member: Person) -> None:
    number = publish(admin)
    member.say(f"참여 {number}")
    assert "이해하지 못했어요" in member.say("7")
    assert "이해하지 못했어요" in member.say("1,2")  # single choice takes one
    assert "이해하지 못했어요" in member.say("제출")
    member.say("1")
    assert "이해하지 못했어요" in member.say("한식, 피자")
    member.say("한식")
    assert "너무 깁니다" in member.say("가" * 501)


def test_double_tapped_answer_is_applied_once(admin: Person, member: Person) -> None:
    number = publish(admin)
    member.say(f"참여 {number}")
    tap = member.quick("2. 불참")
    member.say(tap["messageText"], tap["extra"])
    assert "질문 2/3" in member.text
    # The same tap again: recognised as stale, question 2 stays current.
    assert "이미 처리된 선택" in member.say(tap["messageText"], tap["extra"])
    assert "질문 2/3" in member.text
    member.say("1")
    member.tap("건너뛰기")
    member.tap("제출")
    assert "→ 불참" in member.say(f"내응답 {number}")


def test_general_command_mid_answer_keeps_the_draft(admin: Person, member: Person) -> None:
    number = publish(admin)
    member.say(f"참여 {number}")
    member.say("1")
    assert "[진행 중인 설문]" in member.say("설문목록")
    assert "이어서 응답합니다" in member.say(f"참여 {number}")
    assert "질문 2/3" in member.text


def test_closed_survey_refuses_answers_changes_and_withdrawals(
    admin: Person, member: Person, store: Store
) -> None:
    number = publish(admin)
    answer_all(member, number)
    member.say(f"참여 {number}")
    member.say("2")
    assert f"{number}번 설문을 마감했습니다" in admin.say(f"마감 {number}")
    assert "이미 마감" in admin.say(f"close {number}")
    assert "마감되었습니다" in member.say("1")  # mid-flow: the answer is not taken
    assert "마감되었습니다" in member.say(f"참여 {number}")
    assert "철회할 수 없습니다" in member.say(f"취소 {number}")
    # The refused 취소 left no confirmation to act on.
    assert f"먼저 '취소 {number}'을" in member.say(f"취소확인 {number}")
    assert "→ 참석" in member.say(f"내응답 {number}")
    assert "진행 중인 설문이 없습니다" in member.say("설문목록")
    assert "다시 열었습니다" in admin.say(f"재개 {number}")
    assert "이미 진행 중" in admin.say(f"reopen {number}")


def test_deadline_closes_the_survey_with_nobody_touching_it(
    admin: Person, member: Person, clock: Clock
) -> None:
    number = publish(admin)  # due 2026-12-10 18:00 KST
    clock.now = clock.now.replace(month=12, day=10, hour=8, minute=55)  # 17:55 KST
    member.say(f"참여 {number}")
    clock.advance(minutes=5)  # 18:00 KST: the deadline, the conversation still fresh
    assert "마감되었습니다" in member.say("1")
    assert "마감됨" in admin.say("설문관리")
    reopened = admin.say(f"재개 {number}")
    assert "지난 마감 시각은 지웠으니" in reopened
    member.say(f"참여 {number}")
    assert "질문 1/3" in member.text


def test_deleted_survey_mid_answer(admin: Person, member: Person) -> None:
    number = publish(admin)
    member.say(f"참여 {number}")
    assert "삭제할까요" in admin.say(f"삭제 {number}")
    assert "삭제했습니다" in admin.tap("삭제 확인")
    # The confirmation was used: a second 삭제확인 (a double tap) deletes nothing more.
    assert f"먼저 '삭제 {number}'을" in admin.say(f"삭제확인 {number}")
    assert "설문이 없습니다" in member.say("1")
    assert "설문이 없습니다" in member.say(f"참여 {number}")


@pytest.mark.parametrize(
    "command", ["참여", "내응답", "취소", "결과", "미응답", "마감", "다운로드"]
)
def test_commands_without_a_number_ask_for_one(admin: Person, command: str) -> None:
    assert "설문 번호를 함께" in admin.say(command)
    assert "설문이 없습니다" in admin.say(f"{command} 99")


def test_glued_numbers_and_spaced_commands(admin: Person, member: Person) -> None:
    number = publish(admin)
    assert "질문 1/3" in member.say(f"참여{number}")
    member.say("그만")
    assert "[진행 중인 설문]" in member.say("설문 목록")
    assert "[내 정보]" in member.say("  내정보  ")


# --- anonymous surveys --------------------------------------------------------------------------


def test_anonymous_survey_says_so_and_keeps_no_link(
    admin: Person, member: Person, person: Callable[[str], Person]
) -> None:
    number = publish(admin, SURVEY_MESSAGE + "\n익명")
    assert "익명 설문입니다" in member.say(f"참여 {number}")
    member.say("1")
    member.say("1")
    member.say("좋아요")
    assert "익명으로 저장" in member.say("제출")
    assert "→ 참석" in member.say(f"내응답 {number}")
    assert "김관리" in admin.say(f"미응답 {number}") and "이회원" not in admin.text
    # Participation is live; what people chose is not while answers can still arrive.
    results = admin.say(f"결과 {number}")
    assert "응답 1명" in results and "참석:" not in results and "좋아요" not in results
    assert "마감 후" in admin.say(f"다운로드 {number}") and not _has_link(admin)


def _has_link(person: Person) -> bool:
    return any("textCard" in output for output in person.last["template"]["outputs"])


def _answer_anonymously(who: Person, number: int, choice: str, text: str) -> None:
    who.say(f"참여 {number}")
    who.say(choice)
    who.say("1")
    who.say(text)
    assert "익명으로 저장" in who.say("제출")


def test_anonymous_results_show_only_after_closing_with_three_answers(
    admin: Person, member: Person, person: Callable[[str], Person], store: Store
) -> None:
    """The diff attack: 결과 before and after one person answers would show what they chose."""
    number = publish(admin, SURVEY_MESSAGE + "\n익명")
    others = [person(f"other-{i}") for i in range(2)]
    for i, other in enumerate(others):
        other.say(f"등록 다른사람{i}")
    _answer_anonymously(member, number, "1", "가장 먼저 낸 의견")
    before = admin.say(f"결과 {number}")
    _answer_anonymously(others[0], number, "2", "두 번째 의견")
    after = admin.say(f"결과 {number}")
    assert "불참" not in after and "두 번째 의견" not in after
    assert before.replace("응답 1명", "응답 2명").split("(")[0] == after.split("(")[0]
    admin.say(f"마감 {number}")
    closed = admin.say(f"결과 {number}")
    assert "응답 2명" in closed and "불참:" not in closed and "의견" not in closed
    assert not _has_link(admin.say(f"다운로드 {number}") and admin)
    # Three answers: shown once closed, texts in an order that is not the order of submission.
    assert "다시 열었습니다" in admin.say(f"재개 {number}")
    _answer_anonymously(others[1], number, "1", "가나다 마지막 의견")
    admin.say(f"마감 {number}")
    shown = admin.say(f"결과 {number}")
    assert "참석: 2명" in shown and "불참: 1명" in shown
    texts = [line for line in shown.splitlines() if line.startswith(" · ")]
    # In the order of the respondent key, a keyed hash: it says nothing of who or when.
    stored = raw(
        store,
        "SELECT answers, respondent FROM responses WHERE survey_id = ? ORDER BY respondent",
        number,
    )
    by_key = [opened_answers(number, who, a) for (a, who) in stored]
    assert texts == [f" · {answers[2]}" for answers in by_key] and len(texts) == 3
    rows = export_rows(admin, number)
    assert rows[0][0] == "응답" and len(rows) == 4
    assert not any(name in str(rows) for name in ("이회원", "다른사람"))
    # Reopening now would let one more answer be compared against these results.
    assert "다시 열 수 없습니다" in admin.say(f"재개 {number}")
    assert "마감됨" in admin.say(f"결과 {number}")


def test_a_long_preview_pages_with_next(admin: Person) -> None:
    options = ", ".join(f"보기{i}{'가' * 40}" for i in range(10))
    questions = "\n".join(f"Q 질문 {n}번 / {options}" for n in range(1, 8))
    admin.say(f"설문만들기 긴 설문\n{questions}\n마감 2026-12-10 18:00")
    assert "[미리보기]" in admin.text and "(1/" in admin.text
    second = admin.tap("다음")
    assert "(2/" in second and "질문" in second
    assert "(3/" in admin.say("다음")  # typed, right after a paged reply
    assert "게시했습니다" in admin.say("확인")
