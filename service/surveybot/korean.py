"""Korean particles that agree with the word before them: '건의'를, '송년회'를, 3번을, 'Kim'을.

A particle pair depends on whether the last sounded syllable ends in a consonant (받침): 을/를,
이/가, 은/는, 과/와, and 으로/로, which takes 로 after ㄹ too. Digits and Latin letters are read as
Koreans read them aloud (3 삼, 7 칠; L 엘, R 알).
"""

from __future__ import annotations

_HANGUL_FIRST, _HANGUL_LAST = 0xAC00, 0xD7A3
_RIEUL = 8  # index of ㄹ among the 28 final-consonant slots (0 = none)

# Final consonant slot of each digit's reading: 영 일 이 삼 사 오 육 칠 팔 구.
_DIGITS = {"0": 21, "1": 8, "2": 0, "3": 16, "4": 0, "5": 0, "6": 1, "7": 8, "8": 8, "9": 0}
# Latin letters whose Korean reading ends in a consonant: 엘, 엠, 엔, 알 (others end in a vowel).
_LETTERS = {"l": 8, "m": 16, "n": 4, "r": 8}
# Closing marks after which the particle still follows the word inside: '송년회'를, (3)을.
_TRAILING = "'\"’”)]}』」>》〉 .…!?"

PAIRS = {
    "을/를": ("을", "를"),
    "이/가": ("이", "가"),
    "은/는": ("은", "는"),
    "과/와": ("과", "와"),
    "으로/로": ("으로", "로"),
    "이에요/예요": ("이에요", "예요"),
}


def final_consonant(word: str) -> int | None:
    """The final-consonant slot (0 = none) of the last sounded character; None if unreadable."""
    stripped = word.rstrip(_TRAILING)
    if not stripped:
        return None
    last = stripped[-1]
    code = ord(last)
    if _HANGUL_FIRST <= code <= _HANGUL_LAST:
        return (code - _HANGUL_FIRST) % 28
    if last in _DIGITS:
        return _DIGITS[last]
    if last.isascii() and last.isalpha():
        return _LETTERS.get(last.lower(), 0)
    return None


def josa(word: str, pair: str) -> str:
    """`word` followed by the form of `pair` (e.g. "을/를") that agrees with it."""
    with_final, without = PAIRS[pair]
    final = final_consonant(word)
    if final is None:
        # Emoji or symbols: Korean writers use the consonant form in doubt for 으로; keep 를 etc.
        return word + (without if pair != "으로/로" else "로")
    if pair == "으로/로":
        return word + ("으로" if final not in (0, _RIEUL) else "로")
    return word + (with_final if final else without)


def quoted(word: str, pair: str) -> str:
    """'word' in single quotes, followed by the agreeing particle: quoted("건의", "을/를")."""
    return josa(f"'{word}'", pair)
