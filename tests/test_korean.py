"""Particles agree with the word before them, in the helper and in every reply template."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from surveybot.korean import josa, quoted

PACKAGE = Path(__file__).resolve().parents[1] / "service" / "surveybot"


@pytest.mark.parametrize(
    ("word", "pair", "expected"),
    [
        ("'건의'", "을/를", "'건의'를"),
        ("'송년회'", "을/를", "'송년회'를"),
        ("'참석 조사'", "을/를", "'참석 조사'를"),
        ("'설문'", "은/는", "'설문'은"),
        ("'설문지'", "은/는", "'설문지'는"),
        ("'우리 팀'", "과/와", "'우리 팀'과"),
        ("'워크숍'", "과/와", "'워크숍'과"),
        ("'회의'", "과/와", "'회의'와"),
        ("김관리", "이/가", "김관리가"),
        ("홍길동", "이/가", "홍길동이"),
        ("관리자", "으로/로", "관리자로"),
        ("회원", "으로/로", "회원으로"),
        ("서울", "으로/로", "서울로"),  # ㄹ takes 로
        ("'삭제 3'", "을/를", "'삭제 3'을"),  # 삼
        ("'삭제 2'", "을/를", "'삭제 2'를"),  # 이
        ("'마감 1'", "으로/로", "'마감 1'로"),  # 일: ㄹ
        ("'마감 6'", "으로/로", "'마감 6'으로"),  # 육
        ("'마감 10'", "으로/로", "'마감 10'으로"),  # 영
        ("'Kim'", "을/를", "'Kim'을"),  # 엠
        ("'Lee'", "을/를", "'Lee'를"),
        ("'Paul'", "으로/로", "'Paul'로"),  # 엘
        ("(3)", "을/를", "(3)을"),
        ("🎉", "을/를", "🎉를"),
    ],
)
def test_particles_agree_with_the_last_sound(word: str, pair: str, expected: str) -> None:
    assert josa(word, pair) == expected


def test_quoted_puts_the_word_in_quotes() -> None:
    assert quoted("건의", "을/를") == "'건의'를"
    assert quoted("송년회 참석 조사", "은/는") == "'송년회 참석 조사'는"


# A placeholder (optionally closed by a quote) directly followed by a particle, or the hedged
# forms that write both: '{title}'을, {name}이, (으)로, 을(를).
HARD_CODED = re.compile(r"\}['\")]?(?:을|를|이|가|은|는|과|와|으로|로)(?![가-힣])")
HEDGED = re.compile(r"\((?:으|을|를|이|가|은|는|과|와)\)|(?:을|이|은|과)\((?:를|가|는|와)\)")


def reply_sources() -> list[Path]:
    return sorted(
        path
        for folder in ("conversation", "kakao")
        for path in (PACKAGE / folder).glob("*.py")
    ) + [PACKAGE / "resources.py"]


@pytest.mark.parametrize("path", reply_sources(), ids=lambda p: p.name)
def test_every_reply_template_picks_its_particle(path: Path) -> None:
    """A particle after a variable word goes through korean.josa, never written in by hand."""
    offending = [
        f"{path.name}:{number}: {line.strip()}"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if not line.lstrip().startswith("#") and (HARD_CODED.search(line) or HEDGED.search(line))
    ]
    assert offending == []
