"""The Open Builder reply limits, the text measures they use, and `validate_reply`.

Lengths are counted in UTF-16 code units (what a Java or JavaScript validator counts): equal to
len() for Korean and most text, one more per emoji, so a reply that passes here passes either way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import msgspec

VERSION = "2.0"
OUTPUTS_MAX = 3
QUICK_REPLIES_MAX = 10
SIMPLE_TEXT_MAX = 1000
IMAGE_ALT_MAX = 50
CARD_TITLE_MAX = 50
TEXT_CARD_DESCRIPTION_MAX = 400
CAROUSEL_TEXT_CARD_DESCRIPTION_MAX = 128
BASIC_CARD_DESCRIPTION_MAX = 230
LIST_ITEMS_MAX = 5
CAROUSEL_LIST_ITEMS_MAX = 4
ITEM_LIST_MAX = 10
CAROUSEL_ITEM_LIST_MAX = 5
ITEM_TITLE_MAX = 6
SUMMARY_TITLE_MAX = 6
SUMMARY_DESCRIPTION_MAX = 14
ITEM_CARD_TEXT_MAX = 200
ITEM_CARD_LINES_MAX = 12
CAROUSEL_ITEMS_MAX = 10
CAROUSEL_LIST_CARDS_MAX = 5
BUTTONS_MAX = 3
HORIZONTAL_BUTTONS_MAX = 2
BUTTON_LABEL_MAX = 14
HORIZONTAL_BUTTON_LABEL_MAX = 8
QUICK_LABEL_MAX = 14
BUBBLE_MAX_BYTES = 30_720

CAROUSEL_TYPES = frozenset({"textCard", "basicCard", "commerceCard", "listCard", "itemCard"})
# Button action -> the field it needs (None: nothing beyond the label).
BUTTON_ACTIONS: dict[str, str | None] = {
    "webLink": "webLinkUrl",
    "message": "messageText",
    "block": "blockId",
    "phone": "phoneNumber",
    "share": None,
    "operator": None,
}
QUICK_ACTIONS = {"message": "messageText", "block": "blockId"}
ELLIPSIS = "…"


def text_len(text: str) -> int:
    """Length in UTF-16 code units."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def take(text: str, units: int) -> str:
    """The longest prefix of `text` that is at most `units` long, never splitting a character."""
    if text_len(text) <= units:
        return text
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > units:
            return text[:index]
    return text


def truncate(text: str, limit: int) -> str:
    """`text` cut to `limit` units, ending in an ellipsis when something was cut."""
    if text_len(text) <= limit:
        return text
    return take(text, limit - 1).rstrip() + ELLIPSIS


