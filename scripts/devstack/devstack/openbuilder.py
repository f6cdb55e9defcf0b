"""An independent checker of Kakao skill replies, for the tests and the load tools.

It re-states the limits of /work/shared/reference/kakao-skill-api.md instead of importing the app's
validator, so a bug in surveybot.kakao cannot hide itself: keep it free of any surveybot import.
Standard library only. Usage:

    from devstack.openbuilder import assert_valid_reply, quick_texts, reply_problems, reply_texts
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = [
    "BUBBLE_BYTES",
    "assert_valid_reply",
    "button_list",
    "chars",
    "quick_labels",
    "quick_texts",
    "reply_problems",
    "reply_text",
    "reply_texts",
]

BUBBLE_BYTES = 30_720
CARD_KINDS = ("textCard", "basicCard", "commerceCard", "listCard", "itemCard")
COMPONENTS = ("simpleText", "simpleImage", "carousel", *CARD_KINDS)
Node = dict[str, Any]
Targets = dict[str, str | None]  # action -> the field it needs

BUTTON_TARGET: Targets = {
    "webLink": "webLinkUrl",
    "message": "messageText",
    "block": "blockId",
    "phone": "phoneNumber",
    "share": None,
    "operator": None,
}
QUICK_TARGET: Targets = {"message": "messageText", "block": "blockId"}


def chars(text: str) -> int:
    """Characters as a UTF-16 validator counts them (an emoji is two)."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


# An absolute http(s) URL: scheme, a host, then anything but white space.
_HTTP_URL = re.compile(r"https?://[^\s/?#:@]+(:\d+)?([/?#]\S*)?", re.IGNORECASE)


def _http(url: Any) -> bool:
    return isinstance(url, str) and _HTTP_URL.fullmatch(url) is not None


