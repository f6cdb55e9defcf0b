"""The one builder of skill replies: whatever goes in, what comes out keeps every Kakao limit.

Kakao silently drops a reply that breaks a limit (the user sees nothing), so the builder repairs
instead of raising: it truncates, drops and merges, logs a warning, and as a last resort answers
with a short apology.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from surveybot.kakao.bubble import shrink
from surveybot.kakao.limits import (
    BUTTON_LABEL_MAX,
    BUTTONS_MAX,
    CARD_TITLE_MAX,
    OUTPUTS_MAX,
    QUICK_LABEL_MAX,
    QUICK_REPLIES_MAX,
    SIMPLE_TEXT_MAX,
    TEXT_CARD_DESCRIPTION_MAX,
    VERSION,
    is_http_url,
    text_len,
    truncate,
    validate_reply,
)
from surveybot.kakao.pages import PAGE_LIMIT, paginate

__all__ = [
    "APOLOGY",
    "Button",
    "PAGE_LIMIT",
    "QuickReply",
    "Reply",
    "SimpleText",
    "TextCard",
    "encode_reply",
    "error_reply",
    "paginate",
    "simple_text_reply",
    "validate_reply",
]

logger = logging.getLogger(__name__)

APOLOGY = "죄송합니다. 잠시 후 다시 시도해 주세요."
MENU = "메뉴"
CHOOSE_BELOW = "아래에서 선택해 주세요."
TYPE_MENU = "'메뉴'를 입력해 주세요."
CARD_FALLBACK = "아래 버튼을 눌러 주세요."
LINK_LABEL = "열기"

Node = dict[str, Any]


@dataclass(frozen=True)
class QuickReply:
    """A quick reply that sends `message_text` as if the user typed it."""

    label: str
    message_text: str
    extra: dict[str, Any] | None = None


@dataclass(frozen=True)
class Button:
    """A card button: action "message" (sends message_text) or "webLink" (opens the URL)."""

    label: str
    action: str
    message_text: str | None = None
    web_link_url: str | None = None
    extra: dict[str, Any] | None = None

    @classmethod
    def link(cls, label: str, url: str) -> Button:
        """A button opening an http(s) URL."""
        return cls(label, "webLink", web_link_url=url)

    @classmethod
    def message(cls, label: str, text: str, extra: dict[str, Any] | None = None) -> Button:
        """A button sending `text` as the user's utterance."""
        return cls(label, "message", message_text=text, extra=extra)


@dataclass(frozen=True)
class SimpleText:
    """A simpleText output as it was added."""

    text: str


@dataclass(frozen=True)
class TextCard:
    """A textCard output as it was added."""

    title: str | None
    description: str | None
    buttons: tuple[Button, ...] = ()


Output = SimpleText | TextCard


# ---- cleaning single values --------------------------------------------------------------------


def _clean(value: object) -> str:
    """A str that encodes to UTF-8: None -> "", others stringified, lone surrogates replaced."""
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Paired surrogates become the real character, lone ones U+FFFD.
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def _fit(text: str, limit: int, what: str) -> str:
    """Truncate content text, logging it: callers are expected to paginate first."""
    if text_len(text) > limit:
        logger.warning("%s of %d characters truncated to %d", what, text_len(text), limit)
    return truncate(text, limit)


def _label(limit: int, *candidates: object) -> str:
    """The first non-blank candidate on one line, truncated to `limit`; "" when all are blank."""
    for candidate in candidates:
        text = " ".join(_clean(candidate).split())
        if text:
            return truncate(text, limit)
    return ""


def _extra(extra: object) -> dict[str, Any] | None:
    """`extra` as plain JSON data (a copy), None when absent, empty or unusable."""
    if extra is None:
        return None
    plain: object = None
    if isinstance(extra, dict):
        try:
            plain = msgspec.json.decode(msgspec.json.encode(extra))
        except (TypeError, ValueError, OverflowError, RecursionError):
            plain = None
    if not isinstance(plain, dict):
        logger.warning("dropped an extra that is not a JSON object: %.80r", extra)
        return None
    return plain or None


