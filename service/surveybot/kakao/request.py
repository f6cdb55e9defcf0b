"""Decode an Open Builder skill request into the few fields the bot acts on.

Policy: the fields the bot cannot work without (the user id and the utterance) are validated and a
wrong type is a 400 naming the JSON path. clientExtra, only a hint, degrades to {} on any surprise,
because Kakao changes payloads without notice and a changed hint must never stop the bot from
answering. Everything else in the payload is ignored.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import msgspec

from surveybot.reminders.model import EVENT_MARK

USER_KEY_MAX = 200
# Kakao's clientExtra is flat; deeper nesting is not Kakao and is dropped like any odd hint.
EXTRA_DEPTH_MAX = 16
# In a JSON body: an escaped backslash (skipped, so "\\ud800" is no escape), a surrogate pair
# (kept), or half of one. msgspec refuses a whole body for a lone half, yet a client that cuts a
# message between the halves of an emoji sends exactly that: it becomes U+FFFD, like any
# malformed text, and clean_text drops it.
_SURROGATE_ESCAPE = re.compile(
    rb"\\\\|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|\\u[dD][89a-fA-F][0-9a-fA-F]{2}"
)
_PAIR_ESCAPE_LEN = 12
# C0 but \t and \n, DEL, C1, surrogates, and U+FFFD (a lone surrogate, see above). PostgreSQL
# refuses NUL in text, and none of these means anything in a chat message.
_UNWANTED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffd]")


class BadRequest(Exception):
    """A request the skill cannot answer; the HTTP layer maps it to `status`."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class EventCall:
    """Kakao ran the reminder block for this person, because our notifier asked it to.

    An id that is missing or malformed is 0, which names no reminder: the bot then shows nothing.
    """

    reminder_id: int
    survey_id: int


@dataclass(frozen=True, slots=True)
class SkillRequest:
    """What one skill call tells the bot."""

    user_key: str
    utterance: str
    client_extra: dict[str, Any]
    event: EventCall | None = None  # only for a reminder sent through the Event API


# Every field is optional and unknown keys (lang, snake_case duplicates, ...) are ignored.
class _User(msgspec.Struct):
    id: str | None = None


class _UserRequest(msgspec.Struct):
    user: _User | None = None
    utterance: str | None = None
    params: msgspec.Raw = msgspec.Raw()  # read on its own by _event()
    event: msgspec.Raw = msgspec.Raw()


class _Payload(msgspec.Struct):
    userRequest: _UserRequest | None = None  # Kakao's camelCase key
    action: msgspec.Raw = msgspec.Raw()  # decoded on its own by _client_extra() and _event()
    event: msgspec.Raw = msgspec.Raw()


class _Action(msgspec.Struct):
    clientExtra: dict[str, Any] | None = None  # Kakao's camelCase key
    client_extra: dict[str, Any] | None = None


class _Params(msgspec.Struct):
    params: dict[str, Any] | None = None


class _Event(msgspec.Struct):
    data: dict[str, Any] | None = None


_PAYLOAD = msgspec.json.Decoder(_Payload)


def _parse(body: bytes | str) -> _Payload:
    """Run the validating decoder, turning every failure into a 400."""
    try:
        raw = body.encode() if isinstance(body, str) else bytes(body)
        # msgspec does not check the UTF-8 of values it skips or keeps as Raw; check it all here.
        str(raw, "utf-8")
        return _PAYLOAD.decode(_mend_surrogates(raw))
    except msgspec.ValidationError as exc:
        raise BadRequest(f"invalid request: {exc}") from None
    except (msgspec.DecodeError, UnicodeError, RecursionError):
        raise BadRequest("body is not valid JSON") from None


def _mend_surrogates(raw: bytes) -> bytes:
    if b"\\u" not in raw:
        return raw
    return _SURROGATE_ESCAPE.sub(_mend_one, raw)


def _mend_one(match: re.Match[bytes]) -> bytes:
    escape = match.group()
    return escape if escape == b"\\\\" or len(escape) == _PAIR_ESCAPE_LEN else b"\\ufffd"


