"""Decode an Open Builder skill request into the few fields the bot acts on.

Policy: the fields the bot cannot work without (the user id and the utterance) are validated and a
wrong type is a 400 naming the JSON path. Metadata the bot only uses as a hint (surface, trigger,
bot id, clientExtra) degrades to None / {} on any surprise, because Kakao changes payloads without
notice and a changed hint must never stop the bot from answering.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec

USER_KEY_MAX = 200

_T = TypeVar("_T")


class BadRequest(Exception):
    """A request the skill cannot answer; the HTTP layer maps it to `status`."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class SkillRequest:
    """What one skill call tells the bot."""

    user_key: str
    utterance: str
    client_extra: dict[str, Any]
    surface: str | None = None
    trigger: str | None = None
    bot_id: str | None = None


# Every field is optional and unknown keys (lang, snake_case duplicates, ...) are ignored.
class _User(msgspec.Struct):
    id: str | None = None


class _UserRequest(msgspec.Struct):
    user: _User | None = None
    utterance: str | None = None
    params: msgspec.Raw = msgspec.Raw()  # decoded on its own by _hint()


class _Payload(msgspec.Struct):
    userRequest: _UserRequest | None = None  # Kakao's camelCase key
    action: msgspec.Raw = msgspec.Raw()  # decoded on its own by _hint()
    flow: msgspec.Raw = msgspec.Raw()  # decoded on its own by _hint()
    bot: msgspec.Raw = msgspec.Raw()  # decoded on its own by _hint()


class _Params(msgspec.Struct):
    surface: str | None = None


class _Trigger(msgspec.Struct):
    type: str | None = None


class _Flow(msgspec.Struct):
    trigger: _Trigger | None = None


class _Bot(msgspec.Struct):
    id: str | None = None


class _Action(msgspec.Struct):
    clientExtra: dict[str, Any] | None = None  # Kakao's camelCase key
    client_extra: dict[str, Any] | None = None


_PAYLOAD = msgspec.json.Decoder(_Payload)


def _hint(raw: msgspec.Raw, kind: type[_T]) -> _T | None:
    """Decode an optional metadata section; anything unexpected yields None."""
    if not raw:
        return None
    try:
        return msgspec.json.decode(raw, type=kind)
    except (msgspec.DecodeError, ValueError, RecursionError):
        return None


def _parse(body: bytes) -> _Payload:
    """Run the validating decoder, turning every failure into a 400."""
    try:
        # msgspec does not check the UTF-8 of values it skips or keeps as Raw; check it all here.
        if not isinstance(body, str):
            str(body, "utf-8")
        return _PAYLOAD.decode(body)
    except msgspec.ValidationError as exc:
        raise BadRequest(f"invalid request: {exc}") from None
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        raise BadRequest("body is not valid JSON") from None


def _user_key(payload: _Payload) -> str:
    """The stable per-user key, or a 400."""
    user = payload.userRequest.user if payload.userRequest else None
    key = (user.id or "").strip() if user else ""
    if not key:
        raise BadRequest("missing userRequest.user.id")
    if len(key) > USER_KEY_MAX:
        raise BadRequest("userRequest.user.id is too long")
    return key


def _client_extra(raw: msgspec.Raw) -> dict[str, Any]:
    """action.clientExtra (or client_extra), {} when absent or not an object."""
    action = _hint(raw, _Action)
    if action is None:
        return {}
    if action.clientExtra is not None:
        return action.clientExtra
    return action.client_extra or {}


def decode_request(body: bytes) -> SkillRequest:
    """Decode a skill request body; raises BadRequest(400) when it cannot be answered."""
    payload = _parse(body)
    user_request = payload.userRequest or _UserRequest()
    params = _hint(user_request.params, _Params)
    flow = _hint(payload.flow, _Flow)
    bot = _hint(payload.bot, _Bot)
    return SkillRequest(
        user_key=_user_key(payload),
        utterance=user_request.utterance or "",
        client_extra=_client_extra(payload.action),
        surface=params.surface if params else None,
        trigger=flow.trigger.type if flow and flow.trigger else None,
        bot_id=bot.id if bot else None,
    )