def _message_node(label: object, text: object, extra: object, limit: int) -> Node | None:
    """A message button or quick reply; the label falls back to the text and vice versa."""
    message = _clean(text)
    shown = _label(limit, label, message)
    if not shown:
        return None
    if not message.strip():
        message = _clean(label).strip()
    node: Node = {"label": shown, "action": "message", "messageText": message}
    plain = _extra(extra)
    if plain:
        node["extra"] = plain
    return node


# ---- rendering -----------------------------------------------------------------------------


def _button(button: Button) -> Node | None:
    if button.action == "message":
        return _message_node(button.label, button.message_text, button.extra, BUTTON_LABEL_MAX)
    if button.action != "webLink":
        logger.warning("dropped a button with unsupported action %r", button.action)
        return None
    url = _clean(button.web_link_url).strip()
    if not is_http_url(url):
        logger.warning("dropped a link button with a non-http(s) URL: %.80r", url)
        return None
    node: Node = {
        "label": _label(BUTTON_LABEL_MAX, button.label) or LINK_LABEL,
        "action": "webLink",
        "webLinkUrl": url,
    }
    plain = _extra(button.extra)
    if plain:
        node["extra"] = plain
    return node


def _buttons(buttons: Sequence[Button]) -> list[Node]:
    nodes = [node for node in map(_button, buttons) if node is not None]
    if len(nodes) > BUTTONS_MAX:
        logger.warning("card had %d buttons; kept the first %d", len(nodes), BUTTONS_MAX)
    return nodes[:BUTTONS_MAX]


def _text_output(text: str) -> Node:
    return {"simpleText": {"text": _fit(text, SIMPLE_TEXT_MAX, "simpleText")}}


def _render_card(item: TextCard) -> Node | None:
    title, description = _clean(item.title), _clean(item.description)
    card: Node = {}
    if title.strip():
        card["title"] = _fit(title, CARD_TITLE_MAX, "textCard title")
    if description.strip():
        card["description"] = _fit(description, TEXT_CARD_DESCRIPTION_MAX, "textCard description")
    buttons = _buttons(item.buttons)
    if not card and not buttons:
        return None
    if not card:
        card["description"] = CARD_FALLBACK  # Kakao needs a title or a description
    if buttons:
        card["buttons"] = buttons
    return {"textCard": card}


def _render(item: object) -> Node | None:
    if isinstance(item, SimpleText):
        text = _clean(item.text)
        return _text_output(text) if text.strip() else None
    if isinstance(item, TextCard):
        return _render_card(item)
    return None


def _quick_replies(items: Sequence[QuickReply]) -> list[Node]:
    """Quick replies cleaned, deduplicated on (label, messageText) and capped at 10."""
    nodes: list[Node] = []
    seen: set[tuple[str, str]] = set()
    for item in items:
        node = _message_node(item.label, item.message_text, item.extra, QUICK_LABEL_MAX)
        if node is None or (node["label"], node["messageText"]) in seen:
            continue
        seen.add((node["label"], node["messageText"]))
        nodes.append(node)
    if len(nodes) > QUICK_REPLIES_MAX:
        logger.warning(
            "reply had %d quick replies; kept the first %d", len(nodes), QUICK_REPLIES_MAX
        )
    return nodes[:QUICK_REPLIES_MAX]


# ---- at most three outputs -----------------------------------------------------------------


def _merge_adjacent_texts(outputs: list[Node]) -> list[Node]:
    """Join neighbouring simpleTexts while the joined text still fits one simpleText."""
    merged: list[Node] = []
    for output in outputs:
        if merged and "simpleText" in merged[-1] and "simpleText" in output:
            joined = merged[-1]["simpleText"]["text"] + "\n\n" + output["simpleText"]["text"]
            if text_len(joined) <= SIMPLE_TEXT_MAX:
                merged[-1] = {"simpleText": {"text": joined}}
                continue
        merged.append(output)
    return merged


