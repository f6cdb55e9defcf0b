"""The reply builder keeps every Kakao limit; what it cannot repair becomes the apology."""

from __future__ import annotations

import itertools
import json
import logging
import random
from typing import Any

import pytest

from devstack.openbuilder import (
    assert_valid_reply,
    button_list,
    quick_labels,
    quick_texts,
    reply_texts,
)
from surveybot.domain import OPTION_MAX
from surveybot.kakao import reply as reply_module
from surveybot.kakao.limits import validate_reply
from surveybot.kakao.reply import (
    APOLOGY,
    BUSY,
    Button,
    QuickReply,
    Reply,
    busy_reply,
    error_reply,
    paginate,
)

BUBBLE = 30_720
L14 = "라벨" * 7  # 14 characters: the longest label
L15 = L14 + "가"
URL = "https://bot.example.kr/exports/abc"


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def wire_size(payload: dict[str, Any]) -> int:
    return len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def check(reply: Reply | dict[str, Any]) -> dict[str, Any]:
    """Both validators agree the reply is fine; returns its payload."""
    payload = reply.to_dict() if isinstance(reply, Reply) else reply
    assert_valid_reply(payload)
    assert validate_reply(payload) == []
    return payload


def outputs(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return list(payload["template"]["outputs"])


# ---- ordinary use -----------------------------------------------------------------------------


def test_reference_reply_shape() -> None:
    payload = check(
        Reply().text("설문 3 응답이 저장되었습니다.").quick("내 응답 보기", "내응답 3").quick("메뉴")
    )
    assert payload == {
        "version": "2.0",
        "template": {
            "outputs": [{"simpleText": {"text": "설문 3 응답이 저장되었습니다."}}],
            "quickReplies": [
                {"label": "내 응답 보기", "action": "message", "messageText": "내응답 3"},
                {"label": "메뉴", "action": "message", "messageText": "메뉴"},
            ],
        },
    }


def test_quick_reply_text_defaults_to_the_label() -> None:
    reply = Reply().text("t").quick("설문목록").quick("제출", extra={"s": 1}).quick("그만", "")
    payload = check(reply)
    assert quick_texts(payload) == ["설문목록", "제출", "그만"]
    assert payload["template"]["quickReplies"][1]["extra"] == {"s": 1}
    assert reply.quick_replies[0] == QuickReply("설문목록", "설문목록", None)


def test_export_card_with_a_link_button() -> None:
    card = Reply().card("결과 파일", "3. 송년회\nCSV · 10분 동안 유효", [Button.link("CSV 내려받기", URL)])
    assert outputs(check(card.quick("결과 3"))) == [{"textCard": {
        "title": "결과 파일",
        "description": "3. 송년회\nCSV · 10분 동안 유효",
        "buttons": [{"label": "CSV 내려받기", "action": "webLink", "webLinkUrl": URL}],
    }}]  # fmt: skip


def test_chainable_and_read_only_quick_replies() -> None:
    reply = Reply()
    assert reply.text("a") is reply and reply.card("t", None) is reply
    assert reply.quick("q") is reply
    assert reply.quick_replies == (QuickReply("q", "q", None),)
    assert isinstance(reply.quick_replies, tuple)


def test_to_dict_is_repeatable_and_returns_fresh_data() -> None:
    extra = {"step": 1}
    reply = Reply().text("a").card("t", "d", [Button.link("l", URL)]).quick("b", extra=extra)
    first = reply.to_dict()
    first["template"]["outputs"][0]["simpleText"]["text"] = "changed"
    first["template"]["outputs"][1]["textCard"]["buttons"].clear()
    first["template"]["quickReplies"][0]["extra"]["step"] = 99
    again = check(reply)
    assert reply_texts(again)[0] == "a" and button_list(again)
    assert extra == {"step": 1} and again["template"]["quickReplies"][0]["extra"] == {"step": 1}


def test_error_reply() -> None:
    apology = check(error_reply())
    assert reply_texts(apology) == [APOLOGY]
    assert quick_labels(apology) == ["메뉴"] and quick_texts(apology) == ["메뉴"]


def test_the_largest_reply_the_bot_can_build_fits_one_bubble() -> None:
    # Texts are paginated to at most 1000 characters, quick replies send option texts or
    # commands; Korean takes 3 bytes a character on the wire.
    reply = Reply().text("가" * 1000).text("나" * 1000).card("다" * 50, "라" * 400, [
        Button.link(L14, URL + "?" + "t" * 200)
    ])  # fmt: skip
    for index in range(10):
        reply.quick(f"{index}. " + "선" * OPTION_MAX, "선" * OPTION_MAX, {"s": 19, "q": 9, "o": index})
    payload = check(reply)
    assert reply_texts(payload)[0] == "가" * 1000
    assert wire_size(payload) < BUBBLE // 2


# ---- outputs and text length ------------------------------------------------------------------


def test_no_outputs_gets_a_placeholder() -> None:
    assert reply_texts(check(Reply())) == ["'메뉴'를 입력해 주세요."]
    assert reply_texts(check(Reply().quick("처음으로", "메뉴"))) == ["아래에서 선택해 주세요."]


@pytest.mark.parametrize("blank", ["", " ", "\n\t "])
def test_blank_text_is_dropped(blank: str) -> None:
    assert reply_texts(check(Reply().text(blank).text("내용"))) == ["내용"]


@pytest.mark.parametrize("size", [999, 1000, 1001, 1500, 100_000])
def test_simple_text_limit(size: int, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="surveybot.kakao.reply"):
        [text] = reply_texts(check(Reply().text("가" * size)))
    if size <= 1000:
        assert text == "가" * size and not caplog.records
    else:
        assert len(text) == 1000 and text.endswith("…") and text.startswith("가" * 999)
        assert "truncated" in caplog.text


def test_emoji_count_twice_towards_the_limit() -> None:
    [text] = reply_texts(check(Reply().text("😀" * 600)))
    assert utf16(text) <= 1000 and text.endswith("…")


# ---- textCard ---------------------------------------------------------------------------------


def test_card_title_and_description_limits() -> None:
    card = outputs(check(Reply().card("제" * 51, "설" * 401)))[0]["textCard"]
    assert len(card["title"]) == 50 and card["title"].endswith("…")
    assert len(card["description"]) == 400 and card["description"].endswith("…")
    exact = outputs(check(Reply().card("제" * 50, "설" * 400)))[0]["textCard"]
    assert exact == {"title": "제" * 50, "description": "설" * 400}


def test_card_buttons_are_capped_at_three_with_short_labels() -> None:
    buttons = [Button.link(f"버튼{index}", f"{URL}/{index}") for index in range(5)]
    buttons[0] = Button.link(L15, URL)
    payload = check(Reply().card("t", "d", buttons))
    assert [b["label"] for b in button_list(payload)] == [L14[:13] + "…", "버튼1", "버튼2"]


# ---- quick replies ----------------------------------------------------------------------------


def test_quick_replies_are_capped_at_ten_keeping_the_first() -> None:
    reply = Reply().text("골라 주세요")
    for index in range(15):
        reply.quick(f"{index}번", f"선택 {index}")
    assert quick_texts(check(reply)) == [f"선택 {index}" for index in range(10)]


def test_quick_reply_labels_are_one_short_line() -> None:
    reply = Reply().text("t").quick(L15, "a").quick(L14, "b").quick("줄\n바꿈", "c")
    reply.quick("1. 매우 만족스러운 편입니다", "매우 만족스러운 편입니다")
    payload = check(reply)
    assert quick_labels(payload) == [L14[:13] + "…", L14, "줄 바꿈", "1. 매우 만족스러운 편…"]
    assert quick_texts(payload) == ["a", "b", "c", "매우 만족스러운 편입니다"]


def test_identical_quick_replies_are_deduplicated_before_the_cap() -> None:
    reply = Reply().text("t")
    for _ in range(5):
        reply.quick("메뉴")
    for index in range(10):
        reply.quick(f"{index}", extra={"n": index})
    reply.quick("메뉴", extra={"different": "extra"})
    assert quick_texts(check(reply)) == ["메뉴"] + [str(index) for index in range(9)]


def test_empty_extra_is_left_out() -> None:
    assert "extra" not in check(Reply().text("t").quick("a", extra={}))["template"]["quickReplies"][0]


# ---- what the builder cannot repair: the apology, never an invalid reply ----------------------

UNSENDABLE = {
    "four outputs": lambda: Reply().text("a").text("b").text("c").text("d"),
    "blank label": lambda: Reply().text("a").quick(" ", "x"),
    "javascript link": lambda: Reply().card("t", None, [Button.link("l", "javascript:x")]),
    "link without host": lambda: Reply().card("t", None, [Button.link("l", "https://")]),
    "blank card": lambda: Reply().card(" ", None),
    "lone surrogate": lambda: Reply().text("a\ud800b"),
    "over the bubble": lambda: Reply().text("t").quick("q", "한" * 11_000),
    "extra not JSON": lambda: Reply().text("t").quick("q", extra={"x": object()}),
}


@pytest.mark.parametrize("name", sorted(UNSENDABLE))
def test_an_unsendable_reply_becomes_the_apology(name: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="surveybot.kakao.reply"):
        payload = check(UNSENDABLE[name]())
    assert reply_texts(payload) == [APOLOGY] and quick_texts(payload) == ["메뉴"]
    assert "breaks Kakao's limits" in caplog.text


def test_an_invalid_build_is_never_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reply_module, "validate_reply", lambda payload: ["broken"])
    assert reply_texts(check(Reply().text("x"))) == [APOLOGY]


