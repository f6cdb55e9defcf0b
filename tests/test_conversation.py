"""Conversations through the HTTP app: every command, for members and admins, and every refusal."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import timedelta

import falcon.testing
import pytest

from surveybot.app import create_app
from surveybot.config import Config
from surveybot.domain import RosterEntry
from surveybot.store.base import Store

from chat_helper import SURVEY_MESSAGE, Clock, Person

ADMIN_CODE = "open-sesame-42"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(store: Store, clock: Clock) -> falcon.testing.TestClient:
    config = Config(
        environment="development",
        admin_code=ADMIN_CODE,
        public_base_url="https://bot.example.test",
    )
    return falcon.testing.TestClient(create_app(config, store, now=clock))


@pytest.fixture
def person(client: falcon.testing.TestClient) -> Callable[[str], Person]:
    return lambda key: Person(client, key)


@pytest.fixture
def admin(person: Callable[[str], Person]) -> Person:
    boss = person("admin-key")
    boss.say("등록 김관리")
    assert "관리자가 되었습니다" in boss.say(f"관리자인증 {ADMIN_CODE}")
    return boss


@pytest.fixture
def member(person: Callable[[str], Person]) -> Person:
    someone = person("member-key")
    assert "등록되었습니다" in someone.say("등록 이회원")
    return someone


def publish(admin: Person, message: str = SURVEY_MESSAGE) -> int:
    admin.say(message)
    assert "[미리보기]" in admin.text
    reply = admin.tap("확인")
    assert "게시했습니다" in reply
    return int(reply.split("설문 ")[1].split(" ")[0])


def answer_all(member: Person, number: int) -> str:
    member.say(f"참여 {number}")
    member.tap("1. 참석")
    member.say("1,3")
    member.say("주차 공간이 있으면 좋겠습니다")
    assert "[응답 확인]" in member.text
    return member.tap("제출")


# --- unregistered people ------------------------------------------------------------------------


def test_menu_tells_an_unregistered_person_how_to_register(person: Callable[[str], Person]) -> None:
    stranger = person("stranger")
    for word in ("메뉴", "도움말", "처음", "MENU", "  help  ", "start"):
        assert "등록 홍길동" in stranger.say(word)


@pytest.mark.parametrize(
    "command", ["설문목록", "참여 1", "내정보", "설문만들기", "결과 1", "관리자인증 x"]
)
def test_unregistered_person_can_only_register(
    person: Callable[[str], Person], command: str
) -> None:
    assert "먼저 이름을 등록해 주세요" in person("stranger").say(command)


def test_unknown_text_gets_a_way_back(member: Person) -> None:
    assert "무슨 말인지 모르겠어요" in member.say("안녕하세요")
    assert "메뉴" in member.commands


# --- registration and people --------------------------------------------------------------------


def test_register_and_rename(person: Callable[[str], Person]) -> None:
    someone = person("k1")
    assert "홍길동님, 등록되었습니다" in someone.say("등록 홍길동")
    assert "이름을 바꿨습니다" in someone.say("register  Hong Gildong")
    assert "이름: Hong Gildong" in someone.say("내정보")
    assert "권한: 회원" in someone.text


def test_register_refuses_empty_and_long_names(person: Callable[[str], Person]) -> None:
    someone = person("k1")
    assert "이름이 없습니다" in someone.say("등록")
    assert "30자까지" in someone.say("등록 " + "가" * 31)
    assert "먼저 이름을 등록해 주세요" in someone.say("내정보")


def test_roster_registration_rules(store: Store, person: Callable[[str], Person]) -> None:
    store.import_roster(
        [
            RosterEntry("김민수", "1001", "총무팀"),
            RosterEntry("김민수", "1002", "인사팀"),
            RosterEntry("박지은", None, "재무팀"),
        ]
    )
    first, second = person("k1"), person("k2")
    assert "명단에서 찾을 수 없습니다" in first.say("등록 홍길동")
    assert "번호도 함께" in first.say("등록 김민수")
    assert "명단에서 찾을 수 없습니다" in first.say("등록 김민수 9999")
    assert "등록되었습니다 (1001, 총무팀)" in first.say("등록 김민수 1001")
    assert "이미 다른 카카오 계정" in second.say("등록 김민수 1001")
    assert "등록되었습니다 (재무팀)" in second.say("등록 박지은")
    assert "부서: 재무팀" in second.say("내정보")


def test_admin_code_bootstrap_and_lockout(person: Callable[[str], Person]) -> None:
    someone = person("k1")
    someone.say("등록 홍길동")
    assert "남은 시도 4회" in someone.say("관리자인증 wrong-code")
    for _ in range(4):
        someone.say("admin-code nope")
    # Locked: even the right code is refused for an hour, and the role did not change.
    assert "잠시 막혔습니다" in someone.say(f"관리자인증 {ADMIN_CODE}")
    assert "권한: 회원" in someone.say("내정보")


def test_admin_code_unlocks_after_an_hour(person: Callable[[str], Person], clock: Clock) -> None:
    someone = person("k1")
    someone.say("등록 홍길동")
    for _ in range(5):
        someone.say("관리자인증 nope")
    clock.advance(minutes=61)
    assert "관리자가 되었습니다" in someone.say(f"관리자인증 {ADMIN_CODE}")
    assert "이미 관리자입니다" in someone.say(f"관리자인증 {ADMIN_CODE}")


def test_admin_code_without_configured_code(store: Store, clock: Clock) -> None:
    config = Config(environment="development")
    someone = Person(falcon.testing.TestClient(create_app(config, store, now=clock)), "k1")
    someone.say("등록 홍길동")
    assert "설정되어 있지 않습니다" in someone.say("관리자인증 anything-at-all")


def test_menu_is_role_aware(admin: Person, member: Person) -> None:
    assert "[관리자]" not in member.say("메뉴")
    assert "설문관리" not in member.commands
    assert "[관리자]" in admin.say("메뉴")
    assert "설문만들기" in admin.commands


# --- refusals for members -----------------------------------------------------------------------

ADMIN_COMMANDS = [
    "설문만들기", "설문관리", "결과 1", "미응답 1", "마감 1", "재개 1", "삭제 1", "삭제확인 1",
    "다운로드 1", "관리자지정 이회원", "관리자해제 김관리", "명단", "manage", "close 1",
    "confirm delete 1",
]  # fmt: skip


@pytest.mark.parametrize("command", ADMIN_COMMANDS)
def test_every_admin_command_refuses_a_member_and_changes_nothing(
    admin: Person, member: Person, store: Store, clock: Clock, command: str
) -> None:
    number = publish(admin)
    assert number == 1
    assert "관리자만" in member.say(command)
    survey = store.get_survey(1)
    assert survey is not None and survey.is_open(clock.now)
    assert "권한: 회원" in member.say("내정보")
    assert "권한: 관리자" in admin.say("내정보")


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
    admin: Person, member: Person, person: Callable[[str], Person]
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
    assert texts == sorted(texts) and len(texts) == 3
    rows = _export_rows(admin, number)
    assert rows[0][0] == "응답" and len(rows) == 4
    assert not any(name in str(rows) for name in ("이회원", "다른사람"))
    # Reopening now would let one more answer be compared against these results.
    assert "다시 열 수 없습니다" in admin.say(f"재개 {number}")
    assert "마감됨" in admin.say(f"결과 {number}")


# --- admin views --------------------------------------------------------------------------------


def test_results_and_pending_against_registered_people(
    admin: Person, member: Person, person: Callable[[str], Person]
) -> None:
    number = publish(admin)
    third = person("third")
    third.say("등록 박셋째")
    answer_all(member, number)
    results = admin.say(f"결과 {number}")
    assert "응답 1명 / 대상 3명 (33%)" in results
    assert "참석: 1명 (100%)" in results and "불참: 0명 (0%)" in results
    assert "자유 응답 1건" in results and "주차 공간" in results
    pending = admin.say(f"pending {number}")
    assert "2명" in pending and "박셋째" in pending and "김관리" in pending
    assert "이회원" not in pending


def test_pending_with_roster_marks_unregistered(admin: Person, store: Store) -> None:
    store.import_roster([RosterEntry("최명단", "7", "영업팀")])
    number = publish(admin)
    assert "최명단 (7, 영업팀, 미등록)" in admin.say(f"미응답 {number}")
    roster = admin.say("명단")
    assert "[명단] 1명 · 등록 0명 · 미등록 1명" in roster


def test_roster_command_without_roster(admin: Person) -> None:
    assert "명단이 없어 누구나 등록" in admin.say("roster")


def test_manage_lists_every_survey(admin: Person) -> None:
    first = publish(admin)
    second = publish(admin, SURVEY_MESSAGE.replace("12월 송년회", "유니폼"))
    admin.say(f"마감 {first}")
    listing = admin.say("설문관리")
    assert listing.index(f"{second}. 유니폼") < listing.index(f"{first}. 12월 송년회")
    assert "마감됨" in listing and "진행 중" in listing


def test_long_pending_list_is_paginated(admin: Person, store: Store) -> None:
    store.import_roster(
        [RosterEntry(f"사람{i:03d}", str(i), "아주긴부서이름입니다") for i in range(200)]
    )
    number = publish(admin)
    seen: set[str] = set()
    admin.say(f"미응답 {number}")
    for _ in range(20):
        seen.update(line for line in admin.text.splitlines() if line.startswith("• "))
        if not any(label.startswith("다음") for label in admin.labels):
            break
        admin.tap("다음")
    assert len(seen) == 200


def test_grant_and_revoke_roles(admin: Person, member: Person) -> None:
    assert "마지막 관리자는 해제할 수 없습니다" in admin.say("관리자해제 김관리")
    assert "등록된 사람이 없습니다" in admin.say("관리자지정 없는사람")
    assert "관리자로 바꿨습니다" in admin.say("관리자지정 이회원")
    assert "이미 관리자입니다" in admin.say("grant 이회원")
    assert "회원으로 바꿨습니다" in member.say("관리자해제 김관리")
    assert "관리자만" in admin.say("설문관리")


def test_grant_needs_number_for_namesakes(admin: Person, person: Callable[[str], Person]) -> None:
    person("a").say("등록 동명 11")
    person("b").say("등록 동명 22")
    assert "여러 명" in admin.say("관리자지정 동명")
    assert "바꿨습니다" in admin.say("관리자지정 동명 22")


# --- export -------------------------------------------------------------------------------------


def _export_rows(admin: Person, number: int) -> list[list[str]]:
    admin.say(f"다운로드 {number}")
    card = admin.last["template"]["outputs"][0]["textCard"]
    url = card["buttons"][0]["webLinkUrl"]
    assert url.startswith("https://bot.example.test/exports/")
    result = admin.client.simulate_get(url.removeprefix("https://bot.example.test"))
    assert result.status_code == 200
    assert result.headers["content-type"].startswith("text/csv")
    assert result.content.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(result.content.decode("utf-8-sig"))))


def test_export_link_downloads_the_csv(admin: Person, member: Person) -> None:
    number = publish(admin)
    answer_all(member, number)
    rows = _export_rows(admin, number)
    assert rows[0][:4] == ["이름", "번호", "부서", "제출 시각(KST)"]
    assert rows[1][0] == "이회원" and rows[1][4:] == [
        "참석",
        "한식; 양식",
        "주차 공간이 있으면 좋겠습니다",
    ]


def test_export_link_dies_with_the_admin_role_and_time(
    admin: Person, member: Person, clock: Clock
) -> None:
    number = publish(admin)
    admin.say(f"다운로드 {number}")
    path = admin.last["template"]["outputs"][0]["textCard"]["buttons"][0]["webLinkUrl"]
    path = path.removeprefix("https://bot.example.test")
    assert admin.client.simulate_get(path + "x").status_code == 403
    clock.advance(seconds=601)
    assert admin.client.simulate_get(path).status_code == 410
    clock.now -= timedelta(seconds=601)
    admin.say("관리자지정 이회원")
    member.say("관리자해제 김관리")
    assert admin.client.simulate_get(path).status_code == 403


def test_ten_options_keep_back_and_stop_within_ten_quick_replies(admin: Person, member: Person) -> None:
    options = ", ".join(f"보기{i}" for i in range(1, 11))
    number = publish(admin, f"설문만들기 많은 보기\nQ 하나 / 가, 나\nQ 고르기 / {options}")
    member.say(f"참여 {number}")
    member.say("1")
    assert len(member.labels) == 10
    assert member.labels[-2:] == ["이전", "그만"]
    member.say("10")  # typed: option 10 has no quick reply
    assert "→ 보기10" in member.text


def test_unfinished_conversation_expires(admin: Person, member: Person, clock: Clock) -> None:
    number = publish(admin)
    member.say(f"참여 {number}")
    clock.advance(minutes=31)
    assert "무슨 말인지" in member.say("1")
    assert "질문 1/3" in member.say(f"참여 {number}")
