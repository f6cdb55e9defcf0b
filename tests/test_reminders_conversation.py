"""Reminders in the chat (issue 10): 알림, 알림확인, 알림현황, automatic ones and 공지, and the
reminder block's call, through the HTTP skill on both backends."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import falcon.testing
import pytest

from devstack.event_api_shapes import skill_request
from support.chat_fixtures import publish
from support.chat_helper import SURVEY_MESSAGE, Clock, Person, survey_message
from support.reminder_helpers import (
    ADMIN_CODE,
    BOT_ID,
    EVENT,
    fake_kakao,
    notifier,
    reminder_client,
    skill_server,
)
from support.store_helpers import count, raw
from surveybot.domain import RosterEntry
from surveybot.store.base import Store


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(store: Store, clock: Clock) -> falcon.testing.TestClient:
    return reminder_client(store, clock)


def _admin(client: falcon.testing.TestClient, key: str = "admin-key", name: str = "김관리") -> Person:
    boss = Person(client, key)
    boss.say(f"등록 {name}")
    assert "관리자가 되었습니다" in boss.say(f"관리자인증 {ADMIN_CODE}")
    return boss


def _members(client: falcon.testing.TestClient, *names: str) -> list[Person]:
    found = []
    for index, name in enumerate(names):
        someone = Person(client, f"member-{index}")
        assert "등록되었습니다" in someone.say(f"등록 {name}")
        found.append(someone)
    return found


def test_without_kakao_settings_the_commands_explain_and_queue_nothing(
    store: Store, clock: Clock
) -> None:
    client = reminder_client(store, clock, enabled=False)
    boss = _admin(client)
    _members(client, "이회원")
    number = publish(boss, SURVEY_MESSAGE + "\n알림 24시간 전\n공지")
    assert "알림이 설정되지 않아 보내지 않습니다" in boss.text
    for command in (f"알림 {number}", f"알림 {number} 2시간 전"):
        assert "KAKAO_REST_API_KEY" in boss.say(command)
    # Off: every reminder command says how to turn them on, none sends to 알림 n and back.
    for command in (f"알림확인 {number}", f"알림현황 {number}"):
        assert "KAKAO_REST_API_KEY" in boss.say(command), command
    assert [count(store, t) for t in ("reminders", "reminder_outbox")] == [0, 0]
    assert f"알림 {number}" not in boss.say(f"미응답 {number}") and f"알림 {number}" not in boss.commands


def test_preview_then_confirm_queues_who_was_shown(store: Store, client: falcon.testing.TestClient) -> None:
    store.import_roster([RosterEntry(n) for n in ("김관리", "이회원", "박회원", "최미등록")])
    boss = _admin(client)
    first, second = _members(client, "이회원", "박회원")
    number = publish(boss)
    first.say(f"참여 {number}")
    first.tap("1. 참석")
    first.say("1")
    first.say("좋아요")
    first.tap("제출")
    boss.say(f"미응답 {number}")
    assert f"알림 {number}" in boss.commands
    text = boss.say(f"알림 {number}")
    assert "받을 사람: 2명 — 김관리, 박회원" in text
    assert "연락할 수 없음 (명단에만 있고 등록하지 않음): 1명 — 최미등록" in text
    assert "예상 비용: 약 30원" in text
    assert boss.commands[0] == f"알림확인 {number}"
    assert "2명에게 알림을 보냅니다" in boss.tap("알림 보내기")
    assert "먼저" in boss.say(f"알림확인 {number}")  # used up: a stray one sends nothing more
    assert count(store, "reminder_outbox") == 2
    status = boss.say(f"알림현황 {number}")
    assert "알림 #1" in status and "대기 2" in status
    assert "관리자" in second.say(f"알림 {number}")  # members cannot


def test_confirm_without_a_preview_sends_nothing(store: Store, client: falcon.testing.TestClient) -> None:
    boss = _admin(client)
    _members(client, "이회원")
    number = publish(boss)
    assert "먼저 '알림 1'로" in boss.say(f"알림확인 {number}")
    assert count(store, "reminders") == 0


def test_twenty_concurrent_confirmations_queue_each_person_once(store: Store, clock: Clock) -> None:
    client = reminder_client(store, clock)
    admins = [_admin(client, f"admin-{i}", f"관리자{i:02d}") for i in range(10)]
    members = _members(client, *(f"회원{i:02d}" for i in range(15)))
    number = publish(admins[0])
    for boss in admins:
        assert "받을 사람: 25명" in boss.say(f"알림 {number}")
    # Ten admins, each tapping twice, all at once.
    start = threading.Barrier(20)
    answers: list[str] = []

    def tap(boss: Person) -> None:
        start.wait()
        result = client.simulate_post("/skill", json=_payload(boss.key, f"알림확인 {number}"))
        answers.append(result.text)

    threads = [threading.Thread(target=tap, args=(boss,)) for boss in admins * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum("25명에게 알림을 보냅니다" in answer for answer in answers) == 1
    assert count(store, "reminders") == 1
    keys = [str(r[0]) for r in raw(store, "SELECT user_key FROM reminder_outbox")]
    assert sorted(keys) == sorted([b.key for b in admins] + [m.key for m in members])
    with skill_server(store, clock) as skill, fake_kakao(skill) as kakao:
        notifier(store, kakao, clock).run(once=True)
    assert kakao.calls_per_user() == Counter(keys)
    assert Counter(len(texts) for texts in kakao.shown().values()) == {1: 25}


def _payload(key: str, utterance: str) -> dict[str, Any]:
    from surveybot.kakao.payload import build_payload

    return build_payload(key, utterance)


def test_one_message_survey_with_reminders_and_a_notice(store: Store, client: falcon.testing.TestClient) -> None:
    boss = _admin(client)
    _members(client, "이회원", "박회원")
    boss.say(SURVEY_MESSAGE + "\n알림 24시간 전, 2시간 전\n공지")
    assert "알림: 게시할 때 공지, 마감 24시간 전, 마감 2시간 전" in boss.text
    number = int(boss.tap("확인").split("설문 ")[1].split(" ")[0])
    rows = raw(store, "SELECT kind, seq, due_at IS NOT NULL, queued_at IS NOT NULL FROM reminders "
                      "ORDER BY kind, seq")  # fmt: skip
    assert [tuple(r) for r in rows] == [("auto", 120, True, False), ("auto", 1440, True, False),
                                       ("notice", 0, True, True)]  # fmt: skip
    # The notice is queued with the survey: every member but its author.
    assert sorted(r[0] for r in raw(store, "SELECT user_key FROM reminder_outbox")) == [
        "member-0", "member-1"]  # fmt: skip
    status = boss.say(f"알림현황 {number}")
    assert "마감 24시간 전 · 12/9(수) 18:00 예정" in status and "게시 공지" in status


def test_reminders_before_the_deadline_need_a_deadline(client: falcon.testing.TestClient) -> None:
    boss = _admin(client)
    message = "설문만들기 점심\nQ 메뉴 / 밥, 면\n알림 2시간 전"
    assert "마감 전 알림에는 마감이 필요합니다" in boss.say(message)
    assert "알림 시각 '내일'을 알 수 없습니다" in boss.say(survey_message() + "\n알림 내일")


def test_guided_creation_asks_for_reminders(store: Store, client: falcon.testing.TestClient) -> None:
    boss = _admin(client)
    for step in ("설문만들기", "점심", "건너뛰기", "메뉴 / 밥, 면", "완료", "2026-12-10 18:00", "아니오"):
        boss.say(step)
    assert "카카오톡 알림을 보낼까요?" in boss.text
    assert "알 수 없습니다" in boss.say("곧")
    boss.say("공지, 24시간 전")
    assert "알림: 게시할 때 공지, 마감 24시간 전" in boss.text
    assert "카카오톡 알림을 보낼까요?" in boss.say("이전")
    boss.say("건너뛰기")
    assert "알림: 없음" in boss.text
    assert "게시했습니다" in boss.tap("확인")
    assert count(store, "reminders") == 0


def test_guided_creation_without_kakao_settings_skips_the_step(store: Store, clock: Clock) -> None:
    boss = _admin(reminder_client(store, clock, enabled=False))
    for step in ("설문만들기", "점심", "건너뛰기", "메뉴 / 밥, 면", "완료", "건너뛰기", "아니오"):
        boss.say(step)
    assert "[미리보기]" in boss.text and "알림:" not in boss.text
    assert "익명 설문으로 할까요?" in boss.say("이전")


def test_automatic_reminders_on_an_existing_survey(store: Store, client: falcon.testing.TestClient) -> None:
    boss = _admin(client)
    number = publish(boss)
    text = boss.say(f"알림 {number} 24시간 전, 2시간 전")
    assert "예정: 12/9(수) 18:00, 12/10(목) 16:00" in text
    assert "마감 전 알림을 껐습니다" in boss.say(f"알림 {number} 끄기")
    assert count(store, "reminders") == 0
    assert "게시할 때만" in boss.say(f"알림 {number} 공지")
    undated = publish(boss, "설문만들기 점심\nQ 메뉴 / 밥, 면")
    assert "마감이 없어" in boss.say(f"알림 {undated} 2시간 전")


def test_the_reminder_block_gets_the_text_or_nothing(store: Store, client: falcon.testing.TestClient) -> None:
    boss = _admin(client)
    (member,) = _members(client, "이회원")
    number = publish(boss)
    boss.say(f"알림 {number}")
    boss.tap("알림 보내기")
    reminder = str(raw(store, "SELECT id FROM reminders")[0][0])
    marks = {"surveybot": "reminder", "reminder": reminder, "survey": str(number)}

    def block(key: str, params: dict[str, str]) -> dict[str, Any]:
        payload = skill_request(key, BOT_ID, EVENT, params, params)
        result = client.simulate_post("/skill", json=payload)
        assert result.status_code == 200
        return dict(result.json["template"])

    shown = block(member.key, marks)
    assert "[설문 알림] 12월 송년회 참석 조사" in shown["outputs"][0]["simpleText"]["text"]
    assert [q["messageText"] for q in shown["quickReplies"]] == [f"참여 {number}", "설문목록"]
    assert block(member.key, marks) == {"outputs": []}  # shown once only
    assert block("stranger", marks) == {"outputs": []}
    assert block(member.key, {**marks, "reminder": "x"}) == {"outputs": []}
    # Without our marks it is an ordinary message.
    assert block(member.key, {"other": "1"})["outputs"]
