"""HTTP resources of issue 11: the results page, the chart image and the .xlsx download.

Each link carries its own signed token (tokens.py): a results-page or export token names the
admin, whose role is checked again on every use; a chart token names only the survey and the
counts it was offered for, because Kakao fetches images with no session (the image shows only
what the chat's `결과` shows). Anonymous surveys follow disclosure.py here as in the chat.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import datetime
from typing import IO

import falcon

from surveybot import charts
from surveybot.charts import ChartRenderer, ChartUnavailable, chart_path
from surveybot.disclosure import results_hidden
from surveybot.domain import Survey
from surveybot.export import content_disposition
from surveybot.resources import authorise_download
from surveybot.results_page import (
    PENDING_SHOWN,
    TEXT_PAGES_MAX,
    TEXTS_PER_PAGE,
    Links,
    build_view,
    content_security_policy,
    render_error,
    render_page,
)
from surveybot.store.base import Store
from surveybot.tokens import (
    TokenExpired,
    TokenInvalid,
    sign_export_token,
    verify_chart_token,
    verify_results_token,
)
from surveybot.xlsx_export import xlsx_file

log = logging.getLogger("surveybot.http")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# The chart of the counts its URL was made for does not change: caches may keep it a while.
CHART_CACHE_CONTROL = "public, max-age=3600"
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",  # the URL is a password: never send it on
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


def export_paths(secret_key: bytes, survey: Survey, user_id: int, expires: int) -> tuple[str, str]:
    """The CSV and .xlsx download paths of `survey` for `user_id` (one token serves both)."""
    token = sign_export_token(secret_key, survey.id, user_id, expires)
    return f"/exports/{token}", f"/exports/{token}.xlsx"


class ResultsPageResource:
    """GET /results/{token}: the results page of `결과 보기`."""

    def __init__(
        self,
        store: Store,
        secret_key: bytes,
        export_ttl_seconds: int,
        now: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._secret_key = secret_key
        self._export_ttl = export_ttl_seconds
        self._now = now

    def on_get(self, req: falcon.Request, resp: falcon.Response, token: str) -> None:
        now = self._now()
        resp.set_headers(PAGE_HEADERS)
        resp.set_header("Content-Security-Policy", content_security_policy())
        resp.content_type = falcon.MEDIA_HTML
        try:
            claim = verify_results_token(self._secret_key, token, now.timestamp())
        except TokenExpired:
            return _error(
                resp, falcon.HTTP_410, "링크가 만료되었습니다. 채팅에서 다시 '결과'를 보내 주세요."
            )
        except TokenInvalid:
            return _error(resp, falcon.HTTP_403, "올바른 링크가 아닙니다.")
        user = self._store.get_user(claim.user_id)
        # The role is checked again: a link made by an admin who was since demoted is dead.
        if user is None or not user.is_admin:
            return _error(resp, falcon.HTTP_403, "이 링크를 열 권한이 없습니다.")
        page = _page_number(req)
        found = self._store.results(claim.survey_id, latest=page * TEXTS_PER_PAGE)
        if found is None:
            return _error(resp, falcon.HTTP_410, "설문이 삭제되었습니다.")
        survey = found.survey
        pending = None
        # A purged survey (`surveybot purge`) no longer knows who took part: it lists nobody.
        if not survey.anonymous and survey.purged_at is None:
            pending = self._store.pending(survey.id, limit=PENDING_SHOWN)
        csv, xlsx = export_paths(
            self._secret_key, survey, user.id, int(now.timestamp()) + self._export_ttl
        )
        links = Links(chart_path(self._secret_key, found, now), csv, xlsx)
        people = None if pending is None else pending.people
        view = build_view(found, now, links, pending=people, text_page=page)
        resp.text = render_page(view)


def _page_number(req: falcon.Request) -> int:
    raw = req.get_param("page") or "1"
    # Anything but a small page number is read as the first page: a bad link still shows results.
    if not raw.isascii() or not raw.isdigit() or len(raw) > 3:
        return 1
    return min(max(int(raw), 1), TEXT_PAGES_MAX)


def _error(resp: falcon.Response, status: str, message: str) -> None:
    resp.status = status
    resp.text = render_error(status, message)


class ChartResource:
    """GET /charts/{token}.png: the chart image, authorised by its token alone (Kakao fetches it)."""

    def __init__(
        self,
        store: Store,
        secret_key: bytes,
        renderer: ChartRenderer,
        now: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._secret_key = secret_key
        self._renderer = renderer
        self._now = now

    def on_get(self, req: falcon.Request, resp: falcon.Response, token: str) -> None:
        now = self._now()
        try:
            claim = verify_chart_token(self._secret_key, token, now.timestamp())
        except TokenExpired:
            raise falcon.HTTPGone(description="This chart link has expired.") from None
        except TokenInvalid:
            raise falcon.HTTPForbidden(description="This chart link is not valid.") from None
        found = self._store.results(claim.survey_id, latest=0)
        if found is None:
            raise falcon.HTTPGone(description="The survey was deleted.")
        # Checked again at every fetch: what may be shown can only have narrowed since.
        if results_hidden(found.survey, found.respondents, now):
            raise falcon.HTTPForbidden(description="These results are not shown yet.")
        if not charts.charted_questions(found):
            raise falcon.HTTPNotFound()
        try:
            png = self._renderer.png(found)
        except ChartUnavailable as error:
            log.warning("chart not drawn: %s", error, extra={"request_id": req.context.request_id})
            raise falcon.HTTPServiceUnavailable(
                description="The chart could not be drawn.", retry_after=2
            ) from None
        # An old URL shows today's counts (better than a broken image in the chat); only the URL
        # of the current counts may be cached.
        current = charts.fingerprint(found) == claim.fingerprint
        resp.content_type = "image/png"
        resp.set_header("Cache-Control", CHART_CACHE_CONTROL if current else "no-store")
        resp.set_header("X-Content-Type-Options", "nosniff")
        resp.data = png

    # Some image fetchers ask first; falcon sends no body for HEAD (the PNG stays cached).
    on_head = on_get


class XlsxExportResource:
    """GET /exports/{token}.xlsx: the results workbook behind the same link as the CSV."""

    def __init__(self, store: Store, secret_key: bytes, now: Callable[[], datetime]) -> None:
        self._store = store
        self._secret_key = secret_key
        self._now = now

    def on_get(self, req: falcon.Request, resp: falcon.Response, token: str) -> None:
        now = self._now()
        survey = authorise_download(self._store, self._secret_key, token, now, "xlsx")
        found = self._store.results(survey.id, latest=0)
        if found is None:
            raise falcon.HTTPGone(description="The survey was deleted.")
        # Written whole before the response starts: a failure is a clean 500/503, never a
        # truncated file that Excel would call damaged.
        with self._store.export_rows(survey.id) as rows:
            workbook = xlsx_file(survey, rows, found, now)
        resp.content_type = XLSX_TYPE
        resp.set_header("Content-Disposition", content_disposition(survey, now, "xlsx"))
        resp.set_header("Cache-Control", "no-store")
        resp.set_stream(workbook, _size(workbook))


def _size(file: IO[bytes]) -> int:
    return os.fstat(file.fileno()).st_size


def add_results_routes(
    app: falcon.App[falcon.Request, falcon.Response],
    store: Store,
    secret_key: bytes,
    export_ttl_seconds: int,
    now: Callable[[], datetime],
    renderer: ChartRenderer | None = None,
) -> None:
    """Route the results page, the chart image and the .xlsx download."""
    app.add_route(
        "/results/{token}", ResultsPageResource(store, secret_key, export_ttl_seconds, now)
    )
    chart = ChartResource(store, secret_key, renderer or ChartRenderer(), now)
    app.add_route("/charts/{token}.png", chart)
    app.add_route("/exports/{token}.xlsx", XlsxExportResource(store, secret_key, now))
