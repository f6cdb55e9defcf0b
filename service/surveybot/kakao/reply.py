"""The one builder of skill replies: what comes out keeps every Kakao limit.

Kakao silently drops a reply that breaks a limit (the user sees nothing), so the builder repairs
what callers can overflow (long texts and labels, too many quick replies or buttons) and answers
anything else it cannot send with a short apology.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from surveybot.kakao.limits import (
    BASIC_CARD_DESCRIPTION_MAX,
    BUTTONS_MAX,
    CARD_TITLE_MAX,
    LABEL_MAX,
    QUICK_REPLIES_MAX,
    SIMPLE_TEXT_MAX,
    TEXT_CARD_DESCRIPTION_MAX,
    VERSION,
    text_len,
    truncate,
    validate_reply,
)
from surveybot.kakao.pages import PAGE_LIMIT, paginate

__all__ = [
    "APOLOGY", "BUSY", "PAGE_LIMIT", "Button", "QuickReply", "Reply", "busy_reply", "error_reply",
    "paginate",
]  # fmt: skip

logger = logging.getLogger(__name__)

# nginx answers with the same text when no app node is up (nginx/surveybot-locations.conf).
APOLOGY = "죄송합니다. 잠시 문제가 생겼어요. 조금 뒤에 다시 보내 주세요."
# The server was overloaded and answered without reading the message: it must be sent again.
BUSY = "지금 사용자가 많아 잠시 후 다시 보내 주세요. 보내신 메시지는 처리되지 않았어요."
MENU = "메뉴"
CHOOSE_BELOW = "아래에서 선택해 주세요."
TYPE_MENU = "'메뉴'를 입력해 주세요."

Node = dict[str, Any]


@dataclass(frozen=True)
class QuickReply:
    """A quick reply that sends `text` as if the user typed it."""

    label: str
    text: str
    extra: dict[str, Any] | None = None


@dataclass(frozen=True)
class Button:
    """A card button opening an http(s) URL."""

    label: str
    url: str

    @classmethod
    def link(cls, label: str, url: str) -> Button:
        """A button opening `url`."""
        return cls(label, url)


def _fit(text: str, limit: int, what: str) -> str:
    """Truncate content text, logging it: callers are expected to paginate first."""
    if text_len(text) > limit:
        logger.warning("%s of %d characters truncated to %d", what, text_len(text), limit)
    return truncate(text, limit)


def _label(text: str) -> str:
    """A label on one line, within the label limit."""
    return truncate(" ".join(text.split()), LABEL_MAX)


def _card(title: str | None, description: str | None, buttons: Sequence[Button]) -> Node:
    card: Node = {}
    if title:
        card["title"] = _fit(title, CARD_TITLE_MAX, "textCard title")
    if description:
        card["description"] = _fit(description, TEXT_CARD_DESCRIPTION_MAX, "textCard description")
    if len(buttons) > BUTTONS_MAX:
        logger.warning("card had %d buttons; kept the first %d", len(buttons), BUTTONS_MAX)
    links = [
        {"label": _label(button.label), "action": "webLink", "webLinkUrl": button.url}
        for button in buttons[:BUTTONS_MAX]
    ]
    if links:
        card["buttons"] = links
    return {"textCard": card}


def _image_card(
    title: str | None, description: str | None, image_url: str, buttons: Sequence[Button]
) -> Node:
    """A basicCard: the textCard's title, description and buttons under a 2:1 thumbnail."""
    card = _card(title, None, buttons)["textCard"]
    if description:
        card["description"] = _fit(description, BASIC_CARD_DESCRIPTION_MAX, "basicCard description")
    # fixedRatio false: Kakao shows the image at 2:1, the ratio the chart is drawn in.
    return {"basicCard": {**card, "thumbnail": {"imageUrl": image_url, "fixedRatio": False}}}


