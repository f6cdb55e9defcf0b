"""The reply builder keeps every Kakao limit; validate_reply and kakao_checks catch every breach."""

from __future__ import annotations

import copy
import itertools
import json
import logging
import random
from collections.abc import Callable
from typing import Any

import pytest

from surveybot.kakao import (
    APOLOGY,
    Button,
    QuickReply,
    Reply,
    SimpleText,
    TextCard,
    encode_reply,
    error_reply,
    paginate,
    simple_text_reply,
    validate_reply,
)
from surveybot.kakao import reply as reply_module

from kakao_checks import (
    assert_valid_reply,
    button_list,
    quick_labels,
    quick_texts,
    reply_problems,
    reply_texts,
)

BUBBLE = 30_720
L14 = "라벨" * 7  # 14 characters: the longest label
L15 = L14 + "가"
S14 = "설명" * 7
S15 = S14 + "가"


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def wire_size(payload: dict[str, Any]) -> int:
    return len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def check(payload: dict[str, Any]) -> dict[str, Any]:
    """Both validators agree the payload is fine; returns it."""
    assert_valid_reply(payload)
    assert validate_reply(payload) == []
    return payload


def outputs(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return list(payload["template"]["outputs"])


# ---- ordinary use -----------------------------------------------------------------------------


def test_reference_reply_shape() -> None:
    payload = (
        Reply()
        .text("설문 3 응답이 저장되었습니다.")
        .quick("내 응답 보기", "내응답 3")
        .quick("처음으로", "메뉴")
        .to_dict()
    )
    assert payload == {
        "version": "2.0",
        "template": {
            "outputs": [{"simpleText": {"text": "설문 3 응답이 저장되었습니다."}}],
            "quickReplies": [
                {"label": "내 응답 보기", "action": "message", "messageText": "내응답 3"},
                {"label": "처음으로", "action": "message", "messageText": "메뉴"},
            ],
        },
    }
    check(payload)


def test_card_with_buttons_and_extra() -> None:
    buttons = [Button.message("시작", "설문 3", {"step": 0}), Button.link("안내", "https://ex.kr/a")]
    reply = Reply().card("설문 3", "3문항, 1분", buttons).quick("다음", "다음", {"s": 1})
    payload = check_reply(reply)
    assert outputs(payload) == [{"textCard": {
        "title": "설문 3",
        "description": "3문항, 1분",
        "buttons": [
            {"label": "시작", "action": "message", "messageText": "설문 3", "extra": {"step": 0}},
            {"label": "안내", "action": "webLink", "webLinkUrl": "https://ex.kr/a"},
        ],
    }}]
    assert payload["template"]["quickReplies"][0]["extra"] == {"s": 1}


def check_reply(reply: Reply) -> dict[str, Any]:
    return check(reply.to_dict())


def test_chainable_and_read_only_views() -> None:
    reply = Reply()
    assert reply.text("a") is reply
    assert reply.card("t", None) is reply
    assert reply.quick("q", "q") is reply
    assert reply.outputs == (SimpleText("a"), TextCard("t", None, ()))
    assert reply.quick_replies == (QuickReply("q", "q", None),)
    assert isinstance(reply.outputs, tuple) and isinstance(reply.quick_replies, tuple)


def test_to_dict_is_repeatable_and_returns_fresh_data() -> None:
    extra = {"step": 1}
    reply = Reply().text("a").quick("b", "b", extra)
    first = reply.to_dict()
    first["template"]["outputs"].clear()
    first["template"]["quickReplies"][0]["extra"]["step"] = 99
    assert reply.to_dict()["template"]["outputs"] == [{"simpleText": {"text": "a"}}]
    assert extra == {"step": 1}
    assert reply.to_dict()["template"]["quickReplies"][0]["extra"] == {"step": 1}


def test_helpers() -> None:
    assert reply_texts(check(simple_text_reply("안녕하세요"))) == ["안녕하세요"]
    apology = check(error_reply())
    assert reply_texts(apology) == [APOLOGY]
    assert quick_labels(apology) == ["메뉴"] and quick_texts(apology) == ["메뉴"]
    custom = check(error_reply("설문을 찾을 수 없습니다."))
    assert reply_texts(custom) == ["설문을 찾을 수 없습니다."]


@pytest.mark.parametrize("text", ["", "   ", "가" * 50_000, "\ud800깨짐", "\x00\x01" * 900, 12345])
def test_error_reply_never_fails(text: Any) -> None:
    payload = check(error_reply(text))
    assert quick_texts(payload) == ["메뉴"]


def test_encode_reply_is_compact_utf8_json() -> None:
    payload = Reply().text("한글 \"따옴표\"\n줄").quick("메뉴", "메뉴").to_dict()
    raw = encode_reply(payload)
    assert json.loads(raw) == payload
    assert len(raw) == wire_size(payload)
    assert "한글".encode() in raw


# ---- outputs: count, emptiness, text length ---------------------------------------------------


def test_no_outputs_gets_a_placeholder() -> None:
    payload = check_reply(Reply())
    assert len(outputs(payload)) == 1 and "simpleText" in outputs(payload)[0]
    with_quick = check_reply(Reply().quick("처음으로", "메뉴"))
    assert reply_texts(with_quick) == ["아래에서 선택해 주세요."]


@pytest.mark.parametrize("blank", ["", " ", "\n\t ", None])
def test_blank_text_is_dropped(blank: Any) -> None:
    payload = check_reply(Reply().text(blank).text("내용"))
    assert reply_texts(payload) == ["내용"]


def test_non_string_text_is_stringified() -> None:
    assert reply_texts(check_reply(Reply().text(42))) == ["42"]  # type: ignore[arg-type]


def test_more_than_three_short_texts_are_merged_in_order() -> None:
    reply = Reply()
    for index in range(7):
        reply.text(f"문단 {index}")
    payload = check_reply(reply)
    assert len(outputs(payload)) == 1
    assert reply_texts(payload) == ["\n\n".join(f"문단 {index}" for index in range(7))]


def test_more_than_three_long_texts_keep_the_first_two_and_fold_the_rest() -> None:
    reply = Reply()
    for index in range(5):
        reply.text(str(index) * 800)
    payload = check_reply(reply)
    texts = reply_texts(payload)
    assert texts[:2] == ["0" * 800, "1" * 800]
    assert len(texts) == 3 and texts[2].startswith("2" * 800) and texts[2].endswith("…")


def test_cards_after_the_third_output_are_folded_into_text() -> None:
    reply = Reply().card("첫 카드", "설명").text("a" * 900).text("b" * 900)
    reply.card("넷째", "넷째 설명", [Button.message("눌러", "눌러")]).card(None, "다섯째")
    payload = check_reply(reply)
    assert [next(iter(o)) for o in outputs(payload)] == ["textCard", "simpleText", "simpleText"]
    assert reply_texts(payload) == ["첫 카드", "설명", "a" * 900,
                                    "b" * 900 + "\n\n넷째\n넷째 설명\n\n다섯째"]
    assert button_list(payload) == []


def test_cards_are_never_merged_when_three_or_fewer() -> None:
    payload = check_reply(Reply().text("a").text("b").card("c", None))
    assert reply_texts(payload) == ["a", "b", "c"]


@pytest.mark.parametrize("size", [999, 1000, 1001, 1500, 100_000])
def test_simple_text_limit(size: int, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="surveybot.kakao.reply"):
        payload = check_reply(Reply().text("가" * size))
    [text] = reply_texts(payload)
    if size <= 1000:
        assert text == "가" * size and not caplog.records
    else:
        assert len(text) == 1000 and text.endswith("…") and text.startswith("가" * 999)
        assert "truncated" in caplog.text


def test_emoji_count_twice_towards_the_limit() -> None:
    [text] = reply_texts(check_reply(Reply().text("😀" * 600)))
    assert utf16(text) <= 1000 and text.endswith("…")


def test_lone_surrogates_are_replaced_so_the_reply_encodes() -> None:
    payload = check_reply(Reply().text("a\ud800b").quick("\udfff", "x\ud83d\ude00"))
    encode_reply(payload)
    assert reply_texts(payload) == ["a\ufffdb"]
    assert quick_texts(payload) == ["x😀"]


# ---- textCard --------------------------------------------------------------------------------


def test_card_title_and_description_limits() -> None:
    payload = check_reply(Reply().card("제" * 51, "설" * 401))
    card = outputs(payload)[0]["textCard"]
    assert len(card["title"]) == 50 and card["title"].endswith("…")
    assert len(card["description"]) == 400 and card["description"].endswith("…")
    exact = check_reply(Reply().card("제" * 50, "설" * 400))["template"]["outputs"][0]["textCard"]
    assert exact == {"title": "제" * 50, "description": "설" * 400}


def test_card_needs_a_title_or_description() -> None:
    only_buttons = check_reply(Reply().card(None, " ", [Button.message("예", "예")]))
    card = outputs(only_buttons)[0]["textCard"]
    assert card["description"] and card["buttons"][0]["messageText"] == "예"
    nothing = check_reply(Reply().card("", None).text("본문"))
    assert reply_texts(nothing) == ["본문"]


def test_buttons_are_capped_at_three() -> None:
    buttons = [Button.message(f"버튼{index}", f"b{index}") for index in range(6)]
    payload = check_reply(Reply().card("t", "d", buttons))
    assert [b["messageText"] for b in button_list(payload)] == ["b0", "b1", "b2"]


def test_button_labels() -> None:
    buttons = [
        Button.message(L15, "x"),
        Button.message("", "설문 3 응답 시작하기 지금"),
        Button.message("  ", ""),
    ]
    payload = check_reply(Reply().card("t", None, buttons))
    labels = [b["label"] for b in button_list(payload)]
    assert labels == [L14[:13] + "…", "설문 3 응답 시작하기…"]
    assert button_list(payload)[1]["messageText"] == "설문 3 응답 시작하기 지금"


def test_message_button_without_text_sends_its_label() -> None:
    payload = check_reply(Reply().card("t", None, [Button("확인", "message")]))
    assert button_list(payload) == [{"label": "확인", "action": "message", "messageText": "확인"}]


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://example.com/x?a=1", True),
        ("http://example.com", True),
        ("HTTPS://EXAMPLE.COM/", True),
        ("  https://example.com/padded  ", True),
        ("javascript:alert(1)", False),
        ("JavaScript://example.com/%0aalert(1)", False),
        ("ftp://example.com/file", False),
        ("data:text/html,<b>x</b>", False),
        ("kakaotalk://plusfriend/home", False),
        ("tel:01012345678", False),
        ("//example.com/no-scheme", False),
        ("example.com", False),
        ("http://", False),
        ("https:///path-only", False),
        ("http://exa mple.com", False),
        ("http://[::1", False),
        ("", False),
        (None, False),
    ],
    ids=repr,
)
def test_link_buttons_allow_http_and_https_only(url: Any, kept: bool) -> None:
    buttons = [Button.link("링크", url), Button.message("ok", "ok")]
    payload = check_reply(Reply().card("t", "d", buttons))
    links = [b for b in button_list(payload) if b["action"] == "webLink"]
    assert bool(links) == kept
    if kept:
        assert links[0]["webLinkUrl"] == url.strip()


