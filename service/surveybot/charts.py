"""The results chart: choice questions as Korean-labelled bar charts, an 800x400 PNG.

`결과 n` only computes the chart's URL (a token naming the survey and a fingerprint of its counts,
so the URL changes whenever the counts do and Kakao, which caches images by URL, fetches anew).
The image is drawn when the URL is fetched, on one render thread per worker, with matplotlib's
object API (no pyplot: no global figure state in a server), and kept per (survey, fingerprint):
a repeated `결과` costs a cache hit. A render that fails or takes longer than the timeout gives
the caller ChartUnavailable (the HTTP layer answers 503/500); the chat reply carries the text.

The font is NanumGothic from the koreanize-matplotlib wheel (only the file is used: importing
that package would change matplotlib's global settings).
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from surveybot.disclosure import results_hidden
from surveybot.domain import QuestionKind, Results
from surveybot.tokens import sign_chart_token

WIDTH, HEIGHT = 800, 400  # 2:1, a basicCard thumbnail's ratio
DPI = 100
MAX_QUESTIONS = 4  # one chart; the results page shows every question
# Kakao fetches the image once and caches it by URL; a day covers a reply scrolled back to later.
CHART_TTL_SECONDS = 86_400
RENDER_TIMEOUT_SECONDS = 3.0
CACHE_SIZE = 64  # PNGs per worker, 20-60 KB each
FONT_PACKAGE = "koreanize_matplotlib"
FONT_FILES = ("NanumGothic.ttf", "NanumGothicBold.ttf")
BAR_COLOR = "#3b6fd1"


class ChartUnavailable(Exception):
    """The chart could not be drawn in time (or at all)."""


@lru_cache(maxsize=1)
def font_paths() -> tuple[Path, Path] | None:
    """The regular and bold Korean font files, or None when the font package is missing."""
    spec = importlib.util.find_spec(FONT_PACKAGE)  # finds the package without running it
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "fonts"
    regular, bold = (folder / name for name in FONT_FILES)
    return (regular, bold) if regular.is_file() and bold.is_file() else None


@lru_cache(maxsize=1)
def available() -> bool:
    """Whether charts can be drawn here: matplotlib and the Korean font are installed."""
    return font_paths() is not None and importlib.util.find_spec("matplotlib") is not None


def charted_questions(found: Results) -> list[int]:
    """The indexes of the choice questions the chart shows, at most MAX_QUESTIONS."""
    survey = found.survey
    indexes = [i for i, q in enumerate(survey.questions) if q.kind is not QuestionKind.TEXT]
    return indexes[:MAX_QUESTIONS]


def chart_path(secret_key: bytes, found: Results, now: datetime) -> str | None:
    """The signed path of the chart of `found`, or None when there is nothing it may show."""
    survey = found.survey
    if not available() or not charted_questions(found):
        return None
    if results_hidden(survey, found.respondents, now):
        return None
    # The expiry is rounded up to the end of the next whole TTL period, so the URL of the same
    # counts stays the same for a while (Kakao's cache is hit) and lives one to two TTLs.
    expires = (int(now.timestamp()) // CHART_TTL_SECONDS + 2) * CHART_TTL_SECONDS
    return f"/charts/{sign_chart_token(secret_key, survey.id, fingerprint(found), expires)}.png"


def fingerprint(found: Results) -> int:
    """A 64-bit digest of everything the chart draws: equal counts, equal image, equal URL."""
    survey = found.survey
    drawn: list[Any] = [survey.id, survey.title, found.respondents]
    for index in charted_questions(found):
        question = survey.questions[index]
        counts = found.counts.get(index, {})
        options = [[option, counts.get(i, 0)] for i, option in enumerate(question.options)]
        drawn.append([index, question.title, options])
    canonical = json.dumps(drawn, ensure_ascii=False, separators=(",", ":")).encode()
    return int.from_bytes(hashlib.sha256(canonical).digest()[:8], "big")


def render_png(found: Results) -> bytes:
    """Draw the chart of `found` as an 800x400 PNG."""
    # Imported here: a worker that never draws a chart never pays for matplotlib.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

    paths = font_paths()
    if paths is None:
        raise ChartUnavailable("the Korean font is not installed")
    regular, bold = (str(path) for path in paths)
    shown = charted_questions(found)
    figure = Figure(figsize=(WIDTH / DPI, HEIGHT / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    survey = found.survey
    heading = f"{_clip(survey.title, 40)} · 응답 {found.respondents}명"
    hidden = len([q for q in survey.questions if q.kind is not QuestionKind.TEXT]) - len(shown)
    if hidden > 0:
        heading += f" (외 {hidden}개 질문은 결과 보기에서)"
    # Sizes for a thumbnail: the card shows the 800 px image at about a third on a phone screen.
    figure.suptitle(_safe(heading), fontproperties=FontProperties(fname=bold, size=16))
    columns = 1 if len(shown) == 1 else 2
    rows = (len(shown) + columns - 1) // columns
    axes = figure.subplots(rows, columns, squeeze=False).flat
    for ax, index in zip(axes, shown, strict=False):
        _draw_question(ax, found, index, regular, bold)
    for ax in list(axes)[len(shown) :]:
        ax.set_visible(False)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _draw_question(ax: Any, found: Results, index: int, regular: str, bold: str) -> None:
    from matplotlib.font_manager import FontProperties

    question = found.survey.questions[index]
    counts = found.counts.get(index, {})
    values = [counts.get(i, 0) for i in range(len(question.options))]
    size = 13 if len(values) <= 4 else 11 if len(values) <= 6 else 9
    label_font = FontProperties(fname=regular, size=size)
    positions = list(range(len(values)))[::-1]  # the first option on top
    ax.barh(positions, values, color=BAR_COLOR, height=0.6)
    labels = [_safe(_clip(option, 8)) for option in question.options]
    ax.set_yticks(positions, labels=labels, fontproperties=label_font)
    ax.set_xlim(0, max(max(values, default=0), 1) * 1.6)  # room for "12명 (34%)" at the end
    ax.set_xticks([])
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    for position, value in zip(positions, values, strict=True):
        share = value * 100 // found.respondents if found.respondents else 0
        ax.text(value, position, f" {value}명 ({share}%)", va="center", fontproperties=label_font)
    title = _safe(f"Q{index + 1}. {_clip(question.title, 22)}")
    ax.set_title(title, loc="left", fontproperties=FontProperties(fname=bold, size=14))


def _clip(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@lru_cache(maxsize=1)
def _charmap() -> frozenset[int]:
    from matplotlib.ft2font import FT2Font

    paths = font_paths()
    return frozenset(FT2Font(str(paths[0])).get_charmap()) if paths else frozenset()


def _safe(text: str) -> str:
    """Text matplotlib draws as written: no mathtext, no glyph the font lacks (no tofu boxes)."""
    known = _charmap()
    drawn = "".join(c if ord(c) in known or c == " " else "?" for c in text)
    return drawn.replace("$", r"\$")  # a '$' pair would start mathtext


Key = tuple[int, int]


class ChartRenderer:
    """Draws charts on one thread, at most once per (survey, fingerprint) while cached."""

    def __init__(
        self,
        render: Callable[[Results], bytes] = render_png,
        *,
        cache_size: int = CACHE_SIZE,
        timeout: float = RENDER_TIMEOUT_SECONDS,
    ) -> None:
        self._render = render
        self._cache_size = cache_size
        self._timeout = timeout
        self._cache: OrderedDict[Key, bytes] = OrderedDict()
        self._drawing: dict[Key, Future[bytes]] = {}
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    def png(self, found: Results) -> bytes:
        """The chart of `found`, from the cache or drawn now; ChartUnavailable past the timeout."""
        key = (found.survey.id, fingerprint(found))
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
            future = self._drawing.get(key)
            if future is None:
                # A twin request waits for the same drawing instead of starting another.
                future = self._pool().submit(self._draw, key, found)
                self._drawing[key] = future
        try:
            return future.result(timeout=self._timeout)
        except FutureTimeout:
            # The drawing goes on and lands in the cache: a retry a moment later gets it.
            raise ChartUnavailable(f"not drawn within {self._timeout} s") from None
        except ChartUnavailable:
            raise
        except Exception as error:
            raise ChartUnavailable(f"{type(error).__name__}: {error}") from error

    def warm_up(self) -> None:
        """Load matplotlib and the font on the render thread, so the first chart is quick."""
        if available():
            with self._lock:
                self._pool().submit(_warm)

    def _draw(self, key: Key, found: Results) -> bytes:
        try:
            png = self._render(found)
        finally:
            with self._lock:
                self._drawing.pop(key, None)
        with self._lock:
            self._cache[key] = png
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return png

    def _pool(self) -> ThreadPoolExecutor:
        # Created on first use, so in the worker after gunicorn's fork, never in the master.
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chart")
        return self._executor


def _warm() -> None:
    from matplotlib.figure import Figure

    Figure()
    _charmap()
