"""The results page: what `결과 보기` opens, built as plain data and rendered by Jinja2.

Server-rendered, no JavaScript: KakaoTalk's in-app browser gets HTML and one stylesheet inlined
under a hash the Content-Security-Policy names. Bars are CSS classes (`w0`..`w100`) rather than
inline styles, which a strict policy would block. Jinja2 escapes every value; user-written text
never reaches the page any other way. Anonymous surveys follow the chat's rule (disclosure.py).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from jinja2 import Environment, PackageLoader, StrictUndefined

from surveybot.disclosure import results_hidden
from surveybot.domain import ANONYMOUS_RESULTS_MIN, KST, PendingPerson, QuestionKind, Results

TEXTS_PER_PAGE = 20
# Page n of the free texts reads the newest n x 20: past this the admin downloads the file.
TEXT_PAGES_MAX = 50
PENDING_SHOWN = 50
HIDDEN_NOTICE = (
    "익명 설문이라 보기별 결과와 자유 응답은 마감 후, 응답이 {n}명 이상일 때 볼 수 있습니다. "
    "그 전에 결과를 보여 주면 누가 무엇을 골랐는지 비교해 알 수 있기 때문입니다."
)
_WEEKDAYS = "월화수목금토일"


@dataclass(frozen=True, slots=True)
class OptionView:
    label: str
    count: int
    share: int  # percent of respondents, 0-100


@dataclass(frozen=True, slots=True)
class QuestionView:
    number: int
    title: str
    kind: str  # 하나 선택, 복수 선택, 자유 응답
    options: list[OptionView] = field(default_factory=list)
    text_count: int = 0
    texts: list[str] = field(default_factory=list)
    is_text: bool = False


@dataclass(frozen=True, slots=True)
class Links:
    """Relative URLs (same origin as the page, which the CSP allows); None: not offered."""

    chart: str | None = None
    csv: str | None = None
    xlsx: str | None = None


@dataclass(frozen=True, slots=True)
class PageView:
    survey_id: int
    title: str
    description: str
    state: str
    deadline: str
    anonymous: bool
    respondents: int
    population: int
    rate: int
    hidden_notice: str | None
    purged_notice: str | None  # the responses were purged (`surveybot purge`)
    questions: list[QuestionView]
    links: Links
    pending: list[PendingPerson] | None  # None: not shown (anonymous survey)
    pending_more: int  # people not answered beyond those listed
    text_page: int
    text_pages: bool  # some question has written texts: show the pager
    next_text_page: int | None
    generated_at: str


def kst_text(moment: datetime | None) -> str:
    """A moment as Korea time for people, e.g. 2026-12-10(목) 18:00."""
    if moment is None:
        return "없음"
    local = moment.astimezone(KST)
    return f"{local:%Y-%m-%d}({_WEEKDAYS[local.weekday()]}) {local:%H:%M}"


def build_view(
    found: Results,
    now: datetime,
    links: Links,
    *,
    pending: list[PendingPerson] | None,
    text_page: int = 1,
) -> PageView:
    """The page's data; what an anonymous survey may not show is left out here, not in HTML."""
    survey = found.survey
    hidden = results_hidden(survey, found.respondents, now)
    questions = [] if hidden else _questions(found, text_page)
    written = any(q.text_count for q in questions)
    shown_texts = (text_page - 1) * TEXTS_PER_PAGE + TEXTS_PER_PAGE
    more_texts = any(q.text_count > shown_texts for q in questions)
    listed = pending or []
    not_answered = max(found.population - found.respondents, 0)
    return PageView(
        survey_id=survey.id,
        title=survey.title,
        description=survey.description,
        state="진행 중" if survey.is_open(now) else "마감됨",
        deadline=kst_text(survey.deadline),
        anonymous=survey.anonymous,
        respondents=found.respondents,
        population=found.population,
        rate=found.respondents * 100 // found.population if found.population else 0,
        hidden_notice=HIDDEN_NOTICE.format(n=ANONYMOUS_RESULTS_MIN) if hidden else None,
        purged_notice=_purged(found),
        questions=questions,
        links=Links() if hidden else links,
        pending=pending,
        pending_more=max(not_answered - len(listed), 0) if pending is not None else 0,
        text_page=text_page,
        text_pages=written,
        next_text_page=text_page + 1 if more_texts and text_page < TEXT_PAGES_MAX else None,
        generated_at=kst_text(now),
    )


def _purged(found: Results) -> str | None:
    survey = found.survey
    if survey.purged_at is None:
        return None
    kept = "보기별 집계만 남아 있습니다." if survey.summary_kept else "남은 결과가 없습니다."
    return f"보존 기한이 지나 {kst_text(survey.purged_at)}에 응답을 파기했습니다. {kept}"


def _questions(found: Results, text_page: int) -> list[QuestionView]:
    views = []
    for index, question in enumerate(found.survey.questions):
        number = index + 1
        if question.kind is QuestionKind.TEXT:
            texts = found.latest_texts.get(index, [])[(text_page - 1) * TEXTS_PER_PAGE :]
            views.append(
                QuestionView(
                    number,
                    question.title,
                    "자유 응답",
                    text_count=found.text_counts.get(index, 0),
                    texts=texts[:TEXTS_PER_PAGE],
                    is_text=True,
                )
            )
            continue
        counts = found.counts.get(index, {})
        options = []
        for option_index, option in enumerate(question.options):
            count = counts.get(option_index, 0)
            share = count * 100 // found.respondents if found.respondents else 0
            options.append(OptionView(option, count, min(share, 100)))
        kind = "복수 선택" if question.kind is QuestionKind.MULTI else "하나 선택"
        views.append(QuestionView(number, question.title, kind, options=options))
    return views


@lru_cache(maxsize=1)
def _environment() -> Environment:
    # autoescape on for every template: each value is escaped unless a template says otherwise,
    # and none of ours do for user-written text.
    return Environment(
        loader=PackageLoader("surveybot", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@lru_cache(maxsize=1)
def stylesheet() -> str:
    """The page's CSS: the file, then the bar widths as classes."""
    css = _environment().loader.get_source(_environment(), "results.css")[0]  # type: ignore[union-attr]
    widths = "".join(f".w{n}{{width:{n}%}}" for n in range(101))
    return css + widths + "\n"


def content_security_policy() -> str:
    """Nothing but this page's own stylesheet and same-origin images; no script at all."""
    digest = base64.b64encode(hashlib.sha256(stylesheet().encode()).digest()).decode()
    return (
        "default-src 'none'; img-src 'self'; "
        f"style-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )


def render_page(view: PageView) -> str:
    """The results page as HTML."""
    return _environment().get_template("results.html").render(view=view, css=stylesheet())


def render_error(status_text: str, message: str) -> str:
    """A short page for a link that cannot be honoured (expired, forged, no longer allowed)."""
    return (
        _environment()
        .get_template("error.html")
        .render(status=status_text, message=message, css=stylesheet())
    )