def test_link_button_without_label_gets_one() -> None:
    payload = check_reply(Reply().card("t", None, [Button.link("", "https://ex.kr")]))
    assert button_list(payload)[0]["label"]


@pytest.mark.parametrize("action", ["block", "phone", "share", "operator", "", "webview"])
def test_unsupported_button_actions_are_dropped(action: str) -> None:
    payload = check_reply(Reply().card("t", None, [Button("x", action, "x", "https://e.kr")]))
    assert button_list(payload) == []


# ---- quick replies -----------------------------------------------------------------------------


def test_quick_replies_are_capped_at_ten_keeping_the_first() -> None:
    reply = Reply().text("골라 주세요")
    for index in range(15):
        reply.quick(f"{index}번", f"선택 {index}")
    payload = check_reply(reply)
    assert quick_texts(payload) == [f"선택 {index}" for index in range(10)]


def test_quick_reply_labels() -> None:
    reply = Reply().text("t")
    reply.quick(L15, "a")
    reply.quick(L14, "b")
    reply.quick("", "설문 12 의 결과 보기 부탁")
    reply.quick("  \n ", "짧음")
    reply.quick("줄\n바꿈", "c")
    reply.quick("", "")
    reply.quick(" ", "  ")
    payload = check_reply(reply)
    assert quick_labels(payload) == [
        L14[:13] + "…",
        L14,
        "설문 12 의 결과 보기…",
        "짧음",
        "줄 바꿈",
    ]
    assert quick_texts(payload) == ["a", "b", "설문 12 의 결과 보기 부탁", "짧음", "c"]


