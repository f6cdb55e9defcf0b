"""The browser simulator's server side (/dev/chat): development only, and the request it sends is
build_payload's; the page itself is driven in a real browser by test_browser.py."""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

import falcon.testing
import pytest

from devstack.openbuilder import assert_valid_reply, reply_texts
from surveybot.app import create_app
from surveybot.config import Config
from surveybot.devchat.resources import USER_KEY_MAX, parse_message
from surveybot.kakao.payload import build_payload
from surveybot.store.base import Store

SKILL_SECRET = "devchat-skill-secret"
STATIC = resources.files("surveybot.devchat") / "static"
PAGES = ("/dev/chat", "/dev/chat/chat.js", "/dev/chat/chat.css", "/dev/chat/settings.json")


def client(store: Store, environment: str = "development", **settings: Any) -> Any:
    config = Config(environment=environment, **settings)
    return falcon.testing.TestClient(create_app(config, store))


def send(chat: falcon.testing.TestClient, **message: Any) -> falcon.testing.Result:
    return chat.simulate_post("/dev/chat/send", json=message)


def test_production_has_no_simulator(sqlite_store: Store) -> None:
    chat = client(sqlite_store, "production", skill_secret=SKILL_SECRET)
    for path in PAGES:
        assert chat.simulate_get(path).status_code == 404, path
    assert send(chat, user="u1", utterance="메뉴").status_code == 404


def test_development_serves_the_page_and_its_files(sqlite_store: Store) -> None:
    chat = client(sqlite_store)
    page = chat.simulate_get("/dev/chat")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    # Nothing inline may run: the page's only script is its own file.
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert re.findall(r'<script src="([^"]+)"', page.text) == ["/dev/chat/chat.js"]
    assert "<script>" not in page.text and "style=" not in page.text
    script = chat.simulate_get("/dev/chat/chat.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert chat.simulate_get("/dev/chat/chat.css").headers["content-type"].startswith("text/css")
    for path in ("/dev/chat/index.html", "/dev/chat/..%2Fresources.py", "/dev/chat/x.js"):
        assert chat.simulate_get(path).status_code == 404, path


def test_the_script_never_writes_markup() -> None:
    # Reply strings are untrusted: the script builds elements and sets textContent only.
    script = (STATIC / "chat.js").read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script, sink


def test_send_passes_build_payload_through_skill(sqlite_store: Store) -> None:
    chat = client(sqlite_store)
    extra = {"s": 3, "q": 1}
    result = send(
        chat, user="dev-member", utterance="참여 3", extra=extra,
        trigger="QUICKREPLY_BUTTON_MESSAGE",
    )  # fmt: skip
    assert result.status_code == 200
    body = result.json
    expected = build_payload(
        "dev-member", "참여 3", extra, trigger="QUICKREPLY_BUTTON_MESSAGE", test_panel=True
    )
    assert body["request"] == expected
    assert body["status"] == 200 and body["problems"] == [] and body["body"] is None
    assert_valid_reply(body["reply"])
    typed = send(chat, user="dev-member", utterance="메뉴\n둘째 줄").json["request"]
    assert typed == build_payload("dev-member", "메뉴\n둘째 줄", test_panel=True)


def test_a_conversation_through_the_simulator_is_the_bot(sqlite_store: Store) -> None:
    chat = client(sqlite_store)
    reply = send(chat, user="dev-member", utterance="등록 이회원").json["reply"]
    assert "등록되었습니다" in "\n".join(reply_texts(reply))
    me = send(chat, user="dev-member", utterance="내정보").json["reply"]
    assert "이회원" in "\n".join(reply_texts(me))
    other = send(chat, user="someone-else", utterance="내정보").json["reply"]
    assert "이회원" not in "\n".join(reply_texts(other))


def test_the_skill_secret_is_added_on_the_server(sqlite_store: Store) -> None:
    chat = client(sqlite_store, skill_secret=SKILL_SECRET, skill_secret_header="X-Bot-Secret")
    direct = chat.simulate_post("/skill", json=build_payload("u1", "메뉴"))
    assert direct.status_code == 401
    result = send(chat, user="u1", utterance="메뉴").json
    assert result["status"] == 200 and result["reply"]["template"]["outputs"]
    settings = chat.simulate_get("/dev/chat/settings.json")
    assert settings.json["secretInjected"] is True
    assert SKILL_SECRET not in settings.text  # the page never sees the secret itself


def test_settings_name_the_preset_users(sqlite_store: Store) -> None:
    settings = client(sqlite_store, admin_code="open-sesame-42").simulate_get(
        "/dev/chat/settings.json"
    )
    body = settings.json
    assert [preset["role"] for preset in body["presets"]] == ["member", "admin"]
    assert body["adminCode"] is True and "open-sesame-42" not in settings.text
    assert body["userKeyMax"] == USER_KEY_MAX


def test_send_is_for_the_page_itself(sqlite_store: Store) -> None:
    chat = client(sqlite_store)
    payload = {"user": "u1", "utterance": "메뉴"}
    other_site = chat.simulate_post(
        "/dev/chat/send", json=payload, headers={"Origin": "http://evil.example"}
    )
    assert other_site.status_code == 403
    # A form on another site can post text/plain without asking first: refused.
    form = chat.simulate_post(
        "/dev/chat/send", body='{"user":"u1","utterance":"메뉴"}',
        headers={"Content-Type": "text/plain"},
    )  # fmt: skip
    assert form.status_code == 415
    same = chat.simulate_post(
        "/dev/chat/send", json=payload, headers={"Origin": "http://falconframework.org"}
    )
    assert same.status_code == 200


@pytest.mark.parametrize(
    "message",
    [
        {"utterance": "메뉴"},
        {"user": "", "utterance": "메뉴"},
        {"user": "k" * (USER_KEY_MAX + 1), "utterance": "메뉴"},
        {"user": 5, "utterance": "메뉴"},
        {"user": "u1", "utterance": "  "},
        {"user": "u1"},
        {"user": "u1", "utterance": "메뉴", "extra": [1]},
        {"user": "u1", "utterance": "메뉴", "trigger": "SOMETHING"},
    ],
)
def test_send_refuses_malformed_messages(sqlite_store: Store, message: dict[str, Any]) -> None:
    result = send(client(sqlite_store), **message)
    assert result.status_code == 400


def test_parse_message_keeps_what_was_typed() -> None:
    message = parse_message(b'{"user": " dev-admin ", "utterance": "  a\\nb ", "extra": null}')
    assert (message.user, message.utterance, message.extra) == ("dev-admin", "  a\nb ", {})
    assert message.trigger is None
    with pytest.raises(falcon.HTTPBadRequest):
        parse_message(b"[]")
    with pytest.raises(falcon.HTTPBadRequest):
        parse_message(b"not json")