# ---- generated replies --------------------------------------------------------------------------

ALPHABET = "가나다라마바사 abcXYZ019 \n\t\"\\<>&😀\u2028"
SIZES = [1, 8, 13, 14, 15, 49, 50, 51, 399, 400, 401, 999, 1000, 1001, 3000]


def rand_text(rng: random.Random) -> str:
    text = "".join(rng.choice(ALPHABET) for _ in range(rng.choice(SIZES)))
    return text if text.strip() else "x"


def rand_reply(rng: random.Random) -> Reply:
    reply = Reply()
    for _ in range(rng.randint(0, 3)):
        if rng.random() < 0.7:
            reply.text(rand_text(rng))
        else:
            buttons = [Button.link(rand_text(rng), URL) for _ in range(rng.randint(0, 5))]
            reply.card(rng.choice([None, rand_text(rng)]), rand_text(rng), buttons)
    for _ in range(rng.randint(0, 14)):
        extra = rng.choice([None, {"s": rng.randint(0, 9)}, {"more": "결과 1", "page": 2}])
        text = rng.choice([None, rand_text(rng)[:OPTION_MAX].strip() or "x"])
        reply.quick(rand_text(rng), text, extra)
    return reply


def test_generated_replies_are_valid_without_the_apology() -> None:
    rng = random.Random(20240501)
    for _ in range(250):
        payload = check(rand_reply(rng))
        assert reply_texts(payload) != [APOLOGY]