def test_quick_reply_without_text_sends_its_label() -> None:
    payload = check_reply(Reply().text("t").quick("처음으로", ""))
    assert quick_texts(payload) == ["처음으로"]


def test_identical_quick_replies_are_deduplicated_before_the_cap() -> None:
    reply = Reply().text("t")
    for _ in range(5):
        reply.quick("메뉴", "메뉴")
    for index in range(10):
        reply.quick(f"{index}", f"{index}", {"n": index})
    reply.quick("메뉴", "메뉴", {"different": "extra"})
    payload = check_reply(reply)
    assert quick_texts(payload) == ["메뉴"] + [str(index) for index in range(9)]


@pytest.mark.parametrize(
    "extra", [[1, 2], "step=1", 3, {"obj": object()}, {"deep": [{"x": object()}]}, {}]
)
def test_unusable_or_empty_extra_is_dropped(extra: Any) -> None:
    payload = check_reply(Reply().text("t").quick("a", "a", extra))
    assert "extra" not in payload["template"]["quickReplies"][0]


# ---- the bubble byte limit -----------------------------------------------------------------------


def test_huge_korean_quick_reply_texts_are_shrunk_into_one_bubble() -> None:
    reply = Reply().text("가" * 1000).text("나" * 1000).card("다" * 50, "라" * 400)
    for index in range(10):
        reply.quick(f"선택{index}", f"{index}" + "한" * 5000)
    payload = check_reply(reply)
    assert wire_size(payload) <= BUBBLE
    # falcon's resp.media (json.dumps with ", " and ": ") fits too: the builder keeps a margin
    assert len(json.dumps(payload, ensure_ascii=False).encode()) <= BUBBLE
    assert quick_labels(payload) == [f"선택{index}" for index in range(10)]
    # the visible texts are kept whole: the oversized message texts gave the bytes
    assert reply_texts(payload)[:2] == ["가" * 1000, "나" * 1000]
    assert all(text.startswith(str(index)) for index, text in enumerate(quick_texts(payload)))


