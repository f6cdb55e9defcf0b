"""The whole bot over real HTTP: `surveybot serve` (gunicorn, several workers) on each backend."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.openbuilder import assert_valid_reply, reply_texts
from support.chat_helper import future_survey_message, payload
from support.gunicorn_helper import served
from support.keys import TEST_KEYRING
from surveybot.store import open_store

# Every test runs `surveybot serve`.
pytestmark = pytest.mark.system
SECRET = "e2e-skill-secret"
ADMIN_CODE = "e2e-admin-code"


class Server:
    """A Kakao-like client for a running `surveybot serve`."""

    def __init__(self, base: str, database_url: str | None, sqlite_path: str) -> None:
        self.base = base
        self.database_url = database_url
        self.sqlite_path = sqlite_path
        self.session = requests.Session()

    def say(self, user: str, text: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.session.post(
            f"{self.base}/skill",
            json=payload(user, text, extra),
            headers={"X-Skill-Secret": SECRET},
            timeout=5,  # Kakao's deadline
        )
        assert response.status_code == 200, response.text
        reply: dict[str, Any] = response.json()
        assert_valid_reply(reply)
        return reply


def text_of(reply: dict[str, Any]) -> str:
    return "\n".join(reply_texts(reply))


@pytest.fixture(params=["postgres", "sqlite"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    env = {"SKILL_SECRET": SECRET, "SURVEYBOT_ADMIN_CODE": ADMIN_CODE, "LOG_LEVEL": "WARNING"}
    if request.param == "postgres":
        env["DATABASE_URL"] = request.getfixturevalue("pg_url")
    else:
        env["SQLITE_PATH"] = str(tmp_path / "bot.sqlite3")
    with served(env, tmp_path / "node", workers=3) as node:
        server = Server(node.url, env.get("DATABASE_URL"), env.get("SQLITE_PATH", ""))
        yield server
        server.session.close()


def test_whole_conversation_over_http(server: Server) -> None:
    assert "등록되었습니다" in text_of(server.say("boss", "등록 김관리"))
    assert "관리자가 되었습니다" in text_of(server.say("boss", f"관리자인증 {ADMIN_CODE}"))
    assert "[미리보기]" in text_of(server.say("boss", future_survey_message()))
    assert "설문 1 '12월 송년회" in text_of(server.say("boss", "확인"))

    server.say("amy", "등록 이회원")
    assert "질문 1/3" in text_of(server.say("amy", "참여 1"))
    server.say("amy", "참석")
    server.say("amy", "1,3")
    server.say("amy", "없음")
    assert "저장되었습니다" in text_of(server.say("amy", "제출"))
    assert "→ 한식, 양식" in text_of(server.say("amy", "내응답 1"))
    server.say("amy", "취소 1")
    assert "철회했습니다" in text_of(server.say("amy", "취소확인 1"))
    server.say("amy", "참여 1")
    for answer in ("불참", "2", "건너뛰기", "제출"):
        server.say("amy", answer)

    results = text_of(server.say("boss", "결과 1"))
    assert "응답 1명 / 대상 2명 (50%)" in results and "불참: 1명 (100%)" in results
    assert "김관리" in text_of(server.say("boss", "미응답 1"))

    card = server.say("boss", "다운로드 1")["template"]["outputs"][0]["textCard"]
    download = requests.get(card["buttons"][0]["webLinkUrl"], timeout=5)
    assert download.status_code == 200 and download.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert rows[1][0] == "이회원" and rows[1][4:] == ["불참", "중식", ""]


def test_fifty_concurrent_identical_submits_leave_one_response(server: Server) -> None:
    server.say("boss", "등록 김관리")
    server.say("boss", f"관리자인증 {ADMIN_CODE}")
    server.say("boss", future_survey_message())
    server.say("boss", "확인")
    server.say("amy", "등록 이회원")
    for answer in ("참여 1", "참석", "1", "없음"):
        server.say("amy", answer)

    def tap_submit(_: int) -> str:
        return text_of(server.say("amy", "제출", {"s": 1, "q": 3}))

    with ThreadPoolExecutor(max_workers=50) as pool:
        replies = list(pool.map(tap_submit, range(50)))
    # Each tap either saved the same answers or found the conversation already finished.
    saved = sum("저장되었습니다" in reply for reply in replies)
    finished = sum("진행 중인 작업이 없습니다" in reply for reply in replies)
    assert saved >= 1 and saved + finished == 50
    store = open_store(server.database_url, server.sqlite_path, keyring=TEST_KEYRING)
    try:
        results = store.results(1)
    finally:
        store.close()
    assert results is not None and results.respondents == 1


def test_bad_requests_over_http(server: Server) -> None:
    url = f"{server.base}/skill"
    headers = {"X-Skill-Secret": SECRET, "Content-Type": "application/json"}
    assert requests.post(url, data=b"{", headers=headers, timeout=5).status_code == 400
    assert requests.post(url, json=payload("x", "메뉴"), timeout=5).status_code == 401
    assert requests.get(url, headers=headers, timeout=5).status_code == 405
    big = b'{"x": "' + b"a" * 70000 + b'"}'
    assert requests.post(url, data=big, headers=headers, timeout=5).status_code == 413
    assert requests.get(f"{server.base}/exports/garbage", timeout=5).status_code == 403
