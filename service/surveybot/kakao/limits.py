"""The Open Builder limits of what the reply builder emits, and `validate_reply` for them.

Lengths are counted in UTF-16 code units (what a Java or JavaScript validator counts): equal to
len() for Korean and most text, one more per emoji, so a reply that passes here passes either way.
The full checker of every component type lives in the test support code.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import msgspec

VERSION = "2.0"
OUTPUTS_MAX = 3
QUICK_REPLIES_MAX = 10
SIMPLE_TEXT_MAX = 1000
CARD_TITLE_MAX = 50
TEXT_CARD_DESCRIPTION_MAX = 400
BASIC_CARD_DESCRIPTION_MAX = 230
BUTTONS_MAX = 3
LABEL_MAX = 14  # card buttons and quick replies alike
BUBBLE_MAX_BYTES = 30_720
COMPONENTS = frozenset(
    {"simpleText", "simpleImage", "textCard", "basicCard", "commerceCard", "listCard", "itemCard",
     "carousel"}
)  # fmt: skip
BUTTON_ACTIONS = frozenset({"webLink", "message", "block", "phone", "share", "operator"})
QUICK_ACTIONS = frozenset({"message", "block"})
# Action -> the field it needs; actions not listed need nothing beyond the label.
TARGETS = {
    "message": "messageText",
    "webLink": "webLinkUrl",
    "block": "blockId",
    "phone": "phoneNumber",
}
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


# ---- validate_reply -------------------------------------------------------------------------

_Problems = list[str]


def _text(out: _Problems, node: dict[Any, Any], key: str, path: str, limit: int) -> None:
    """An optional string field within `limit`."""
    value = node.get(key)
    if value is not None and not isinstance(value, str):
        out.append(f"{path}.{key}: must be a string")
    elif value is not None and text_len(value) > limit:
        out.append(f"{path}.{key}: {text_len(value)} characters, limit {limit}")


def _filled(node: dict[Any, Any], key: str) -> bool:
    value = node.get(key)
    return isinstance(value, str) and bool(value.strip())


def _list(out: _Problems, value: object, path: str, limit: int) -> list[Any]:
    """`value` as a list of at most `limit` entries ([] and a problem when it is not a list)."""
    if not isinstance(value, list):
        out.append(f"{path}: must be a list")
        return []
    if len(value) > limit:
        out.append(f"{path}: {len(value)} entries, limit {limit}")
    return value


def _action(out: _Problems, node: object, path: str, actions: frozenset[str]) -> None:
    """A button or quick reply: a label, a known action and the field that action needs."""
    if not isinstance(node, dict):
        out.append(f"{path}: must be an object")
        return
    if not _filled(node, "label"):
        out.append(f"{path}.label: required")
    _text(out, node, "label", path, LABEL_MAX)
    action = node.get("action")
    if not isinstance(action, str) or action not in actions:
        out.append(f"{path}.action: unsupported action {action!r}")
    elif action in TARGETS and not _filled(node, TARGETS[action]):
        out.append(f"{path}.{TARGETS[action]}: required for action {action!r}")
    elif action == "webLink" and not is_http_url(node["webLinkUrl"]):
        out.append(f"{path}.webLinkUrl: only http/https URLs are allowed")
    if "extra" in node and not isinstance(node["extra"], dict):
        out.append(f"{path}.extra: must be an object")


def _component(out: _Problems, kind: str, node: dict[Any, Any], path: str) -> None:
    """simpleText, textCard and basicCard, the components the builder emits; others pass."""
    if kind == "simpleText":
        if not _filled(node, "text"):
            out.append(f"{path}.text: required")
        _text(out, node, "text", path, SIMPLE_TEXT_MAX)
    elif kind in ("textCard", "basicCard"):
        basic = kind == "basicCard"
        _text(out, node, "title", path, CARD_TITLE_MAX)
        most = BASIC_CARD_DESCRIPTION_MAX if basic else TEXT_CARD_DESCRIPTION_MAX
        _text(out, node, "description", path, most)
        if basic:
            thumbnail = node.get("thumbnail")
            if not isinstance(thumbnail, dict) or not is_http_url(thumbnail.get("imageUrl")):
                out.append(f"{path}.thumbnail.imageUrl: an http/https URL is required")
        elif not (_filled(node, "title") or _filled(node, "description")):
            out.append(f"{path}: needs a title or a description")
        buttons = node.get("buttons", [])
        for index, button in enumerate(_list(out, buttons, f"{path}.buttons", BUTTONS_MAX)):
            _action(out, button, f"{path}.buttons[{index}]", BUTTON_ACTIONS)


def _output(out: _Problems, output: object, path: str) -> None:
    if not isinstance(output, dict) or len(output) != 1:
        out.append(f"{path}: must be an object with exactly one component key")
        return
    [(kind, component)] = output.items()
    if kind not in COMPONENTS:
        out.append(f"{path}: unknown component {kind!r}")
    elif not isinstance(component, dict):
        out.append(f"{path}.{kind}: must be an object")
    else:
        _component(out, kind, component, f"{path}.{kind}")


def _template(out: _Problems, template: dict[Any, Any]) -> None:
    outputs = _list(out, template.get("outputs"), "template.outputs", OUTPUTS_MAX)
    if template.get("outputs") == []:
        out.append("template.outputs: at least one output is required")
    for index, output in enumerate(outputs):
        _output(out, output, f"template.outputs[{index}]")
    quick = template.get("quickReplies", [])
    for index, entry in enumerate(_list(out, quick, "template.quickReplies", QUICK_REPLIES_MAX)):
        _action(out, entry, f"template.quickReplies[{index}]", QUICK_ACTIONS)


def validate_reply(payload: object, encoded: bytes | None = None) -> list[str]:
    """The limits `payload` breaks, as short messages; [] when Kakao will show it.

    `encoded` is the payload as JSON when the caller has it already (the size limit is on it).
    """
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
    try:
        size = len(encoded if encoded is not None else msgspec.json.encode(payload))
    except (TypeError, ValueError, OverflowError, RecursionError):
        return [*out, "reply: not JSON-serialisable"]
    if size > BUBBLE_MAX_BYTES:
        out.append(f"reply: {size} bytes, limit {BUBBLE_MAX_BYTES}")
    return out