def test_huge_extras_are_dropped_first() -> None:
    reply = Reply().text("본문")
    for index in range(10):
        reply.quick(f"q{index}", f"q{index}", {"blob": "x" * 10_000, "n": index})
    payload = check_reply(reply)
    assert quick_texts(payload) == [f"q{index}" for index in range(10)]
    assert reply_texts(payload) == ["본문"]


def test_huge_link_url_drops_the_button() -> None:
    buttons = [Button.link("링크", "https://ex.kr/" + "a" * 40_000), Button.message("ok", "ok")]
    payload = check_reply(Reply().card("t", "d", buttons))
    assert [b["label"] for b in button_list(payload)] == ["ok"]


def test_escaped_control_characters_count_in_bytes() -> None:
    # each \x01 takes 6 bytes on the wire, so 3 full texts alone would be 18 KB
    reply = Reply().text("\x01" * 1000).text("\x02" * 1000).text("\x03" * 1000)
    for index in range(10):
        reply.quick(f"{index}", "\x04" * 2000 + str(index))
    assert wire_size(check_reply(reply)) <= BUBBLE


# ---- generated cases ------------------------------------------------------------------------

ALPHABET = "가나다라마바사 abcXYZ019 \n\t\"\\<>&😀\x00\x01\u2028"
SIZES = [0, 1, 8, 13, 14, 15, 49, 50, 51, 128, 399, 400, 401, 999, 1000, 1001, 3000]
URLS = ["https://ex.kr/p", "http://a.b", "javascript:x", "ftp://x", "", "https://x.kr/" + "u" * 500]


