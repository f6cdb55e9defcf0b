"""decode_request: lenient on what Kakao may change, a clear 400 on what the bot cannot use."""

from __future__ import annotations

import copy
import json
import unicodedata
from typing import Any

import pytest

from surveybot.kakao.request import BadRequest, SkillRequest, decode_request

USER = "393970a60c945e0f2e530fac259cec6fd5fd5451dd451cd2d9f3c46160e6ae768d"

# The example payload of the reference, verbatim.
EXAMPLE: dict[str, Any] = {
    "intent": {"id": "65f0c2a1b7e3d51a2c9f0a11", "name": "폴백 블록"},
    "userRequest": {
        "timezone": "Asia/Seoul",
        "params": {"surface": "Kakaotalk.plusfriend"},
        "block": {"id": "65f0c2a1b7e3d51a2c9f0a11", "name": "폴백 블록"},
        "utterance": "설문목록",
        "lang": "ko",
        "user": {
            "id": USER,
            "type": "botUserKey",
            "properties": {
                "botUserKey": USER,
                "bot_user_key": USER,
                "plusfriendUserKey": "Ge9E5OHpsO6L",
                "plusfriend_user_key": "Ge9E5OHpsO6L",
                "isFriend": True,
            },
        },
    },
    "bot": {"id": "65e9d0f1a2b3c4d5e6f70812", "name": "행정봇"},
    "action": {"id": "65f0c29f", "name": "survey_skill", "params": {}, "detailParams": {},
               "clientExtra": {}},
    "contexts": [],
    "flow": {"trigger": {"type": "TEXT_INPUT"},
             "lastBlock": {"id": "65f0c2a1", "name": "폴백 블록"}},
}


DELETE = object()  # marks a key to remove in example()


