"""Scripts for test_fuzz.py: what people type and tap, and the Hypothesis strategies that mix it.

A script is the surveys an admin publishes, the names members register with, and a list of steps
(typed text, taps of offered quick replies, forged taps, joins, admin commands, double taps).
Steps name people by index and surveys by position, so they replay against any database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

KINDS = ("single", "multi", "text")
# Steps per example; shrinking turns the steps a failure does not need into Pauses.
MIN_STEPS, MAX_STEPS = 60, 200

# --- what people type ----------------------------------------------------------------------------

CONTROL_WORDS = [
    "이전", "그만", "건너뛰기", "제출", "다음", "확인", "취소", "메뉴", "완료", "미리보기", "예",
    "아니오", "back", "STOP", "skip", "Submit", "next", "confirm", " 제출 ", "제 출",
]  # fmt: skip
COMMAND_LIKE = [
    "등록 홍길동", "다음 주에 가능", "결과 보고", "마감 0001-01-01 00:00", "참여 2", "삭제확인 1",
    "취소 1", "취소확인 1", "설문목록", "내응답 1", "관리자인증 nope", "설문만들기",
    "설문만들기 제목\nQ 질문", "다음 (2/3)", "이전 답 수정", "그만 둘래요", "제출합니다",
    "건너뛰기 해도 되나요", "메뉴판 사진", "확인했습니다", "join 1", "register 관리자",
    "관리자지정 홍길동", "재개 1", "삭제 1", "다운로드 1", "명단", "내정보", "메뉴\n점심은 한식",
]  # fmt: skip
NUMBERS = [
    "1", "2", "3", "1,3", "1 3", "3,1,1", "1, 2, 3", "0", "11", "-1", "１", "١", "1,,2", " 2 ",
    "10", "999999999", "99999999999999999999", "1e3", "2.0", "1-3", "1,a", "²",
]  # fmt: skip
WEIRD = [
    "", " ", "\n", "\x00", "a\x00b", "1\x00", "\x07\x1b[31m", "\x7f", "\u200b", "\u200b1",
    "1\u200b", "\u202e제출", "\ufeff이전", "\u2066그만\u2069", "🙂", "👍🏽👨‍👩‍👧‍👦", "참석\u200d",
    "\r\n", "\t1", "𝟏", "Ａ",
]  # fmt: skip
TYPED = CONTROL_WORDS + COMMAND_LIKE + NUMBERS + WEIRD
CHARS = [
    "\x00", "\x01", "\x07", "\x1b", "\x7f", "\u200b", "\u200d", "\u2060", "\ufeff", "\u202e",
    "\u2066", "\u061c", "\u00a0", "\u3000", "\r", "\t", "\n", "🙂", "👍🏽", "𝔘", "가", "1", "１",
    ",", " ",
]  # fmt: skip
ADMIN_WORDS = [
    "결과", "미응답", "마감", "재개", "다운로드", "설문관리", "삭제", "삭제확인", "명단",
    "설문목록", "내응답", "취소", "취소확인",
]  # fmt: skip
PAGED_COMMANDS = ["설문관리", "결과 1", "미응답 1", "설문목록", "미리보기", "관리자인증 x", "다음"]
OPTION_VALUES = [
    True, False, None, -1, 10, 1.0, 0.0, -0.0, 0.5, "0", "1", [0], [0, 1], {"0": 0},
    2**63, 10**30, -(2**63) - 1,
]  # fmt: skip


class _Drop:
    """Marks a forged tap that removes a key from the offered extra."""

    def __repr__(self) -> str:
        return "DROP"


DROP = _Drop()

# --- the script of one example ----------------------------------------------------------------


@dataclass(frozen=True)
class Pause:
    """Nothing is sent: what shrinking makes of a step the failure does not need."""


class Steps(tuple[Any, ...]):
    """The steps of a script; shown without their Pauses in a falsifying example."""

    def __repr__(self) -> str:
        return f"Steps({', '.join(repr(s) for s in self if not isinstance(s, Pause))})"


@dataclass(frozen=True)
class Say:
    actor: int
    text: str
    extra: Any = None  # None: typed text (clientExtra {}); anything else is sent as clientExtra


@dataclass(frozen=True)
class Tap:
    actor: int
    index: int  # into the quick replies of the actor's last reply, modulo their number


@dataclass(frozen=True)
class Proceed:
    actor: int
    index: int  # like Tap, among the quick replies that do not leave or go back (그만, 이전) ...
    times: int  # ... this many times in a row: what gets a person through a survey


@dataclass(frozen=True)
class Forge:
    actor: int
    index: int  # the offered quick reply whose messageText is sent ...
    key: str  # ... with this key of its extra set to `value` (or removed, for DROP)
    value: Any


@dataclass(frozen=True)
class ForgeOption:
    actor: int
    index: int  # an offered option (a quick reply whose extra has "o"), sent with "o" = value
    value: Any


@dataclass(frozen=True)
class Join:
    actor: int
    survey: int  # index into the surveys this script published


@dataclass(frozen=True)
class Command:
    actor: int
    word: str
    survey: int  # index into the surveys this script published


@dataclass(frozen=True)
class Again:
    actor: int  # the actor's previous message once more: a double tap


@dataclass(frozen=True)
class SurveySpec:
    title: str
    questions: tuple[tuple[str, str, tuple[str, ...]], ...]  # (kind, title, options)
    deadline: str | None
    anonymous: bool

    def message(self) -> str:
        """The one-message form of the README."""
        lines = [f"설문만들기 {self.title}"]
        for kind, title, options in self.questions:
            multi = " (복수)" if kind == "multi" else ""
            choices = f" / {', '.join(options)}" if kind != "text" else ""
            lines.append(f"Q {title}{multi}{choices}")
        if self.deadline:
            lines.append(f"마감 {self.deadline}")
        if self.anonymous:
            lines.append("익명")
        return "\n".join(lines)


@dataclass(frozen=True)
class Script:
    surveys: tuple[SurveySpec, ...]
    names: tuple[str, ...]
    steps: tuple[Any, ...]


# --- strategies ---------------------------------------------------------------------------------

OPTION_POOL = [
    "참석", "불참", "한식", "중식", "양식", "예", "아니오", "1", "2", "10", "A", "🍕 피자", "다음",
    "이전", "건너뛰기", "제출", "그만", "기타", "1 3", "가" * 50,
]  # fmt: skip
QUESTION_TITLES = ["참석하시나요?", "선호 메뉴", "건의사항", "다음 주 일정", "🙂 기분은?", "x" * 200]
# The test clock is 2026-11-25 12:00 in Korea: every deadline lies ahead of it.
DEADLINES = ["2026-12-10 18:00", "2027-01-01", "2026-11-25 12:01", "2030-02-28 23:59", None]
NAMES = [
    "홍길동", "이회원", "Kim", "김 철수", "🙂", "가" * 30, "a" * 31, "x\x00y", "\u200b",
    "\u202e관리자", "관리자", "김관리", "제출", "1",
]  # fmt: skip

questions = st.tuples(
    st.sampled_from(KINDS),
    st.sampled_from(QUESTION_TITLES),
    st.lists(st.sampled_from(OPTION_POOL), min_size=2, max_size=10, unique=True).map(tuple),
).map(lambda q: (q[0], q[1], () if q[0] == "text" else q[2]))
surveys = st.builds(
    SurveySpec,
    title=st.sampled_from(["송년회", "🙂 설문", "y" * 50, "다음 주 회의"]),
    questions=st.lists(questions, min_size=1, max_size=5).map(tuple),
    deadline=st.sampled_from(DEADLINES),
    anonymous=st.booleans(),
)
# Lists, not st.text: some pieces (👍🏽) are more than one code point. No lone surrogates: they
# cannot be sent as UTF-8, so Kakao never delivers one.
random_text = st.lists(st.sampled_from(CHARS) | st.characters(codec="utf-8"), max_size=12).map(
    "".join
)
long_text = st.builds(
    lambda head, piece, count: head + piece * count,
    st.sampled_from(["", "등록 ", "다음 ", "결과 ", "참여 1 ", "1,", "건너뛰기 "]),
    st.sampled_from(["가", "a", "🙂", "\u200b", "1,", "가 ", "\x00", "\n"]),
    st.integers(0, 600) | st.sampled_from([499, 500, 501]),
)
texts = st.sampled_from(TYPED) | random_text | long_text
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 12),
    st.integers(),
    st.sampled_from([2**31, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(codec="utf-8"), max_size=6),
    st.sampled_from(PAGED_COMMANDS),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(st.characters(codec="utf-8"), max_size=3), inner, max_size=3),
    max_leaves=4,
)
extra_keys = st.sampled_from(["o", "s", "q", "more", "page", "x", "", "O", "o "]) | st.text(
    st.characters(codec="utf-8"), max_size=4
)
extras = st.dictionaries(extra_keys, json_values, max_size=4)
# Kakao sends an object; an attacker sends anything.
odd_extras = extras | st.lists(json_scalars, max_size=2) | st.text(max_size=3) | st.integers()
actors = st.integers(0, 5)
refs = st.integers(0, 3)
indexes = st.integers(0, 9)

proceed = st.builds(Proceed, actors, indexes, st.integers(1, 8))
steps = st.one_of(
    st.just(Pause()),
    *[proceed] * 5,
    st.builds(Tap, actors, indexes),
    st.builds(Tap, actors, indexes),
    st.builds(Say, actors, st.sampled_from(NUMBERS)),
    st.builds(Say, actors, st.sampled_from(TYPED)),
    st.builds(Say, actors, st.sampled_from(TYPED)),
    st.builds(Say, actors, texts),
    st.builds(Say, actors, texts, odd_extras),
    st.builds(Join, actors, refs),
    st.builds(Join, actors, refs),
    st.builds(ForgeOption, actors, indexes, st.sampled_from(OPTION_VALUES) | json_values),
    st.builds(ForgeOption, actors, indexes, st.sampled_from(OPTION_VALUES)),
    st.builds(Forge, actors, indexes, extra_keys, json_values | st.just(DROP)),
    st.builds(Forge, actors, indexes, st.sampled_from(["s", "q", "more", "page"]), json_scalars),
    st.builds(Command, actors, st.sampled_from(ADMIN_WORDS), refs),
    st.builds(Again, actors),
)
scripts = st.builds(
    Script,
    surveys=st.lists(surveys, min_size=1, max_size=3).map(tuple),
    names=st.lists(st.sampled_from(NAMES) | random_text, min_size=1, max_size=4).map(tuple),
    # A minimum length keeps the volume up (lists average 8 elements otherwise).
    steps=st.lists(steps, min_size=MIN_STEPS, max_size=MAX_STEPS).map(Steps),
)