def rand_text(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.choice(SIZES)))


def rand_button(rng: random.Random) -> Button:
    if rng.random() < 0.4:
        return Button.link(rand_text(rng), rng.choice(URLS))
    extra = rng.choice([None, {}, {"step": rng.randint(0, 9)}, {"blob": "x" * 4000}])
    return Button(rand_text(rng), rng.choice(["message", "message", "block"]), rand_text(rng),
                  None, extra)


def rand_reply(rng: random.Random) -> Reply:
    reply = Reply()
    for _ in range(rng.randint(0, 6)):
        if rng.random() < 0.5:
            reply.text(rand_text(rng))
        else:
            buttons = [rand_button(rng) for _ in range(rng.randint(0, 5))]
            reply.card(rng.choice([None, rand_text(rng)]), rand_text(rng), buttons)
    for _ in range(rng.randint(0, 14)):
        extra = rng.choice([None, {"step": 1}, {"blob": "가" * 3000}])
        reply.quick(rand_text(rng), rand_text(rng), extra)
    return reply


def test_generated_replies_are_always_valid() -> None:
    rng = random.Random(20240501)
    for _ in range(250):
        payload = check(rand_reply(rng).to_dict())
        assert wire_size(payload) <= BUBBLE
        # the builder repairs; it never needs the last-resort apology
        assert reply_texts(payload) != [APOLOGY]


# ---- last resort ----------------------------------------------------------------------------


def test_a_builder_crash_still_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(item: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(reply_module, "_render", boom)
    payload = check_reply(Reply().text("x"))
    assert reply_texts(payload) == [APOLOGY]


def test_an_invalid_build_is_never_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reply_module, "validate_reply", lambda payload: ["broken"])
    assert reply_texts(check(Reply().text("x").to_dict())) == [APOLOGY]


# ---- paginate ------------------------------------------------------------------------------------


def squash(text: str) -> str:
    """The text without whitespace: pagination may only drop whitespace at page boundaries."""
    return "".join(text.split())


def test_paginate_small_cases() -> None:
    assert paginate("") == [""]
    assert paginate("한 줄") == ["한 줄"]
    assert paginate("  \n  ") == ["  \n  "]
    assert paginate("가" * 900) == ["가" * 900]
    assert paginate("a\nb\nc\nd", 3) == ["a\nb", "c\nd"]
    assert paginate("a\r\nb\r\nc", 3) == ["a\nb", "c"]
    assert paginate("\n" * 50, 10) == [""]
    with pytest.raises(ValueError):
        paginate("abc", 1)


def test_paginate_splits_long_lines_after_a_space() -> None:
    assert paginate("aaaa bbbb cccc", 10) == ["aaaa bbbb ", "cccc"]
    assert paginate("abcdefghij" * 3, 10) == ["abcdefghij"] * 3
    assert paginate("😀" * 5, 4) == ["😀😀", "😀😀", "😀"]


def test_paginate_drops_blank_lines_at_page_boundaries() -> None:
    pages = paginate("aaaa\n\n\n\nbbbb\n\ncccc", 6)
    assert pages == ["aaaa", "bbbb", "cccc"]


def test_paginate_korean_survey_results() -> None:
    lines = [f"{index}. 만족도 문항 {index}번: 매우 만족 {index * 3}명, 보통 {index}명"
             for index in range(200)]
    text = "\n".join(lines)
    pages = paginate(text)
    assert len(pages) > 1
    assert all(len(page) <= 900 for page in pages)
    assert "\n".join(pages) == text
    for page, following in itertools.pairwise(pages):
        # greedy: the next page's first line would not have fitted
        assert len(page) + 1 + len(following.split("\n")[0]) > 900


def rand_document(rng: random.Random) -> str:
    words = ["설문", "응답", "가나다라마바사", "word", "😀", " ", "  ", "\t", "x" * 40]
    lines = []
    for _ in range(rng.randint(0, 60)):
        shape = rng.random()
        if shape < 0.15:
            lines.append(rng.choice(["", " ", "\t"]))
        elif shape < 0.25:
            lines.append(rng.choice("가a😀") * rng.randint(50, 400))
        else:
            lines.append("".join(rng.choice(words) for _ in range(rng.randint(1, 30))))
    return rng.choice(["\n", "\r\n"]).join(lines)


