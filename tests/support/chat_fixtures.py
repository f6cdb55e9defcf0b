"""Conversation fixtures for tests through the HTTP app: a clock, the app, people (plugin)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

import falcon.testing
import pytest

from support.chat_helper import SURVEY_MESSAGE, Clock, Person
from surveybot.app import create_app
from surveybot.config import Config
from surveybot.store.base import Store

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


def export_rows(admin: Person, number: int) -> list[list[str]]:
    admin.say(f"다운로드 {number}")
    card = admin.last["template"]["outputs"][0]["textCard"]
    url = card["buttons"][0]["webLinkUrl"]
    assert url.startswith("https://bot.example.test/exports/")
    result = admin.client.simulate_get(url.removeprefix("https://bot.example.test"))
    assert result.status_code == 200
    assert result.headers["content-type"].startswith("text/csv")
    assert result.content.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(result.content.decode("utf-8-sig"))))