def clean_text(text: str) -> str:
    """Return text in NFC with line breaks as \\n and no control characters but \\n and \\t."""
    text = _UNWANTED.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    return unicodedata.normalize("NFC", text)


def _user_key(payload: _Payload) -> str:
    """The stable per-user key, or a 400."""
    user = payload.userRequest.user if payload.userRequest else None
    key = (user.id or "").strip() if user else ""
    if not key:
        raise BadRequest("missing userRequest.user.id")
    if len(key) > USER_KEY_MAX:
        raise BadRequest("userRequest.user.id is too long")
    # The key names a person in the database and the logs; Kakao's are printable ASCII. Anything
    # else would be stored as a different person, or not at all (PostgreSQL refuses NUL).
    if not key.isprintable() or "\ufffd" in key or any(c.isspace() for c in key):
        raise BadRequest(
            "userRequest.user.id must not contain control characters, spaces or broken characters"
        )
    return key


def _client_extra(raw: msgspec.Raw) -> dict[str, Any]:
    """action.clientExtra (or client_extra) with its text cleaned; {} when absent or odd."""
    if not raw:
        return {}
    try:
        action = msgspec.json.decode(raw, type=_Action)
        extra = action.clientExtra if action.clientExtra is not None else action.client_extra
        return _clean_json(extra or {}, 0)  # type: ignore[no-any-return]
    except (msgspec.DecodeError, ValueError, RecursionError, _TooDeep):
        return {}


class _TooDeep(Exception):
    pass


def _clean_json(value: Any, depth: int) -> Any:
    # The bot reads these values back, and may store them, as it does the utterance.
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict | list) and depth >= EXTRA_DEPTH_MAX:
        raise _TooDeep
    if isinstance(value, dict):
        return {clean_text(key): _clean_json(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list):
        return [_clean_json(item, depth + 1) for item in value]
    return value


def _event(payload: _Payload, user_request: _UserRequest) -> EventCall | None:
    """Our reminder's marks, wherever the call carries them; None for every other request.

    The notifier puts {"surveybot": "reminder", "reminder": id, "survey": id} in the Event API
    call's `data` and `params`. Kakao hands them to the skill, as userRequest.params by the
    reference, but where exactly is unconfirmed, so each place they may appear is read. Only
    Kakao can set them (a typed message cannot), and they only choose what this person sees.
    """
    places: list[dict[str, Any] | None] = [_decoded(user_request.params, dict[str, Any])]
    for raw, kind in ((payload.action, _Params), (user_request.event, _Event),
                      (payload.event, _Event)):  # fmt: skip
        found = _decoded(raw, kind)
        places.append(getattr(found, "params", None) or getattr(found, "data", None))
    for place in places:
        if isinstance(place, dict) and place.get("surveybot") == EVENT_MARK:
            return EventCall(_id(place.get("reminder")), _id(place.get("survey")))
    return None


def _decoded(raw: msgspec.Raw, kind: Any) -> Any:
    # Nearly every request is typed text: skip decoding what cannot hold the mark.
    if not raw or b'"surveybot"' not in bytes(raw):
        return None
    try:
        return msgspec.json.decode(raw, type=kind)
    except (msgspec.DecodeError, ValueError, RecursionError):
        return None


def _id(value: object) -> int:
    """A positive id from a JSON number or a string of digits (params are strings), else 0."""
    if type(value) is int:
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdecimal() and len(value) <= 18:
        number = int(value)
    else:
        return 0
    return number if 0 < number < 2**63 else 0


def decode_request(body: bytes | str) -> SkillRequest:
    """Decode a skill request body; raises BadRequest(400) when it cannot be answered."""
    payload = _parse(body)
    user_request = payload.userRequest or _UserRequest()
    return SkillRequest(
        user_key=_user_key(payload),
        utterance=clean_text(user_request.utterance or ""),
        client_extra=_client_extra(payload.action),
        event=_event(payload, user_request),
    )
