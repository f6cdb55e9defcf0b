"""The whole bot over real HTTP: `surveybot serve` (gunicorn, several workers) on each backend."""

from __future__ import annotations

import csv
import io
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from surveybot.store import open_store

from chat_helper import future_survey_message, payload
from kakao_checks import assert_valid_reply, reply_texts

SECRET = "e2e-skill-secret"
ADMIN_CODE = "e2e-admin-code"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Server:
    """A `surveybot serve` process and a Kakao-like client for it."""

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.database_url = env.get("DATABASE_URL")
        self.sqlite_path = env.get("SQLITE_PATH", "")
        self._log = log.open("w")
        command = [sys.executable, "-m", "surveybot.cli", "serve", "--port", str(port)]
        self.process = subprocess.Popen(
            command, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )
        self.session = requests.Session()
        self._wait_ready(log)

    def _wait_ready(self, log: Path) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited:\n{log.read_text()}")
            try:
                if requests.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:  # not listening yet, or busy starting
                pass
            time.sleep(0.2)
        raise AssertionError(f"server not ready:\n{log.read_text()}")

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

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            self._log.close()


def text_of(reply: dict[str, Any]) -> str:
    return "\n".join(reply_texts(reply))


@pytest.fixture(params=["postgres", "sqlite"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    port = _free_port()
    env = {
        **os.environ,
        "SURVEYBOT_ENV": "production",
        "SECRET_KEY": "end-to-end-secret-key-0123456789",
        "SKILL_SECRET": SECRET,
        "SURVEYBOT_ADMIN_CODE": ADMIN_CODE,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "WORKERS": "3",
        "LOG_LEVEL": "WARNING",
    }
    env.pop("DATABASE_URL", None)
    if request.param == "postgres":
        env["DATABASE_URL"] = request.getfixturevalue("pg_url")
    else:
        env["SQLITE_PATH"] = str(tmp_path / "bot.sqlite3")
    server = Server(env, port, tmp_path / "server.log")
    try:
        yield server
    finally:
        server.stop()


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
    store = open_store(server.database_url, server.sqlite_path)
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