def is_http_url(url: object) -> bool:
    """True for an absolute http(s) URL with a host and no whitespace."""
    if not isinstance(url, str) or not url or any(c.isspace() or ord(c) < 32 for c in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def encoded_size(payload: object) -> int:
    """Bytes of the compact UTF-8 JSON of `payload` (what encode_reply sends)."""
    return len(msgspec.json.encode(payload))


# ---- validate_reply -------------------------------------------------------------------------

_Problems = list[str]


def _text(
    out: _Problems, node: dict[Any, Any], key: str, path: str, limit: int, required: bool = False
) -> None:
    """Check an optional (or required) string field against a length limit."""
    value = node.get(key)
    if value is None:
        if required:
            out.append(f"{path}.{key}: missing")
        return
    if not isinstance(value, str):
        out.append(f"{path}.{key}: must be a string")
    elif required and not value.strip():
        out.append(f"{path}.{key}: must not be empty")
    elif text_len(value) > limit:
        out.append(f"{path}.{key}: {text_len(value)} characters, limit {limit}")


def _filled(node: dict[Any, Any], key: str) -> bool:
    value = node.get(key)
    return isinstance(value, str) and bool(value.strip())


def _items(out: _Problems, node: dict[Any, Any], key: str, path: str, limit: int) -> list[Any]:
    """A required list of 1..limit entries; returns it (or []) for further checks."""
    value = node.get(key)
    if not isinstance(value, list) or not value:
        out.append(f"{path}.{key}: must be a non-empty list")
        return []
    if len(value) > limit:
        out.append(f"{path}.{key}: {len(value)} entries, limit {limit}")
    return value


def _target(out: _Problems, node: dict[Any, Any], field: str | None, path: str) -> None:
    """The field an action needs: present, non-empty, and an http(s) URL for links."""
    if field is None:
        return
    if not _filled(node, field):
        out.append(f"{path}.{field}: required for action {node.get('action')!r}")
    elif field == "webLinkUrl" and not is_http_url(node[field]):
        out.append(f"{path}.webLinkUrl: only http/https URLs are allowed")


def _button(out: _Problems, button: object, path: str, label_max: int) -> None:
    if not isinstance(button, dict):
        out.append(f"{path}: must be an object")
        return
    _text(out, button, "label", path, label_max, required=True)
    action = button.get("action")
    if not isinstance(action, str) or action not in BUTTON_ACTIONS:
        out.append(f"{path}.action: unknown action {action!r}")
        return
    _target(out, button, BUTTON_ACTIONS[action], path)
    if "extra" in button and not isinstance(button["extra"], dict):
        out.append(f"{path}.extra: must be an object")


def _buttons(out: _Problems, card: dict[Any, Any], path: str) -> None:
    buttons = card.get("buttons")
    if buttons is None:
        return
    if not isinstance(buttons, list):
        out.append(f"{path}.buttons: must be a list")
        return
    horizontal = card.get("buttonLayout") == "horizontal"
    limit = HORIZONTAL_BUTTONS_MAX if horizontal else BUTTONS_MAX
    if len(buttons) > limit:
        out.append(f"{path}.buttons: {len(buttons)} buttons, limit {limit}")
    shared_row = horizontal and len(buttons) >= 2
    label_max = HORIZONTAL_BUTTON_LABEL_MAX if shared_row else BUTTON_LABEL_MAX
    for index, button in enumerate(buttons):
        _button(out, button, f"{path}.buttons[{index}]", label_max)


def _simple_text(out: _Problems, node: dict[Any, Any], path: str, carousel: bool) -> None:
    _text(out, node, "text", path, SIMPLE_TEXT_MAX, required=True)


def _simple_image(out: _Problems, node: dict[Any, Any], path: str, carousel: bool) -> None:
    if not is_http_url(node.get("imageUrl")):
        out.append(f"{path}.imageUrl: must be an http/https URL")
    _text(out, node, "altText", path, IMAGE_ALT_MAX, required=True)


def _text_card(out: _Problems, node: dict[Any, Any], path: str, carousel: bool) -> None:
    limit = CAROUSEL_TEXT_CARD_DESCRIPTION_MAX if carousel else TEXT_CARD_DESCRIPTION_MAX
    _text(out, node, "title", path, CARD_TITLE_MAX)
    _text(out, node, "description", path, limit)
    if not (_filled(node, "title") or _filled(node, "description")):
        out.append(f"{path}: needs a title or a description")
    _buttons(out, node, path)


def _basic_card(out: _Problems, node: dict[Any, Any], path: str, carousel: bool) -> None:
    _text(out, node, "title", path, CARD_TITLE_MAX)
    _text(out, node, "description", path, BASIC_CARD_DESCRIPTION_MAX)
    thumbnail = node.get("thumbnail")
    if not isinstance(thumbnail, dict) or not _filled(thumbnail, "imageUrl"):
        out.append(f"{path}.thumbnail: required, with an imageUrl")
    _buttons(out, node, path)


def _commerce_card(out: _Problems, node: dict[Any, Any], path: str, carousel: bool) -> None:
    _buttons(out, node, path)


def _list_card(out: _Problems, node: dict[Any, Any], path: str, carousel: bool) -> None:
    header = node.get("header")
    if not isinstance(header, dict) or not _filled(header, "title"):
        out.append(f"{path}.header: required, with a title")
    limit = CAROUSEL_LIST_ITEMS_MAX if carousel else LIST_ITEMS_MAX
    for index, item in enumerate(_items(out, node, "items", path, limit)):
        if not isinstance(item, dict) or not _filled(item, "title"):
            out.append(f"{path}.items[{index}]: must be an object with a title")
    _buttons(out, node, path)


def _item_card(out: _Problems, node: dict[Any, Any], path: str, carousel: bool) -> None:
    limit = CAROUSEL_ITEM_LIST_MAX if carousel else ITEM_LIST_MAX
    for index, item in enumerate(_items(out, node, "itemList", path, limit)):
        if isinstance(item, dict):
            _text(out, item, "title", f"{path}.itemList[{index}]", ITEM_TITLE_MAX, required=True)
        else:
            out.append(f"{path}.itemList[{index}]: must be an object")
    summary = node.get("itemListSummary")
    if isinstance(summary, dict):
        _text(out, summary, "title", f"{path}.itemListSummary", SUMMARY_TITLE_MAX)
        _text(out, summary, "description", f"{path}.itemListSummary", SUMMARY_DESCRIPTION_MAX)
    _item_card_body(out, node, path)
    _buttons(out, node, path)


def _item_card_body(out: _Problems, node: dict[Any, Any], path: str) -> None:
    """title + description together: at most 200 characters and 12 lines."""
    parts = [node.get(key) for key in ("title", "description")]
    texts = [part for part in parts if isinstance(part, str)]
    if len(texts) != sum(part is not None for part in parts):
        out.append(f"{path}: title and description must be strings")
    body = "\n".join(texts)
    if text_len("".join(texts)) > ITEM_CARD_TEXT_MAX:
        out.append(f"{path}: title+description over {ITEM_CARD_TEXT_MAX} characters")
    if body.count("\n") + 1 > ITEM_CARD_LINES_MAX:
        out.append(f"{path}: title+description over {ITEM_CARD_LINES_MAX} lines")


def _carousel(out: _Problems, node: dict[Any, Any], path: str, carousel: bool) -> None:
    kind = node.get("type")
    if not isinstance(kind, str) or kind not in CAROUSEL_TYPES:
        out.append(f"{path}.type: must be one of {sorted(CAROUSEL_TYPES)}")
        return
    limit = CAROUSEL_LIST_CARDS_MAX if kind == "listCard" else CAROUSEL_ITEMS_MAX
    for index, item in enumerate(_items(out, node, "items", path, limit)):
        if isinstance(item, dict):
            _COMPONENTS[kind](out, item, f"{path}.items[{index}]", True)
        else:
            out.append(f"{path}.items[{index}]: must be an object")


_COMPONENTS: dict[str, Callable[[_Problems, dict[Any, Any], str, bool], None]] = {
    "simpleText": _simple_text,
    "simpleImage": _simple_image,
    "textCard": _text_card,
    "basicCard": _basic_card,
    "commerceCard": _commerce_card,
    "listCard": _list_card,
    "itemCard": _item_card,
    "carousel": _carousel,
}


def _output(out: _Problems, output: object, path: str) -> None:
    if not isinstance(output, dict) or len(output) != 1:
        out.append(f"{path}: must be an object with exactly one component key")
        return
    [(kind, component)] = output.items()
    if kind not in _COMPONENTS:
        out.append(f"{path}: unknown component {kind!r}")
    elif not isinstance(component, dict):
        out.append(f"{path}.{kind}: must be an object")
    else:
        _COMPONENTS[kind](out, component, f"{path}.{kind}", False)


def _quick_reply(out: _Problems, quick: object, path: str) -> None:
    if not isinstance(quick, dict):
        out.append(f"{path}: must be an object")
        return
    _text(out, quick, "label", path, QUICK_LABEL_MAX, required=True)
    action = quick.get("action")
    if not isinstance(action, str) or action not in QUICK_ACTIONS:
        out.append(f"{path}.action: must be 'message' or 'block'")
        return
    _target(out, quick, QUICK_ACTIONS[action], path)
    if "extra" in quick and not isinstance(quick["extra"], dict):
        out.append(f"{path}.extra: must be an object")


def _template(out: _Problems, template: dict[Any, Any]) -> None:
    outputs = _items(out, template, "outputs", "template", OUTPUTS_MAX)
    for index, output in enumerate(outputs):
        _output(out, output, f"template.outputs[{index}]")
    quick = template.get("quickReplies")
    if quick is None:
        return
    if not isinstance(quick, list):
        out.append("template.quickReplies: must be a list")
        return
    if len(quick) > QUICK_REPLIES_MAX:
        out.append(f"template.quickReplies: {len(quick)} entries, limit {QUICK_REPLIES_MAX}")
    for index, entry in enumerate(quick):
        _quick_reply(out, entry, f"template.quickReplies[{index}]")


def _bubble(out: _Problems, payload: object) -> None:
    try:
        size = encoded_size(payload)
    except (TypeError, ValueError, OverflowError):
        out.append("reply: not JSON-serialisable")
        return
    if size > BUBBLE_MAX_BYTES:
        out.append(f"reply: {size} bytes, limit {BUBBLE_MAX_BYTES}")


def validate_reply(payload: object) -> list[str]:
    """Every limit `payload` breaks, as short messages; [] when Kakao will show it."""
    if not isinstance(payload, dict):
        return ["reply: must be an object"]
    out: _Problems = []
    if payload.get("version") != VERSION:
        out.append(f"version: must be {VERSION!r}")
    template = payload.get("template")
    if isinstance(template, dict):
        _template(out, template)
    else:
        out.append("template: must be an object")
    _bubble(out, payload)
    return out