def test_paginate_properties_on_generated_text() -> None:
    rng = random.Random(7)
    for _ in range(300):
        text = rand_document(rng)
        limit = rng.choice([2, 5, 10, 37, 100, 900])
        pages = paginate(text, limit)
        assert pages, text
        assert all(utf16(page) <= limit for page in pages)
        assert squash("\n".join(pages)) == squash(text)
        if len(pages) > 1:
            assert all(page.strip() for page in pages)
            assert all(page.split("\n")[0].strip() and page.split("\n")[-1].strip()
                       for page in pages)


def test_paginate_without_long_or_blank_lines_reproduces_the_lines() -> None:
    rng = random.Random(11)
    for _ in range(300):
        limit = rng.choice([20, 50, 900])
        lines = ["가" * rng.randint(1, limit) for _ in range(rng.randint(1, 80))]
        pages = paginate("\n".join(lines), limit)
        assert "\n".join(pages) == "\n".join(lines)
        assert [line for page in pages for line in page.split("\n")] == lines


def test_paginated_pages_make_valid_replies() -> None:
    text = "\n".join("긴 결과 줄 " * repeat for repeat in range(1, 120))
    for page in paginate(text):
        check(Reply().text(page).quick("다음", "다음").to_dict())


# ---- validate_reply and kakao_checks reject hand-made invalid replies ---------------------------


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
    "image alt 51": with_output({"simpleImage": {**IMAGE, "altText": "a" * 51}}),
    "image no alt": with_output({"simpleImage": {"imageUrl": "https://e.kr/a"}}),
    "image ftp": with_output({"simpleImage": {"imageUrl": "ftp://e.kr/a", "altText": "a"}}),
    "card title 51": card(title="제" * 51),
    "card description 401": card(description="설" * 401),
    "card neither": with_output({"textCard": {"buttons": [button()]}}),
    "card both blank": with_output({"textCard": {"title": "", "description": " "}}),
    "card title number": card(title=3),
    "four buttons": card(buttons=[button()] * 4),
    "buttons not list": card(buttons=button()),
    "horizontal three": card(buttonLayout="horizontal", buttons=[button()] * 3),
    "horizontal label 9": card(buttonLayout="horizontal", buttons=[button(label=L8 + "가")] * 2),
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


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_hand_made_replies_fail_both_checkers(name: str) -> None:
    payload = INVALID[name]
    assert validate_reply(payload), name
    assert reply_problems(payload), name
    with pytest.raises(AssertionError):
        assert_valid_reply(payload)


def test_validate_reply_names_the_problem() -> None:
    problems = validate_reply(card(title="제" * 51, buttons=[button(label="")] * 4))
    assert any("title" in problem and "51" in problem for problem in problems)
    assert any("buttons" in problem and "4" in problem for problem in problems)
    assert any("label" in problem for problem in problems)


def test_validators_never_raise_on_garbage() -> None:
    garbage: list[Any] = [None, 3, "x", [], {}, {"template": None}, {"template": {"outputs": None}},
                          {"version": "2.0", "template": {"outputs": [None, 1, [], {"a": 1}]}}]
    rng = random.Random(3)
    for _ in range(200):
        payload = copy.deepcopy(rng.choice(list(VALID.values()) + list(INVALID.values())))
        poke(rng, payload)
        garbage.append(payload)
    for payload in garbage:
        validate_reply(payload)
        reply_problems(payload)


def poke(rng: random.Random, node: Any) -> None:
    """Replace one random value somewhere inside `node` with junk."""
    junk = rng.choice([None, 0, "", [], {}, "x" * 2000, {"k": None}, True])
    if isinstance(node, dict) and node:
        key = rng.choice(list(node))
        if rng.random() < 0.5 and isinstance(node[key], dict | list):
            poke(rng, node[key])
        else:
            node[key] = junk
    elif isinstance(node, list) and node:
        index = rng.randrange(len(node))
        if rng.random() < 0.5 and isinstance(node[index], dict | list):
            poke(rng, node[index])
        else:
            node[index] = junk