def _plain_text(output: Node) -> str:
    """The readable text of an output, for folding it into a simpleText."""
    if "simpleText" in output:
        return str(output["simpleText"]["text"])
    card = output["textCard"]
    parts = [card.get("title"), card.get("description")]
    return "\n".join(part for part in parts if part and part != CARD_FALLBACK)


def _fit_outputs(outputs: list[Node]) -> list[Node]:
    """At most three outputs: merge texts, then fold everything after the second into one."""
    if len(outputs) <= OUTPUTS_MAX:
        return outputs
    merged = _merge_adjacent_texts(outputs)
    if len(merged) <= OUTPUTS_MAX:
        return merged
    logger.warning(
        "reply had %d outputs; folded the last %d into one text (buttons lost)",
        len(merged),
        len(merged) - OUTPUTS_MAX + 1,
    )
    tail = "\n\n".join(filter(None, map(_plain_text, merged[OUTPUTS_MAX - 1 :])))
    return merged[: OUTPUTS_MAX - 1] + ([_text_output(tail)] if tail.strip() else [])


# ---- the public builder --------------------------------------------------------------------


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
        self._outputs: list[Output] = []
        self._quick: list[QuickReply] = []

    def text(self, text: str) -> Reply:
        """Append a simpleText (callers paginate long text first)."""
        self._outputs.append(SimpleText(text))
        return self

    def card(
        self, title: str | None, description: str | None, buttons: Sequence[Button] = ()
    ) -> Reply:
        """Append a textCard."""
        self._outputs.append(TextCard(title, description, tuple(buttons)))
        return self

    def quick(self, label: str, message_text: str, extra: dict[str, Any] | None = None) -> Reply:
        """Append a quick reply that sends `message_text`."""
        self._quick.append(QuickReply(label, message_text, extra))
        return self

    @property
    def outputs(self) -> tuple[Output, ...]:
        """The outputs as added, before any repair."""
        return tuple(self._outputs)

    @property
    def quick_replies(self) -> tuple[QuickReply, ...]:
        """The quick replies as added, before any repair."""
        return tuple(self._quick)

    def to_dict(self) -> dict[str, Any]:
        """The reply as JSON-ready data, repaired to fit every limit; never raises."""
        try:
            payload = self._build()
        except Exception:  # a reply must go out whatever went wrong here
            logger.exception("reply builder failed; answering with the apology")
            return _static_reply(APOLOGY)
        problems = validate_reply(payload)
        if problems:
            logger.error("reply builder produced an invalid reply: %s", "; ".join(problems))
            return _static_reply(APOLOGY)
        return payload

    def _build(self) -> Node:
        quick = _quick_replies(self._quick)
        outputs = _fit_outputs([node for node in map(_render, self._outputs) if node])
        if not outputs:
            logger.warning("reply had no outputs; added a placeholder text")
            outputs = [_text_output(CHOOSE_BELOW if quick else TYPE_MENU)]
        template: Node = {"outputs": outputs}
        if quick:
            template["quickReplies"] = quick
        payload: Node = {"version": VERSION, "template": template}
        if not shrink(payload):
            logger.error("reply could not be shrunk into one bubble; answering with the apology")
            return _static_reply(APOLOGY)
        return payload


def simple_text_reply(text: str) -> dict[str, Any]:
    """A reply with one simpleText."""
    return Reply().text(text).to_dict()


def error_reply(text: str = APOLOGY) -> dict[str, Any]:
    """The friendly apology: `text` and a "메뉴" quick reply; never raises."""
    try:
        return Reply().text(text).quick(MENU, MENU).to_dict()
    except Exception:  # the apology path must not fail
        return _static_reply(APOLOGY)


def encode_reply(payload: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON, the encoding the bubble limit is measured in."""
    return msgspec.json.encode(payload)