@pytest.mark.parametrize("name", sorted(UNSENDABLE))
def test_to_json_sends_the_apology_too(name: str) -> None:
    assert json.loads(UNSENDABLE[name]().to_json()) == UNSENDABLE[name]().to_dict()


def test_to_json_is_to_dict_encoded() -> None:
    """The HTTP path's encoder (no copies, one encoding) sends exactly what to_dict() builds."""
    rng = random.Random(20261203)
    for _ in range(150):
        reply = rand_reply(rng)
        assert json.loads(reply.to_json()) == reply.to_dict()


def test_busy_reply_is_valid_and_offers_no_quick_reply() -> None:
    # A quick reply would be risky: while a free-text question is open it would be the answer.
    payload = busy_reply()
    assert_valid_reply(payload)
    assert reply_texts(payload) == [BUSY] and quick_texts(payload) == []


# ---- paginate -----------------------------------------------------------------------------------


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
    assert paginate("aaaa\n\n\n\nbbbb\n\ncccc", 6) == ["aaaa", "bbbb", "cccc"]


def test_paginate_korean_survey_results() -> None:
    lines = [f"{index}. 만족도 문항 {index}번: 매우 만족 {index * 3}명, 보통 {index}명"
             for index in range(200)]  # fmt: skip
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
                       for page in pages)  # fmt: skip


def test_paginate_without_long_or_blank_lines_reproduces_the_lines() -> None:
    rng = random.Random(11)
    for _ in range(300):
        limit = rng.choice([20, 50, 900])
        lines = ["가" * rng.randint(1, limit) for _ in range(rng.randint(1, 80))]
        pages = paginate("\n".join(lines), limit)
        assert [line for page in pages for line in page.split("\n")] == lines


def test_paginated_pages_make_valid_replies() -> None:
    text = "\n".join("긴 결과 줄 " * repeat for repeat in range(1, 120))
    for page in paginate(text):
        check(Reply().text(page).quick("다음", extra={"more": "결과 1", "page": 1}))
