"""Conversations through the HTTP app: people, refusals, admin views, exports (fixtures: support/chat_fixtures.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import falcon.testing
import pytest

from support.chat_fixtures import ADMIN_CODE, answer_all, export_rows, publish
from support.chat_helper import SURVEY_MESSAGE, Clock, Person
from surveybot.app import create_app
from surveybot.config import Config
from surveybot.domain import RosterEntry
from surveybot.store.base import Store

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
    steps = [
        (first, "등록 홍길동", "명단에서 찾을 수 없습니다"),
        (first, "등록 김민수", "번호도 함께"),
        (first, "등록 김민수 9999", "명단에서 찾을 수 없습니다"),
        (first, "등록 김민수 1001", "등록되었습니다 (1001, 총무팀)"),
        (second, "등록 김민수 1001", "이미 다른 카카오 계정"),
        (second, "등록 박지은", "등록되었습니다 (재무팀)"),
        (second, "내정보", "부서: 재무팀"),
    ]
    for who, said, expected in steps:
        assert expected in who.say(said), (said, who.text)


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
        seen.update(line for line in admin.text.splitlines() if "아주긴부서" in line)
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


def test_export_link_downloads_the_csv(admin: Person, member: Person) -> None:
    number = publish(admin)
    answer_all(member, number)
    rows = export_rows(admin, number)
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
