"""build_payload: the one Open Builder request the simulator, the tests and the load tools send."""

from __future__ import annotations

import json

from surveybot.kakao.payload import build_payload
from surveybot.kakao.request import decode_request

# The top-level and userRequest keys of the reference's example request (kakao-skill-api.md).
TOP_KEYS = {"intent", "userRequest", "bot", "action", "contexts", "flow"}
USER_REQUEST_KEYS = {"timezone", "params", "block", "utterance", "lang", "user"}


def test_typed_text_is_shaped_like_the_reference() -> None:
    payload = build_payload("load-member-00001", "메뉴")
    assert set(payload) == TOP_KEYS
    assert set(payload["userRequest"]) == USER_REQUEST_KEYS
    assert payload["userRequest"]["params"]["surface"] == "Kakaotalk.plusfriend"
    properties = payload["userRequest"]["user"]["properties"]
    assert properties["botUserKey"] == properties["bot_user_key"] == "load-member-00001"
    assert properties["plusfriendUserKey"] == properties["plusfriend_user_key"]
    assert payload["action"]["clientExtra"] == {}
    assert payload["flow"]["trigger"]["type"] == "TEXT_INPUT"
    assert not payload["bot"]["id"].endswith("!")


def test_the_app_decodes_what_it_builds() -> None:
    extra = {"s": 3, "q": 0}
    body = json.dumps(build_payload("u1", "참여 3\n둘째 줄", extra), ensure_ascii=False)
    request = decode_request(body.encode())
    assert (request.user_key, request.utterance) == ("u1", "참여 3\n둘째 줄")
    assert request.client_extra == extra


def test_a_tap_carries_a_copy_of_its_extra() -> None:
    extra = {"s": 3}
    payload = build_payload("u1", "참여 3", extra)
    assert payload["flow"]["trigger"]["type"] == "QUICKREPLY_BUTTON_MESSAGE"
    payload["action"]["clientExtra"]["s"] = 4
    assert extra == {"s": 3}
    card = build_payload("u1", "결과 3", {"k": 1}, trigger="CARD_BUTTON_MESSAGE")
    assert card["flow"]["trigger"]["type"] == "CARD_BUTTON_MESSAGE"


def test_test_panel_requests_reach_the_development_bot() -> None:
    payload = build_payload("k", "메뉴", test_panel=True)
    assert payload["userRequest"]["params"]["surface"] == "BuilderBotTest"
    assert payload["bot"]["id"].endswith("!")
    assert payload["flow"]["trigger"]["type"] == "TEXT_INPUT"


def test_payloads_share_no_mutable_parts() -> None:
    first, second = build_payload("a", "x"), build_payload("b", "y")
    first["intent"]["name"] = first["action"]["params"]["p"] = "changed"
    first["flow"]["lastBlock"]["id"] = "changed"
    assert second == build_payload("b", "y")
