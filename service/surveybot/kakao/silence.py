"""The reply that shows nothing: `"outputs": []`.

Kakao sends nothing for it when it answers an Event API call (a reminder that is no longer
wanted: the person answered meanwhile, the survey closed, or it was shown already). Reply (in
reply.py) always shows something, which is right for every message a person sends, so this is its
own type; Silence is a Reply so that the HTTP layer sends it like any other.
"""

from __future__ import annotations

from typing import Any

import msgspec

from surveybot.kakao.limits import VERSION
from surveybot.kakao.reply import Reply

_BODY: dict[str, Any] = {"version": VERSION, "template": {"outputs": []}}
_JSON = msgspec.json.encode(_BODY)


class Silence(Reply):
    """Answer an event call with nothing; texts and quick replies added to it are not sent."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        return {"version": VERSION, "template": {"outputs": []}}

    def to_json(self) -> bytes:
        return _JSON