class _Checker:
    """Collects every problem of one reply."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, where: str, what: str) -> None:
        self.problems.append(f"{where}: {what}")

    def string(self, obj: Node, key: str, where: str, most: int, needed: bool = False) -> None:
        if key not in obj or obj[key] is None:
            if needed:
                self.fail(f"{where}.{key}", "required")
            return
        value = obj[key]
        if not isinstance(value, str):
            self.fail(f"{where}.{key}", f"not a string: {value!r}")
        elif needed and value.strip() == "":
            self.fail(f"{where}.{key}", "empty")
        elif chars(value) > most:
            self.fail(f"{where}.{key}", f"{chars(value)} > {most} characters")

    def some_of(self, obj: Node, keys: tuple[str, ...], where: str) -> None:
        if not any(isinstance(obj.get(k), str) and obj[k].strip() for k in keys):
            self.fail(where, f"needs one of {keys}")

    def sized_list(self, obj: Node, key: str, where: str, most: int) -> list[Any]:
        value = obj.get(key)
        if not isinstance(value, list) or len(value) == 0:
            self.fail(f"{where}.{key}", "must be a non-empty list")
            return []
        if len(value) > most:
            self.fail(f"{where}.{key}", f"{len(value)} > {most}")
        return value

    def buttons(self, card: Node, where: str) -> None:
        if "buttons" not in card:
            return
        buttons = card["buttons"]
        if not isinstance(buttons, list):
            self.fail(f"{where}.buttons", "not a list")
            return
        side_by_side = card.get("buttonLayout") == "horizontal"
        if len(buttons) > (2 if side_by_side else 3):
            self.fail(f"{where}.buttons", f"{len(buttons)} buttons")
        label_most = 8 if side_by_side and len(buttons) > 1 else 14
        for i, button in enumerate(buttons):
            self.action(button, f"{where}.buttons[{i}]", label_most, BUTTON_TARGET)

    def action(self, node: Any, where: str, label_most: int, targets: Targets) -> None:
        """A button or quick reply: label, known action, the field the action needs."""
        if not isinstance(node, dict):
            self.fail(where, "not an object")
            return
        self.string(node, "label", where, label_most, needed=True)
        kind = node.get("action")
        if not isinstance(kind, str) or kind not in targets:
            self.fail(f"{where}.action", f"unknown {kind!r}")
            return
        field = targets[kind]
        if field is not None:
            self.string(node, field, where, 10**9, needed=True)
        if kind == "webLink" and not _http(node.get("webLinkUrl")):
            self.fail(f"{where}.webLinkUrl", "not an http(s) URL")
        if "extra" in node and not isinstance(node["extra"], dict):
            self.fail(f"{where}.extra", "not an object")

    def component(self, kind: str, body: Any, where: str, in_carousel: bool) -> None:
        if not isinstance(body, dict):
            self.fail(where, "not an object")
            return
        check = {
            "simpleText": self.simple_text,
            "simpleImage": self.simple_image,
            "textCard": self.text_card,
            "basicCard": self.basic_card,
            "commerceCard": self.commerce_card,
            "listCard": self.list_card,
            "itemCard": self.item_card,
            "carousel": self.carousel,
        }[kind]
        check(body, where, in_carousel)

    def simple_text(self, body: Node, where: str, _: bool) -> None:
        self.string(body, "text", where, 1000, needed=True)

    def simple_image(self, body: Node, where: str, _: bool) -> None:
        if not _http(body.get("imageUrl")):
            self.fail(f"{where}.imageUrl", "not an http(s) URL")
        self.string(body, "altText", where, 50, needed=True)

    def text_card(self, body: Node, where: str, in_carousel: bool) -> None:
        self.string(body, "title", where, 50)
        self.string(body, "description", where, 128 if in_carousel else 400)
        self.some_of(body, ("title", "description"), where)
        self.buttons(body, where)

    def basic_card(self, body: Node, where: str, _: bool) -> None:
        self.string(body, "title", where, 50)
        self.string(body, "description", where, 230)
        thumb = body.get("thumbnail")
        if not isinstance(thumb, dict) or not isinstance(thumb.get("imageUrl"), str):
            self.fail(f"{where}.thumbnail", "required with imageUrl")
        self.buttons(body, where)

    def commerce_card(self, body: Node, where: str, _: bool) -> None:
        self.buttons(body, where)

    def list_card(self, body: Node, where: str, in_carousel: bool) -> None:
        header = body.get("header")
        if not isinstance(header, dict):
            self.fail(f"{where}.header", "required")
        else:
            self.string(header, "title", f"{where}.header", 10**9, needed=True)
        for i, item in enumerate(self.sized_list(body, "items", where, 4 if in_carousel else 5)):
            if not isinstance(item, dict):
                self.fail(f"{where}.items[{i}]", "not an object")
            else:
                self.string(item, "title", f"{where}.items[{i}]", 10**9, needed=True)
        self.buttons(body, where)

    def item_card(self, body: Node, where: str, in_carousel: bool) -> None:
        most = 5 if in_carousel else 10
        for i, item in enumerate(self.sized_list(body, "itemList", where, most)):
            if not isinstance(item, dict):
                self.fail(f"{where}.itemList[{i}]", "not an object")
            else:
                self.string(item, "title", f"{where}.itemList[{i}]", 6, needed=True)
        summary = body.get("itemListSummary")
        if isinstance(summary, dict):
            self.string(summary, "title", f"{where}.itemListSummary", 6)
            self.string(summary, "description", f"{where}.itemListSummary", 14)
        self.item_card_text(body, where)
        self.buttons(body, where)

    def item_card_text(self, body: Node, where: str) -> None:
        """title and description together: 200 characters, 12 lines."""
        texts = [body[k] for k in ("title", "description") if body.get(k) is not None]
        if not all(isinstance(t, str) for t in texts):
            self.fail(where, "title/description not strings")
            return
        if sum(chars(t) for t in texts) > 200:
            self.fail(where, "title+description over 200 characters")
        if sum(t.count("\n") + 1 for t in texts) > 12:
            self.fail(where, "title+description over 12 lines")

    def carousel(self, body: Node, where: str, _: bool) -> None:
        kind = body.get("type")
        if kind not in CARD_KINDS:
            self.fail(f"{where}.type", f"not a card type: {kind!r}")
            return
        most = 5 if kind == "listCard" else 10
        for i, item in enumerate(self.sized_list(body, "items", where, most)):
            self.component(kind, item, f"{where}.items[{i}]", True)

    def reply(self, payload: Any) -> None:
        if not isinstance(payload, dict):
            self.fail("reply", "not an object")
            return
        if payload.get("version") != "2.0":
            self.fail("version", f"{payload.get('version')!r} is not '2.0'")
        template = payload.get("template")
        if not isinstance(template, dict):
            self.fail("template", "not an object")
            return
        for i, output in enumerate(self.sized_list(template, "outputs", "template", 3)):
            self.output(output, f"outputs[{i}]")
        self.quick_replies(template)
        self.size(payload)

    def output(self, output: Any, where: str) -> None:
        if not isinstance(output, dict) or len(output) != 1:
            self.fail(where, "must have exactly one component key")
            return
        kind = next(iter(output))
        if kind not in COMPONENTS:
            self.fail(where, f"unknown component {kind!r}")
        else:
            self.component(kind, output[kind], f"{where}.{kind}", False)

    def quick_replies(self, template: Node) -> None:
        if "quickReplies" not in template:
            return
        quick = template["quickReplies"]
        if not isinstance(quick, list):
            self.fail("quickReplies", "not a list")
            return
        if len(quick) > 10:
            self.fail("quickReplies", f"{len(quick)} > 10")
        for i, node in enumerate(quick):
            self.action(node, f"quickReplies[{i}]", 14, QUICK_TARGET)

    def size(self, payload: Node) -> None:
        try:
            raw = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        except (TypeError, ValueError) as exc:
            self.fail("reply", f"not serialisable: {exc}")
            return
        if len(raw) > BUBBLE_BYTES:
            self.fail("reply", f"{len(raw)} bytes > {BUBBLE_BYTES}")


def reply_problems(payload: Any) -> list[str]:
    """Every reason Kakao would drop `payload`; [] when it is fine."""
    checker = _Checker()
    checker.reply(payload)
    return checker.problems


def assert_valid_reply(payload: Any) -> None:
    """Raise AssertionError naming every problem of `payload`."""
    problems = reply_problems(payload)
    if problems:  # not `assert`: it must hold under python -O too
        raise AssertionError("invalid Kakao reply:\n  " + "\n  ".join(problems))


def _components(payload: Node) -> list[tuple[str, Node]]:
    """(kind, body) of every output, carousel items expanded."""
    found = []
    for output in payload["template"]["outputs"]:
        for kind, body in output.items():
            if kind == "carousel":
                found += [(body["type"], item) for item in body["items"]]
            else:
                found.append((kind, body))
    return found


def reply_texts(payload: Node) -> list[str]:
    """Every simpleText text and card title/description, in order."""
    texts = []
    for kind, body in _components(payload):
        keys = ("text",) if kind == "simpleText" else ("title", "description")
        texts += [body[k] for k in keys if isinstance(body.get(k), str)]
        if kind == "listCard" and isinstance(body.get("header"), dict):
            texts.append(body["header"].get("title", ""))
    return texts


def reply_text(payload: Node) -> str:
    """reply_texts joined by newlines, for `in` assertions."""
    return "\n".join(reply_texts(payload))


def quick_labels(payload: Node) -> list[str]:
    """The labels of the quick replies."""
    return [q["label"] for q in payload["template"].get("quickReplies", [])]


def quick_texts(payload: Node) -> list[str]:
    """The messageText of each quick reply (what tapping it sends)."""
    return [q.get("messageText", "") for q in payload["template"].get("quickReplies", [])]


def button_list(payload: Node) -> list[Node]:
    """Every card button, in order."""
    return [b for _, body in _components(payload) for b in body.get("buttons", [])]
