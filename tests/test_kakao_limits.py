"""validate_reply (the builder's own check) and the independent checker on hand-made replies.

validate_reply knows the components the builder emits (simpleText, textCard with buttons, quick
replies); the independent checker of devstack.openbuilder knows them all.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from typing import Any

import pytest

from devstack.openbuilder import assert_valid_reply, reply_problems
from surveybot.kakao.limits import validate_reply

BUBBLE = 30_720
L14 = "라벨" * 7  # 14 characters: the longest label
L15 = L14 + "가"
S14 = "설명" * 7
S15 = S14 + "가"


def wire_size(payload: dict[str, Any]) -> int:
    return len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def base() -> dict[str, Any]:
    return {"version": "2.0", "template": {
        "outputs": [{"simpleText": {"text": "안녕"}}],
        "quickReplies": [{"label": "메뉴", "action": "message", "messageText": "메뉴"}],
    }}


def with_output(component: dict[str, Any]) -> dict[str, Any]:
    payload = base()
    payload["template"]["outputs"] = [component]
    return payload


def card(**fields: Any) -> dict[str, Any]:
    return with_output({"textCard": {"title": "t", **fields}})


def carousel(kind: str, items: list[Any]) -> dict[str, Any]:
    return with_output({"carousel": {"type": kind, "items": items}})


def button(**fields: Any) -> dict[str, Any]:
    return {"label": "버튼", "action": "message", "messageText": "m", **fields}


THUMB = {"imageUrl": "https://ex.kr/i.png"}
IMAGE = {"imageUrl": "https://ex.kr/a.png"}
LINK = {"label": "l", "action": "webLink", "webLinkUrl": "https://ex.kr"}
SIMPLE = {"simpleText": {"text": "a"}}
L8 = "라벨" * 4
BASIC = {"title": "t", "description": "d", "thumbnail": THUMB}
LIST = {"header": {"title": "h"}, "items": [{"title": "i"}]}
ITEM = {"itemList": [{"title": "구분", "description": "값"}], "title": "t", "description": "d"}

VALID: dict[str, dict[str, Any]] = {
    "base": base(),
    "no quick replies": {"version": "2.0", "template": {"outputs": [SIMPLE]}},
    "three outputs": {"version": "2.0", "template": {"outputs": [SIMPLE] * 3}},
    "1000 chars": with_output({"simpleText": {"text": "가" * 1000}}),
    "ten quick replies": {"version": "2.0", "template": {
        "outputs": [{"simpleText": {"text": "a"}}],
        "quickReplies": [button(label=L14)] * 10}},
    "block quick reply": {"version": "2.0", "template": {
        "outputs": [{"simpleText": {"text": "a"}}],
        "quickReplies": [{"label": "b", "action": "block", "blockId": "65f0"}]}},
    "textCard full": card(title="제" * 50, description="설" * 400,
                          buttons=[button(), button(), button(label=L14)]),
    "textCard description only": with_output({"textCard": {"description": "d"}}),
    "horizontal two short": card(buttonLayout="horizontal", buttons=[button(label=L8)] * 2),
    "horizontal one long": card(buttonLayout="horizontal", buttons=[button(label=L14)]),
    "link button": card(buttons=[{"label": "l", "action": "webLink", "webLinkUrl": "http://a.kr"}]),
    "other buttons": card(buttons=[{"label": "p", "action": "phone", "phoneNumber": "010"},
                                   {"label": "s", "action": "share"},
                                   {"label": "b", "action": "block", "blockId": "1"}]),
    "simpleImage": with_output({"simpleImage": {**IMAGE, "altText": "a" * 50}}),
    "basicCard": with_output({"basicCard": {**BASIC, "description": "d" * 230}}),
    "commerceCard": with_output({"commerceCard": {"price": 1000, "buttons": [button()]}}),
    "listCard": with_output({"listCard": {**LIST, "items": [{"title": "i"}] * 5}}),
    "itemCard": with_output({"itemCard": {
        **ITEM,
        "itemList": [{"title": "여섯글자제목"}] * 10,
        "itemListSummary": {"title": "합계", "description": S14},
    }}),
    "itemCard 12 lines": with_output({"itemCard": {**ITEM, "description": "\n".join("d" * 11)}}),
    "carousel basic": with_output({"carousel": {"type": "basicCard", "items": [BASIC] * 10}}),
    "carousel list": carousel("listCard", [{**LIST, "items": [{"title": "i"}] * 4}] * 5),
    "carousel text": carousel("textCard", [{"description": "d" * 128}]),
}


def exactly_bubble() -> dict[str, Any]:
    payload = base()
    quick = payload["template"]["quickReplies"][0]
    quick["messageText"] = ""
    quick["messageText"] = "a" * (BUBBLE - wire_size(payload))
    return payload


VALID["exactly 30720 bytes"] = exactly_bubble()


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_hand_made_replies_pass_both_checkers(name: str) -> None:
    assert validate_reply(VALID[name]) == []
    assert reply_problems(VALID[name]) == []


def mutate(edit: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    payload = base()
    edit(payload)
    return payload


def set_outputs(*components: Any) -> Callable[[dict[str, Any]], Any]:
    return lambda payload: payload["template"].__setitem__("outputs", list(components))


def set_quick(*quick: Any) -> Callable[[dict[str, Any]], Any]:
    return lambda payload: payload["template"].__setitem__("quickReplies", list(quick))


Q = {"label": "q", "action": "message", "messageText": "q"}

INVALID: dict[str, Any] = {
    "not a dict": ["version", "2.0"],
    "no version": mutate(lambda p: p.pop("version")),
    "version 1.0": mutate(lambda p: p.__setitem__("version", "1.0")),
    "version number": mutate(lambda p: p.__setitem__("version", 2.0)),
    "no template": mutate(lambda p: p.pop("template")),
    "template list": mutate(lambda p: p.__setitem__("template", [])),
    "no outputs": mutate(lambda p: p["template"].pop("outputs")),
    "zero outputs": mutate(set_outputs()),
    "four outputs": mutate(set_outputs(SIMPLE, SIMPLE, SIMPLE, SIMPLE)),
    "outputs dict": mutate(lambda p: p["template"].__setitem__("outputs", SIMPLE)),
    "output two keys": mutate(set_outputs({**SIMPLE, "textCard": {"title": "t"}})),
    "output empty": mutate(set_outputs({})),
    "output unknown": mutate(set_outputs({"htmlText": {"text": "a"}})),
    "output not dict": mutate(set_outputs("a")),
    "component not dict": mutate(set_outputs({"simpleText": "a"})),
    "text missing": mutate(set_outputs({"simpleText": {}})),
    "text empty": mutate(set_outputs({"simpleText": {"text": ""}})),
    "text blank": mutate(set_outputs({"simpleText": {"text": " \n "}})),
    "text number": mutate(set_outputs({"simpleText": {"text": 5}})),
    "text 1001": mutate(set_outputs({"simpleText": {"text": "가" * 1001}})),
    "text 501 emoji": mutate(set_outputs({"simpleText": {"text": "😀" * 501}})),
    "card title 51": card(title="제" * 51),
    "card description 401": card(description="설" * 401),
    "card neither": with_output({"textCard": {"buttons": [button()]}}),
    "card both blank": with_output({"textCard": {"title": "", "description": " "}}),
    "card title number": card(title=3),
    "four buttons": card(buttons=[button()] * 4),
    "buttons not list": card(buttons=button()),
    "button label 15": card(buttons=[button(label=L15)]),
    "button label empty": card(buttons=[button(label="")]),
    "button no label": card(buttons=[{"action": "message", "messageText": "m"}]),
    "button unknown action": card(buttons=[button(action="open")]),
    "button javascript": card(buttons=[{**LINK, "webLinkUrl": "javascript:x"}]),
    "button no url": card(buttons=[{"label": "l", "action": "webLink"}]),
    "button no scheme": card(buttons=[{"label": "l", "action": "webLink", "webLinkUrl": "ex.kr"}]),
    "button message no text": card(buttons=[{"label": "l", "action": "message"}]),
    "button block no id": card(buttons=[{"label": "l", "action": "block"}]),
    "button phone no number": card(buttons=[{"label": "l", "action": "phone"}]),
    "button extra list": card(buttons=[button(extra=[1])]),
    "button not dict": card(buttons=["b"]),
    "eleven quick": mutate(set_quick(*[Q] * 11)),
    "quick not list": mutate(lambda p: p["template"].__setitem__("quickReplies", Q)),
    "quick not dict": mutate(set_quick("메뉴")),
    "quick label 15": mutate(set_quick({**Q, "label": L15})),
    "quick label empty": mutate(set_quick({**Q, "label": ""})),
    "quick label blank": mutate(set_quick({**Q, "label": "  "})),
    "quick no label": mutate(set_quick({"action": "message", "messageText": "q"})),
    "quick weblink": mutate(set_quick({**Q, "action": "webLink", "webLinkUrl": "https://e.kr"})),
    "quick no action": mutate(set_quick({"label": "q", "messageText": "q"})),
    "quick message no text": mutate(set_quick({"label": "q", "action": "message"})),
    "quick message empty text": mutate(set_quick({**Q, "messageText": ""})),
    "quick block no id": mutate(set_quick({"label": "q", "action": "block"})),
    "quick extra string": mutate(set_quick({**Q, "extra": "x"})),
    "30721 bytes": mutate(lambda p: p["template"]["quickReplies"][0].__setitem__(
        "messageText", exactly_bubble()["template"]["quickReplies"][0]["messageText"] + "a")),
    "over bubble in korean": mutate(set_quick(*[{**Q, "messageText": "한" * 1100}] * 10)),
    "not serialisable": mutate(set_quick({**Q, "extra": {"s": object()}})),
}

# Components and layouts the builder never emits: only the independent checker knows them.
INVALID_ELSEWHERE: dict[str, Any] = {
    "image alt 51": with_output({"simpleImage": {**IMAGE, "altText": "a" * 51}}),
    "image no alt": with_output({"simpleImage": {"imageUrl": "https://e.kr/a"}}),
    "image ftp": with_output({"simpleImage": {"imageUrl": "ftp://e.kr/a", "altText": "a"}}),
    "horizontal three": card(buttonLayout="horizontal", buttons=[button()] * 3),
    "horizontal label 9": card(buttonLayout="horizontal", buttons=[button(label=L8 + "가")] * 2),
    "basic no thumbnail": with_output({"basicCard": {"title": "t"}}),
    "basic title 51": with_output({"basicCard": {**BASIC, "title": "t" * 51}}),
    "basic description 231": with_output({"basicCard": {**BASIC, "description": "d" * 231}}),
    "basic four buttons": with_output({"basicCard": {**BASIC, "buttons": [button()] * 4}}),
    "commerce four buttons": with_output({"commerceCard": {"buttons": [button()] * 4}}),
    "list no header": with_output({"listCard": {"items": [{"title": "i"}]}}),
    "list header no title": with_output({"listCard": {**LIST, "header": {}}}),
    "list six items": with_output({"listCard": {**LIST, "items": [{"title": "i"}] * 6}}),
    "list no items": with_output({"listCard": {**LIST, "items": []}}),
    "list item no title": with_output({"listCard": {**LIST, "items": [{"description": "d"}]}}),
    "item eleven": with_output({"itemCard": {**ITEM, "itemList": [{"title": "a"}] * 11}}),
    "item no list": with_output({"itemCard": {"title": "t"}}),
    "item title 7": with_output({"itemCard": {**ITEM, "itemList": [{"title": "일곱글자짜리제"}]}}),
    "summary title 7": with_output({"itemCard": {**ITEM, "itemListSummary": {"title": "가" * 7}}}),
    "summary description 15": with_output({"itemCard": {**ITEM, "itemListSummary": {
        "title": "합계", "description": S15}}}),
    "item text 201": with_output({"itemCard": {**ITEM, "title": "t", "description": "d" * 200}}),
    "item 13 lines": with_output({"itemCard": {**ITEM, "title": "t\nt", "description": "\n" * 10}}),
    "carousel eleven": with_output({"carousel": {"type": "basicCard", "items": [BASIC] * 11}}),
    "carousel six lists": with_output({"carousel": {"type": "listCard", "items": [LIST] * 6}}),
    "carousel list five items": with_output({"carousel": {"type": "listCard", "items": [
        {**LIST, "items": [{"title": "i"}] * 5}]}}),
    "carousel item six": with_output({"carousel": {"type": "itemCard", "items": [
        {**ITEM, "itemList": [{"title": "a"}] * 6}]}}),
    "carousel text 129": carousel("textCard", [{"description": "d" * 129}]),
    "carousel of text": with_output({"carousel": {"type": "simpleText", "items": [{"text": "a"}]}}),
    "carousel no type": with_output({"carousel": {"items": [BASIC]}}),
    "carousel empty": with_output({"carousel": {"type": "basicCard", "items": []}}),
    "carousel item not dict": with_output({"carousel": {"type": "basicCard", "items": ["x"]}}),
}


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_hand_made_replies_fail_both_checkers(name: str) -> None:
    payload = INVALID[name]
    assert validate_reply(payload), name
    assert reply_problems(payload), name
    with pytest.raises(AssertionError):
        assert_valid_reply(payload)


@pytest.mark.parametrize("name", sorted(INVALID_ELSEWHERE))
def test_invalid_components_the_builder_never_emits_fail_the_independent_checker(
    name: str,
) -> None:
    assert reply_problems(INVALID_ELSEWHERE[name]), name


def test_validate_reply_names_the_problem() -> None:
    problems = validate_reply(card(title="제" * 51, buttons=[button(label="")] * 4))
    assert any("title" in problem and "51" in problem for problem in problems)
    assert any("buttons" in problem and "4" in problem for problem in problems)
    assert any("label" in problem for problem in problems)


def test_validators_never_raise_on_garbage() -> None:
    garbage: list[Any] = [None, 3, "x", [], {}, {"template": None}, {"template": {"outputs": None}},
                          {"version": "2.0", "template": {"outputs": [None, 1, [], {"a": 1}]}}]
    everything = [*VALID.values(), *INVALID.values(), *INVALID_ELSEWHERE.values()]
    rng = random.Random(3)
    for _ in range(200):
        payload = copy.deepcopy(rng.choice(everything))
        poke(rng, payload)
        garbage.append(payload)
    for payload in garbage:
        validate_reply(payload)
        reply_problems(payload)


def poke(rng: random.Random, node: Any) -> None:
    """Replace one random value somewhere inside `node` with junk."""
    if not node or not isinstance(node, dict | list):
        return
    key = rng.choice(list(node) if isinstance(node, dict) else range(len(node)))
    if rng.random() < 0.5 and isinstance(node[key], dict | list):
        poke(rng, node[key])
    else:
        node[key] = rng.choice([None, 0, "", [], {}, "x" * 2000, {"k": None}, True])