def body(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def example(**changes: Any) -> dict[str, Any]:
    """A deep copy of EXAMPLE; changes are 'a.b.c' paths (dots as __) set to a value or deleted."""
    payload = copy.deepcopy(EXAMPLE)
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = payload
        for key in parents:
            node = node[key]
        if value is DELETE:
            node.pop(last, None)
        else:
            node[last] = value
    return payload


def decode(payload: Any) -> SkillRequest:
    return decode_request(body(payload))


def test_reference_example() -> None:
    request = decode(EXAMPLE)
    assert request == SkillRequest(user_key=USER, utterance="설문목록", client_extra={})


def test_minimal_payload() -> None:
    request = decode({"userRequest": {"user": {"id": "u1"}}})
    assert request == SkillRequest("u1", "", {})


def test_unknown_keys_everywhere_are_ignored() -> None:
    payload = example(
        newTopLevel={"x": [1, 2, {"y": None}]},
        userRequest__newField=123,
        userRequest__user__newField=[1],
        userRequest__params__newParam="p",
        action__newField={"deep": {"deeper": True}},
        flow__trigger__newField=1.5,
        bot__newField=None,
        callbackUrl="https://bot-api.kakao.com/callback/x",
    )
    assert decode(payload) == decode(EXAMPLE)


def test_snake_case_duplicates_are_ignored() -> None:
    payload = example(
        user_request={"user": {"id": "someone-else"}, "utterance": "other"},
        userRequest__user__bot_user_key="another",
        action__client_extra={"step": 9},
    )
    request = decode(payload)
    assert request.user_key == USER
    assert request.utterance == "설문목록"
    # camelCase wins when both are there
    assert request.client_extra == {}


def test_client_extra_passed_through() -> None:
    extra = {"step": 3, "survey": 12, "nested": {"a": [1, "두"]}}
    assert decode(example(action__clientExtra=extra)).client_extra == extra


def test_snake_case_client_extra_accepted_alone() -> None:
    payload = example(action__clientExtra=DELETE, action__client_extra={"step": 2})
    assert decode(payload).client_extra == {"step": 2}


@pytest.mark.parametrize(
    "changes",
    [
        {"action__clientExtra": DELETE},
        {"action__clientExtra": None},
        {"action": DELETE},
        {"action": None},
        {"action": {}},
        {"action__clientExtra": "step=3"},
        {"action__clientExtra": [1, 2]},
        {"action__clientExtra": 7},
        {"action": "survey_skill"},
        {"action__params": DELETE, "action__detailParams": DELETE},
        {"action__params": None, "action__detailParams": "x"},
    ],
    ids=repr,
)
def test_missing_or_odd_client_extra_gives_empty_dict(changes: dict[str, Any]) -> None:
    request = decode(example(**changes))
    assert request.client_extra == {}
    assert request.user_key == USER


@pytest.mark.parametrize("lang", ["ko", "kr", None, 5, "en"])
def test_lang_is_not_relied_upon(lang: Any) -> None:
    assert decode(example(userRequest__lang=lang)) == decode(EXAMPLE)


@pytest.mark.parametrize(
    "changes",
    [
        {"userRequest__params__surface": "BuilderBotTest", "bot__id": "65e9d0f1!"},
        {"userRequest__params": DELETE},
        {"userRequest__params": "Kakaotalk"},
        {"userRequest__params__surface": 3},
        {"flow": DELETE},
        {"flow__trigger": "TEXT_INPUT"},
        {"flow__trigger__type": {"t": 1}},
        {"bot": []},
        {"bot__id": 42},
    ],
    ids=repr,
)
def test_other_metadata_is_ignored(changes: dict[str, Any]) -> None:
    assert decode(example(**changes)) == decode(EXAMPLE)


@pytest.mark.parametrize(
    "raw",
    [b"", b"   ", b"not json", b"{", b'{"userRequest":', b"\xff\xfe{}", b"[]",
     b'[{"userRequest": {"user": {"id": "u"}}}]', b'"a string"', b"42", b"null", b"true"],
    ids=repr,
)
def test_not_a_json_object_is_400(raw: bytes) -> None:
    with pytest.raises(BadRequest) as caught:
        decode_request(raw)
    assert caught.value.status == 400
    assert caught.value.message


@pytest.mark.parametrize(
    "raw",
    [
        b'{"userRequest": {"user": {"id": "u"}}, "bot": {"id": "\xff"}}',
        b'{"userRequest": {"user": {"id": "u"}, "lang": "\xc3"}}',
        b'{"userRequest": {"user": {"id": "u"}}, "action": {"clientExtra": {"a": "\xed\xa0\x80"}}}',
    ],
    ids=repr,
)
def test_invalid_utf8_anywhere_is_400(raw: bytes) -> None:
    with pytest.raises(BadRequest) as caught:
        decode_request(raw)
    assert caught.value.status == 400


def test_deeply_nested_json_is_400_not_a_crash() -> None:
    raw = b'{"action": {"clientExtra": ' + b"[" * 200_000 + b"]" * 200_000 + b"}}"
    with pytest.raises(BadRequest) as caught:
        decode_request(raw)
    assert caught.value.status == 400


@pytest.mark.parametrize(
    "changes",
    [
        {"userRequest": DELETE},
        {"userRequest": None},
        {"userRequest__user": DELETE},
        {"userRequest__user": None},
        {"userRequest__user__id": DELETE},
        {"userRequest__user__id": None},
        {"userRequest__user__id": ""},
        {"userRequest__user__id": "   \n"},
        {"userRequest__user__id": "x" * 201},
    ],
    ids=repr,
)
def test_missing_or_unusable_user_is_400(changes: dict[str, Any]) -> None:
    with pytest.raises(BadRequest) as caught:
        decode(example(**changes))
    assert caught.value.status == 400
    assert "user.id" in caught.value.message


def test_user_id_is_stripped_and_may_be_200_chars() -> None:
    assert decode(example(userRequest__user__id="  abc \n")).user_key == "abc"
    assert decode(example(userRequest__user__id="x" * 200)).user_key == "x" * 200


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"userRequest__utterance": 3}, "$.userRequest.utterance"),
        ({"userRequest__utterance": ["a"]}, "$.userRequest.utterance"),
        ({"userRequest__utterance": {"text": "a"}}, "$.userRequest.utterance"),
        ({"userRequest__utterance": True}, "$.userRequest.utterance"),
        ({"userRequest__user__id": 12345}, "$.userRequest.user.id"),
        ({"userRequest__user": "u1"}, "$.userRequest.user"),
        ({"userRequest": "hello"}, "$.userRequest"),
    ],
    ids=repr,
)
def test_wrong_type_of_an_essential_field_is_400_naming_it(
    changes: dict[str, Any], path: str
) -> None:
    # Kakao always sends strings here; anything else is not Kakao and guessing would be wrong.
    with pytest.raises(BadRequest) as caught:
        decode(example(**changes))
    assert caught.value.status == 400
    assert path in caught.value.message


def test_null_utterance_is_empty() -> None:
    assert decode(example(userRequest__utterance=None)).utterance == ""
    assert decode(example(userRequest__utterance=DELETE)).utterance == ""


def test_multi_line_utterance_is_preserved_but_for_line_endings() -> None:
    text = "  첫째 줄\n둘째 줄\r\n\n\t셋째 😀 줄\r넷째  "
    expected = "  첫째 줄\n둘째 줄\n\n\t셋째 😀 줄\n넷째  "
    assert decode(example(userRequest__utterance=text)).utterance == expected


def test_huge_utterance_is_fine() -> None:
    text = "가나다라 " * 50_000
    assert decode(example(userRequest__utterance=text)).utterance == text


def test_escaped_unicode_and_bytes_input() -> None:
    raw = json.dumps(example(userRequest__utterance="설문 1")).encode("ascii")  # \\uXXXX escapes
    assert decode_request(raw).utterance == "설문 1"
    assert decode_request(bytearray(raw)).utterance == "설문 1"


