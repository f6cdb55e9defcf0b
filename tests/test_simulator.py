"""Tests of `surveybot chat` against a small stand-in skill server."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from surveybot.simulator import render_reply, run_chat

QUICK = [
    {"label": "설문목록", "action": "message", "messageText": "설문목록"},
    {"label": "참여 3", "action": "message", "messageText": "참여 3", "extra": {"s": 3, "q": 0}},
]
LINK = "http://example.test/exports/abc"
REPLIES: dict[str, Any] = {
    "안녕": {
        "outputs": [{"simpleText": {"text": "안녕하세요!\n무엇을 할까요?"}}],
        "quickReplies": QUICK,
    },
    "다운로드 3": {
        "outputs": [
            {
                "textCard": {
                    "title": "결과 파일",
                    "description": "3. 송년회\nCSV · 10분 동안 유효",
                    "buttons": [
                        {"label": "CSV 내려받기", "action": "webLink", "webLinkUrl": LINK},
                        {
                            "label": "결과",
                            "action": "message",
                            "messageText": "결과 3",
                            "extra": {"k": 1},
                        },
                    ],
                }
            }
        ],
        "quickReplies": [{"label": "메뉴", "action": "message", "messageText": "메뉴"}],
    },
    "목록": {
        "outputs": [
            {
                "listCard": {
                    "header": {"title": "진행 중인 설문"},
                    "items": [
                        {"title": "송년회", "description": "마감 12/1"},
                        {"title": "워크숍", "action": "message", "messageText": "참여 4"},
                    ],
                }
            },
            {
                "carousel": {
                    "type": "basicCard",
                    "items": [
                        {"title": "첫째", "thumbnail": {"imageUrl": "http://img.test/1.png"}},
                        {"title": "둘째", "description": "설명"},
                    ],
                }
            },
        ]
    },
    "길게": {"outputs": [{"simpleText": {"text": "가" * 1200}}]},
}


class FakeSkillServer(ThreadingHTTPServer):
    """Records every request and answers with canned Kakao replies chosen by the utterance."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.calls: list[tuple[dict[str, str], dict[str, Any]]] = []

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # the client of the timeout test hangs up before the reply: expected

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/skill"

    @property
    def payloads(self) -> list[dict[str, Any]]:
        return [payload for _, payload in self.calls]


class Handler(BaseHTTPRequestHandler):
    server: FakeSkillServer

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        payload = json.loads(body)
        self.server.calls.append((dict(self.headers), payload))
        utterance = payload["userRequest"]["utterance"]
        status, data = self.answer(utterance)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def answer(self, utterance: str) -> tuple[int, bytes]:
        if utterance == "고장":
            return 500, b'{"title": "500 Internal Server Error"}'
        if utterance == "비밀":
            return 401, b'{"title": "Unauthorized"}'
        if utterance == "html":
            return 200, b"<html>oops</html>"
        if utterance == "느림":
            time.sleep(0.5)
        template = REPLIES.get(
            utterance, {"outputs": [{"simpleText": {"text": f"echo {utterance}"}}]}
        )
        return 200, json.dumps({"version": "2.0", "template": template}).encode()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean


@pytest.fixture
def server() -> Iterator[FakeSkillServer]:
    fake = FakeSkillServer()
    thread = threading.Thread(target=fake.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.shutdown()
        fake.server_close()
        thread.join()


def chat(url: str, typed: str, **kwargs: Any) -> tuple[int, str]:
    out = io.StringIO()
    kwargs.setdefault("timeout", 5.0)
    status = run_chat(url, "alice", stdin=io.StringIO(typed), stdout=out, **kwargs)
    return status, out.getvalue()


def test_text_and_quick_replies_are_rendered(server: FakeSkillServer) -> None:
    status, out = chat(server.url, "안녕\n/quit\n")
    assert status == 0
    assert "안녕하세요!\n무엇을 할까요?\n" in out
    assert "[1] 설문목록  [2] 참여 3" in out
    headers, payload = server.calls[0]
    assert headers["Content-Type"].startswith("application/json")
    request = payload["userRequest"]
    assert request["utterance"] == "안녕"
    assert request["params"]["surface"] == "BuilderBotTest"
    assert request["lang"] == "ko" and request["timezone"] == "Asia/Seoul"
    assert request["user"]["id"] == "alice" and request["user"]["type"] == "botUserKey"
    assert request["user"]["properties"]["botUserKey"] == "alice"
    assert payload["action"]["clientExtra"] == {}
    assert payload["flow"]["trigger"]["type"] == "TEXT_INPUT"
    assert "bot" in payload and "intent" in payload


def test_number_taps_the_quick_reply(server: FakeSkillServer) -> None:
    chat(server.url, "안녕\n2\n")
    tapped = server.payloads[1]
    assert tapped["userRequest"]["utterance"] == "참여 3"
    assert tapped["action"]["clientExtra"] == {"s": 3, "q": 0}
    assert tapped["flow"]["trigger"]["type"] == "QUICKREPLY_BUTTON_MESSAGE"


def test_number_without_matching_choice_is_typed_text(server: FakeSkillServer) -> None:
    chat(server.url, "1\n안녕\n7\n")
    assert [p["userRequest"]["utterance"] for p in server.payloads] == ["1", "안녕", "7"]
    assert server.payloads[2]["flow"]["trigger"]["type"] == "TEXT_INPUT"


def test_card_with_link_and_message_buttons(server: FakeSkillServer) -> None:
    _, out = chat(server.url, "다운로드 3\n2\n")
    assert "[카드] 결과 파일\n  3. 송년회\n  CSV · 10분 동안 유효\n" in out
    assert f"(링크) CSV 내려받기 → {LINK}" in out
    # Quick replies keep numbers from 1; the card's message button comes after them.
    assert "  [2] 결과\n" in out and "[1] 메뉴" in out
    tapped = server.payloads[1]
    assert tapped["userRequest"]["utterance"] == "결과 3"
    assert tapped["action"]["clientExtra"] == {"k": 1}
    assert tapped["flow"]["trigger"]["type"] == "CARD_BUTTON_MESSAGE"


def test_list_card_and_carousel(server: FakeSkillServer) -> None:
    _, out = chat(server.url, "목록\n1\n")
    assert "[목록] 진행 중인 설문" in out
    assert "  • 송년회 — 마감 12/1" in out
    assert "  • [1] 워크숍" in out
    assert "(1/2)\n[카드] 첫째\n  [이미지] http://img.test/1.png" in out
    assert "(2/2)\n[카드] 둘째\n  설명" in out
    assert server.payloads[1]["userRequest"]["utterance"] == "참여 4"


def test_backslash_continues_the_message(server: FakeSkillServer) -> None:
    typed = "설문만들기 송년회\\\nQ 참석? / 예, 아니오\\\n마감 2026-12-01\n"
    _, out = chat(server.url, typed)
    assert len(server.payloads) == 1
    utterance = server.payloads[0]["userRequest"]["utterance"]
    assert utterance == "설문만들기 송년회\nQ 참석? / 예, 아니오\n마감 2026-12-01"
    assert out.count(".. ") >= 2  # the continuation prompt


def test_eof_inside_a_continued_message_still_sends_it(server: FakeSkillServer) -> None:
    status, _ = chat(server.url, "첫 줄\\\n둘째 줄\\")
    assert status == 0
    assert server.payloads[0]["userRequest"]["utterance"] == "첫 줄\n둘째 줄"


def test_user_switch(server: FakeSkillServer) -> None:
    _, out = chat(server.url, "안녕\n/user bob\n1\n/user\n")
    first, second = server.payloads
    assert first["userRequest"]["user"]["id"] == "alice"
    assert second["userRequest"]["user"]["id"] == "bob"
    assert second["userRequest"]["user"]["properties"]["botUserKey"] == "bob"
    assert (
        first["userRequest"]["user"]["properties"]["plusfriendUserKey"]
        != second["userRequest"]["user"]["properties"]["plusfriendUserKey"]
    )
    # alice's quick replies are not bob's: "1" is plain text now.
    assert second["userRequest"]["utterance"] == "1"
    assert "now talking as bob" in out and "(지금 사용자: bob)" in out


def test_raw_toggles_json(server: FakeSkillServer) -> None:
    _, out = chat(server.url, "안녕\n/raw\n안녕\n/raw\n안녕\n")
    assert out.count('"version": "2.0"') == 1
    assert "raw JSON on" in out and "raw JSON off" in out


def test_secret_header(server: FakeSkillServer) -> None:
    chat(server.url, "안녕\n", secret="s3cret", secret_header="X-Kakao-Key")
    chat(server.url, "안녕\n")
    assert server.calls[0][0]["X-Kakao-Key"] == "s3cret"
    assert "X-Kakao-Key" not in server.calls[1][0]


def test_server_down_keeps_the_loop_going() -> None:
    closed = FakeSkillServer()
    url = closed.url
    closed.server_close()
    status, out = chat(url, "안녕\n안녕\n/quit\n")
    assert status == 0
    assert out.count("cannot reach") == 2
    assert "Is the server running?" in out


def test_timeout_is_reported(server: FakeSkillServer) -> None:
    status, out = chat(server.url, "느림\n안녕\n", timeout=0.1)
    assert status == 0
    assert "cannot reach" in out and "timed out" in out
    assert "안녕하세요!" in out


def test_http_errors_keep_the_loop_going(server: FakeSkillServer) -> None:
    status, out = chat(server.url, "고장\n비밀\nhtml\n안녕\n")
    assert status == 0
    assert "! HTTP 500: " in out and "Internal Server Error" in out
    assert "! HTTP 401" in out and "SKILL_SECRET" in out
    assert "reply is not JSON: <html>oops</html>" in out
    assert "안녕하세요!" in out


def test_reply_breaking_kakao_limits_is_flagged(server: FakeSkillServer) -> None:
    _, out = chat(server.url, "길게\n")
    assert "Kakao would drop this reply" in out


def test_commands_and_escapes(server: FakeSkillServer) -> None:
    status, out = chat(server.url, "/nope\n//help\n   \n/help\n/quit\n안녕\n")
    assert status == 0
    assert "/nope" in out and "'//'" in out
    assert [p["userRequest"]["utterance"] for p in server.payloads] == ["/help"]
    assert out.count("/user KEY") == 2  # the banner, and /help


def test_banner_documents_continuation_and_eof_exits() -> None:
    status, out = chat("http://127.0.0.1:9/skill", "")
    assert status == 0
    assert "\\" in out.splitlines()[1] and "/quit" in out


def test_non_http_url_is_refused() -> None:
    status, out = chat("file:///etc/passwd", "안녕\n")
    assert status == 2 and "http" in out


def test_render_reply_survives_garbage() -> None:
    assert render_reply(None)[1] == []
    assert render_reply({"template": "x"})[1] == []
    lines, choices = render_reply(
        {
            "template": {
                "outputs": [{"simpleText": "x"}, {"mystery": {}}, 5, {"carousel": {"items": 3}}],
                "quickReplies": [{"label": "블록", "action": "block", "blockId": "b1"}, "x"],
            }
        }
    )
    assert "[mystery: 이 출력은 그릴 수 없습니다 / cannot render]" in lines
    assert lines[-1] == "[1] 블록"
    assert choices[0].utterance == "블록" and choices[0].trigger == "QUICKREPLY_BUTTON_BLOCK"
