"""The Kakao i Open Builder protocol: decoding skill requests and building valid replies."""

from surveybot.kakao.reply import (
    APOLOGY,
    PAGE_LIMIT,
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
from surveybot.kakao.request import BadRequest, SkillRequest, decode_request

__all__ = [
    "APOLOGY",
    "PAGE_LIMIT",
    "BadRequest",
    "Button",
    "QuickReply",
    "Reply",
    "SimpleText",
    "SkillRequest",
    "TextCard",
    "decode_request",
    "encode_reply",
    "error_reply",
    "paginate",
    "simple_text_reply",
    "validate_reply",
]