def test_str_body_is_accepted() -> None:
    assert decode_request(json.dumps(EXAMPLE)).user_key == USER


def test_bad_request_carries_status() -> None:
    error = BadRequest("too large", 413)
    assert (error.status, error.message, str(error)) == (413, "too large", "too large")
    assert BadRequest("x").status == 400


def decode_escaped(payload: Any) -> SkillRequest:
    """Decode a body with every non-ASCII character escaped: a lone surrogate becomes \\ud800."""
    return decode_request(json.dumps(payload).encode("ascii"))


@pytest.mark.parametrize(
    ("utterance", "expected"),
    [
        ("메뉴\x00", "메뉴"),
        ("등록 김\x00철수", "등록 김철수"),
        ("\x00\x01참여\x1b[31m 1\x7f\x85\x9f", "참여[31m 1"),
        ("a\x0bb\x0cc", "abc"),
        ("참여 1\ud83d", "참여 1"),  # an emoji cut in half
        ("\udc00설문목록\ud800", "설문목록"),
        ("웃음 \ud83d\ude00", "웃음 😀"),
        ("\u1103\u1173\u11bc\u1105\u1169\u11a8", "등록"),  # NFD jamo, as macOS may send
        ("e\u0301", "\u00e9"),
        ("tab\tand\nline", "tab\tand\nline"),
    ],
    ids=repr,
)
def test_utterance_is_cleaned(utterance: str, expected: str) -> None:
    assert decode_escaped(example(userRequest__utterance=utterance)).utterance == expected


def test_a_lone_surrogate_escape_is_dropped_not_refused() -> None:
    raw = rb'{"userRequest": {"user": {"id": "u"}, "utterance": "lone \ud800 surrogate"}}'
    assert decode_request(raw).utterance == "lone  surrogate"


def test_escaped_backslashes_are_not_taken_for_escapes() -> None:
    raw = rb'{"userRequest": {"user": {"id": "u"}, "utterance": "\\ud800 \\\ud800"}}'
    assert decode_request(raw).utterance == "\\ud800 \\"


NASTY = [
    "".join(chr(c) for c in range(0x20)),
    "".join(chr(c) for c in range(0x7F, 0xA0)),
    "\ud800\udbff\udc00\udfff",
    "\ud83d\ude00\ud83d",
    "\r\n\r\r\n\n",
    "\x00" * 1000 + "가",
    "\ufffd\ufeff\u200b\u202e",
    "\\u0000 \\ud800 \\\\",
    "".join(chr(c) for c in range(0x0, 0x3000, 7)),
]


@pytest.mark.parametrize("nasty", NASTY, ids=range(len(NASTY)))
def test_no_control_character_survives_decoding(nasty: str) -> None:
    request = decode_escaped(example(userRequest__utterance=nasty, action__clientExtra={nasty: [nasty]}))
    texts = [request.utterance, *request.client_extra, *next(iter(request.client_extra.values()))]
    for text in texts:
        assert not any(
            unicodedata.category(c) in ("Cc", "Cs") and c not in "\n\t" for c in text
        ), repr(text)
        assert "\ufffd" not in text
        assert unicodedata.is_normalized("NFC", text)
        text.encode("utf-8")  # what PostgreSQL stores


def test_client_extra_text_is_cleaned_at_every_depth() -> None:
    extra = {"s\x00": 1, "q": ["a\x00", {"b": "\ud800c\r\n"}], "n": None, "t": True}
    request = decode_escaped(example(action__clientExtra=extra))
    assert request.client_extra == {"s": 1, "q": ["a", {"b": "c\n"}], "n": None, "t": True}


def test_client_extra_nested_too_deep_is_dropped() -> None:
    deep: Any = "x"
    for _ in range(100):
        deep = [deep]
    assert decode_escaped(example(action__clientExtra={"a": deep})).client_extra == {}
    assert decode_escaped(example(action__clientExtra={"s": 1, "a": [[["x"]]]})).client_extra


@pytest.mark.parametrize(
    "user_id",
    ["abc\x00", "a\x00bc", "ab\u0085c", "ab c", "ab\tc", "ab\u3000c", "ab\ud800c", "ab\u200bc"],
    ids=repr,
)
def test_user_id_with_control_characters_spaces_or_surrogates_is_400(user_id: str) -> None:
    with pytest.raises(BadRequest) as caught:
        decode_escaped(example(userRequest__user__id=user_id))
    assert caught.value.status == 400
    assert "userRequest.user.id must not contain" in caught.value.message


def test_str_body_with_a_lone_surrogate_character_is_400() -> None:
    with pytest.raises(BadRequest):
        decode_request('{"userRequest": {"user": {"id": "u"}, "utterance": "\ud800"}}')
