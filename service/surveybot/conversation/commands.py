"""Turn what a person typed (or tapped) into a command: Korean first, English aliases beside it."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Keys are compared lower-cased, with the words of a two-word command joined with and without a
# space, so "설문 목록", "설문목록" and "Confirm  Cancel" all match.
ALIASES: dict[str, str] = {
    "메뉴": "menu", "도움말": "menu", "처음": "menu", "menu": "menu", "help": "menu",
    "start": "menu",
    "등록": "register", "register": "register",
    "내정보": "me", "me": "me",
    "설문목록": "surveys", "surveys": "surveys",
    "참여": "join", "join": "join",
    "내응답": "mine", "mine": "mine",
    "취소": "cancel", "cancel": "cancel",
    "취소확인": "confirm_cancel", "confirm cancel": "confirm_cancel",
    "설문만들기": "create", "create": "create",
    "설문관리": "manage", "manage": "manage",
    "결과": "results", "results": "results",
    "미응답": "pending", "pending": "pending",
    "마감": "close", "close": "close",
    "재개": "reopen", "reopen": "reopen",
    "삭제": "delete", "delete": "delete",
    "삭제확인": "confirm_delete", "confirm delete": "confirm_delete",
    "다운로드": "export", "export": "export",
    "관리자지정": "grant", "grant": "grant",
    "관리자해제": "revoke", "revoke": "revoke",
    "명단": "roster", "roster": "roster",
    "관리자인증": "admin_code", "admin-code": "admin_code", "admin code": "admin_code",
    "등록해제": "release", "release": "release",
    "알림": "remind", "remind": "remind",
    "알림확인": "confirm_remind", "confirm remind": "confirm_remind",
    "알림현황": "remind_status", "remind status": "remind_status",
    "기록": "history", "history": "history", "audit": "history",
    "다음": "next", "next": "next",
    "이전": "back", "back": "back",
    "그만": "stop", "stop": "stop",
    "제출": "submit", "submit": "submit",
    "확인": "confirm", "confirm": "confirm",
    "건너뛰기": "skip", "skip": "skip",
    "미리보기": "preview", "preview": "preview",
}  # fmt: skip

# Korean commands are often typed without the space before the number: "참여3".
_GLUED = re.compile(r"^([가-힣]+?)(\d+번?)$")


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    arg: str = ""  # the rest of the first line, spaces collapsed
    rest: str = ""  # the lines after the first, as typed

    @property
    def number(self) -> int | None:
        """The survey number when the argument is exactly one positive whole number, with or
        without the counter word people add to it ('참여 3번')."""
        parts = self.arg.split()
        digits = parts[0].removesuffix("번") if len(parts) == 1 else ""
        if digits.isdecimal() and len(digits) <= 9:  # full-width digits too: int() reads them
            value = int(digits)
            return value if value > 0 else None
        return None


def parse_command(utterance: str) -> Command | None:
    """The command the text starts with, or None when it is not a command."""
    first, _, rest = utterance.strip().partition("\n")
    tokens = first.split()
    if not tokens:
        return None
    for width in (2, 1):
        if len(tokens) < width:
            continue
        head = tokens[:width]
        for key in ("".join(head).lower(), " ".join(head).lower()):
            name = ALIASES.get(key)
            if name is not None:
                return Command(name, " ".join(tokens[width:]), rest.strip())
    glued = _GLUED.match(tokens[0])
    if glued and glued.group(1) in ALIASES:
        arg = " ".join([glued.group(2), *tokens[1:]])
        return Command(ALIASES[glued.group(1)], arg, rest.strip())
    return None


# The words that steer a flow while a person is typing an answer or a survey. Only the whole
# message counts: '그만' stops, '그만 둘래요' is an answer (issue 7: answers that start with a
# command word were lost).
CONTROL_WORDS: dict[str, str] = {
    word: name
    for word, name in ALIASES.items()
    if name in ("stop", "back", "skip", "submit", "confirm", "next")
} | {"완료": "done", "done": "done", "끝": "done"}


def control_word(utterance: str) -> str | None:
    """The control word the whole message is (case and spaces folded), or None."""
    return CONTROL_WORDS.get(normalise(utterance))


def normalise(text: str) -> str:
    """Fold case and runs of white space, for comparing answers with option labels."""
    return " ".join(text.split()).casefold()