def _quick_replies(items: Sequence[QuickReply], copied: bool = True) -> list[Node]:
    """Quick replies deduplicated on (label, text) and capped at 10."""
    nodes: list[Node] = []
    for item in items:
        node: Node = {"label": _label(item.label), "action": "message", "messageText": item.text}
        if item.extra:
            node["extra"] = copy.deepcopy(item.extra) if copied else item.extra
        if not any(n["label"] == node["label"] and n["messageText"] == item.text for n in nodes):
            nodes.append(node)
    if len(nodes) > QUICK_REPLIES_MAX:
        logger.warning(
            "reply had %d quick replies; kept the first %d", len(nodes), QUICK_REPLIES_MAX
        )
    return nodes[:QUICK_REPLIES_MAX]


def _static_reply(text: str) -> Node:
    """A reply built by hand, for when the builder itself failed."""
    quick = {"label": MENU, "action": "message", "messageText": MENU}
    return {
        "version": VERSION,
        "template": {"outputs": [{"simpleText": {"text": text}}], "quickReplies": [quick]},
    }


class Reply:
    """Chainable reply builder; to_dict() always returns a reply Kakao will show."""

    __slots__ = ("_outputs", "_quick")

    def __init__(self) -> None:
        self._outputs: list[Node] = []
        self._quick: list[QuickReply] = []

    def text(self, text: str) -> Reply:
        """Append a simpleText (callers paginate long text first); blank text is skipped."""
        if text.strip():
            text = _fit(text, SIMPLE_TEXT_MAX, "simpleText")
            self._outputs.append({"simpleText": {"text": text}})
        return self

    def card(
        self, title: str | None, description: str | None, buttons: Sequence[Button] = ()
    ) -> Reply:
        """Append a textCard with link buttons."""
        self._outputs.append(_card(title, description, buttons))
        return self

    def image_card(
        self,
        title: str | None,
        description: str | None,
        image_url: str,
        buttons: Sequence[Button] = (),
    ) -> Reply:
        """Append a basicCard: a picture (`image_url`, http/https) above text and link buttons."""
        self._outputs.append(_image_card(title, description, image_url, buttons))
        return self

    def quick(
        self, label: str, text: str | None = None, extra: dict[str, Any] | None = None
    ) -> Reply:
        """Append a quick reply that sends `text`, or the label itself."""
        self._quick.append(QuickReply(label, text or label, extra))
        return self

    @property
    def quick_replies(self) -> tuple[QuickReply, ...]:
        """The quick replies as added."""
        return tuple(self._quick)

    def to_dict(self) -> dict[str, Any]:
        """The reply as JSON-ready data within every limit; never raises."""
        payload = self._payload(copied=True)
        problems = validate_reply(payload)
        if problems:
            logger.error("reply breaks Kakao's limits: %s", "; ".join(problems))
            return _static_reply(APOLOGY)
        return payload

    def to_json(self) -> bytes:
        """The reply as the JSON body to send, within every limit; never raises."""
        # Encoded at once, so nothing is copied, and the size limit is checked on these bytes
        # rather than on a second encoding: the HTTP path's cheaper twin of to_dict().
        payload = self._payload(copied=False)
        try:
            body = msgspec.json.encode(payload)
        except (TypeError, ValueError, OverflowError, RecursionError):
            body = None
        problems = validate_reply(payload, body) if body is not None else ["not JSON"]
        if body is None or problems:
            logger.error("reply breaks Kakao's limits: %s", "; ".join(problems))
            return msgspec.json.encode(_static_reply(APOLOGY))
        return body

    def _payload(self, copied: bool) -> Node:
        quick = _quick_replies(self._quick, copied)
        outputs = copy.deepcopy(self._outputs) if copied else list(self._outputs)
        if not outputs:
            outputs = [{"simpleText": {"text": CHOOSE_BELOW if quick else TYPE_MENU}}]
        template: Node = {"outputs": outputs}
        if quick:
            template["quickReplies"] = quick
        return {"version": VERSION, "template": template}


def error_reply() -> dict[str, Any]:
    """The friendly apology, with a "메뉴" quick reply."""
    return _static_reply(APOLOGY)


def busy_reply() -> dict[str, Any]:
    """The answer to a request the server was too busy to start in time (shed before the bot)."""
    # No quick reply: while a free-text question is open, a tapped "메뉴" would be the answer.
    return {"version": VERSION, "template": {"outputs": [{"simpleText": {"text": BUSY}}]}}
