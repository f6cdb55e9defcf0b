"""Bring a reply under Kakao's 30,720-byte bubble: cut hidden bytes first, visible text last."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import msgspec

from surveybot.kakao.limits import BUBBLE_MAX_BYTES, ELLIPSIS, encoded_size

logger = logging.getLogger("surveybot.kakao.reply")
Node = dict[str, Any]

# Aim below the hard limit: a serialiser that puts spaces after separators (falcon's default
# resp.media) adds up to a few hundred bytes to what encode_reply produces.
BUBBLE_TARGET_BYTES = BUBBLE_MAX_BYTES - 1024
_MIN_CUT_BYTES = 16
_SHRINK_ROUNDS = 8


# ---- the bubble byte limit -----------------------------------------------------------------

# A piece that can give bytes: its JSON size, and how to bring it to at most N bytes.
_Shrink = tuple[int, Callable[[int], None]]


def _str_size(text: str) -> int:
    return len(msgspec.json.encode(text))


def _cut_to(text: str, cap: int) -> str:
    """The longest prefix of `text`, plus an ellipsis, whose JSON fits in `cap` bytes."""
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if _str_size(text[:middle] + ELLIPSIS) <= cap:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + ELLIPSIS


def _cut(node: Node, key: str) -> _Shrink:
    def apply(cap: int) -> None:
        node[key] = _cut_to(node[key], cap)

    return _str_size(node[key]), apply


def _drop(owner: Node, key: str) -> _Shrink:
    def apply(cap: int) -> None:
        owner.pop(key, None)

    return encoded_size(owner[key]), apply


def _drop_button(card: Node, button: Node) -> _Shrink:
    def apply(cap: int) -> None:
        card["buttons"].remove(button)
        if not card["buttons"]:
            del card["buttons"]

    return encoded_size(button), apply


def _actions(template: Node) -> Iterator[tuple[Node | None, Node]]:
    """(card or None, button or quick reply) for everything the user can tap."""
    for output in template["outputs"]:
        for component in output.values():
            for button in component.get("buttons", ()):
                yield component, button
    for quick in template.get("quickReplies", ()):
        yield None, quick


def _hidden_shrinks(template: Node) -> Iterator[_Shrink]:
    """Bytes the user does not read: extras, message texts, link URLs (dropped, never cut)."""
    for card, node in _actions(template):
        if "extra" in node:
            yield _drop(node, "extra")
        if "messageText" in node:
            yield _cut(node, "messageText")
        if card is not None and "webLinkUrl" in node:
            yield _drop_button(card, node)


def _visible_shrinks(template: Node) -> Iterator[_Shrink]:
    for output in template["outputs"]:
        for component in output.values():
            for key in ("text", "title", "description"):
                if key in component:
                    yield _cut(component, key)


def _level(sizes: list[int], excess: int) -> int:
    """The largest cap that frees `excess` bytes when everything above it is cut to it."""
    low, high = _MIN_CUT_BYTES, max(sizes)
    while low < high:
        middle = (low + high + 1) // 2
        if sum(max(0, size - middle) for size in sizes) >= excess:
            low = middle
        else:
            high = middle - 1
    return low


def shrink(payload: Node) -> bool:
    """Cut the largest pieces evenly, hidden ones first, until the reply fits one bubble."""
    for tier in (_hidden_shrinks, _visible_shrinks):
        for _ in range(_SHRINK_ROUNDS):
            excess = encoded_size(payload) - BUBBLE_TARGET_BYTES
            if excess <= 0:
                return True
            shrinks = [shrink for shrink in tier(payload["template"]) if shrink[0] > _MIN_CUT_BYTES]
            if not shrinks:
                break
            cap = _level([size for size, _ in shrinks], excess)
            logger.warning("reply is %d bytes over the bubble budget; cutting to %d", excess, cap)
            for size, apply in shrinks:
                if size > cap:
                    apply(cap)
    return encoded_size(payload) <= BUBBLE_TARGET_BYTES
