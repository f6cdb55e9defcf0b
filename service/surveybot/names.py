"""Names and member numbers people type: one normal form, and nothing that hides or reorders text.

A name ends up in chat bubbles, in `미응답` lists and in exports. Zero-width and bidi-control
characters make two different names look alike (or reverse how one reads); control characters
break bubbles and files. The roster import refuses them too (roster_csv).
"""

from __future__ import annotations

import unicodedata

from surveybot.domain import MEMBER_NO_MAX, NAME_MAX


class InvalidName(ValueError):
    """A name or number that cannot be stored; the message is for the person."""


def has_hidden_characters(text: str) -> bool:
    """Control, format (zero-width, bidi), surrogate, private-use or unassigned characters."""
    return any(unicodedata.category(c).startswith("C") for c in text)


def clean_name(text: str, limit: int = NAME_MAX) -> str:
    """NFC, single spaces; raise InvalidName for hidden characters or a length over `limit`."""
    name = " ".join(unicodedata.normalize("NFC", text).split())
    if has_hidden_characters(name):
        raise InvalidName("이름에 보이지 않는 문자나 제어 문자를 쓸 수 없습니다.")
    if len(name) > limit:
        raise InvalidName(f"이름은 {limit}자까지입니다.")
    return name


def split_name_number(arg: str) -> tuple[str, str | None]:
    """'홍길동 1234' -> ('홍길동', '1234'); a last word is a number only when it has a digit.

    'John Smith' is a name of two words; '홍길동 A-12' a name and a number.
    """
    parts = unicodedata.normalize("NFC", arg).split()
    if len(parts) >= 2 and any(c.isdigit() for c in parts[-1]):
        number = parts.pop()
        if has_hidden_characters(number):
            raise InvalidName("번호에 보이지 않는 문자나 제어 문자를 쓸 수 없습니다.")
        if len(number) > MEMBER_NO_MAX:
            raise InvalidName(f"번호는 {MEMBER_NO_MAX}자까지입니다.")
        return clean_name(" ".join(parts)), number
    return clean_name(" ".join(parts)), None
