"""HTTP resources: thin responders over the bot, the store and the export writer."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterator
from datetime import datetime

import falcon
import msgspec

from surveybot.conversation.bot import Bot
from surveybot.domain import Survey
from surveybot.export import content_disposition, csv_chunks
from surveybot.kakao.reply import error_reply
from surveybot.kakao.request import BadRequest, decode_request
from surveybot.store.base import Store, StoreUnavailable
from surveybot.tokens import TokenExpired, TokenInvalid, verify_export_token

log = logging.getLogger("surveybot.http")

APOLOGY = "죄송합니다. 잠시 문제가 생겼어요. 조금 뒤에 다시 보내 주세요."


class SkillResource:
    """POST /skill: Open Builder's skill call."""

    def __init__(self, bot: Bot, *, secret: str | None, secret_header: str, max_body: int) -> None:
        self._bot = bot
        self._secret = secret.encode() if secret else None
        self._secret_header = secret_header
        self._max_body = max_body

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._authenticate(req)
        request = decode_request(read_body(req, self._max_body))
        req.context.outcome = "ok"
        try:
            payload = self._bot.handle(request).to_dict()
        except StoreUnavailable as error:
            req.context.outcome = "apology_unavailable"
            log.warning(
                "database unavailable",
                extra={"request_id": req.context.request_id, "error": str(error)},
            )
            payload = error_reply(APOLOGY)
        except Exception:
            req.context.outcome = "apology_error"
            # Kakao shows the user nothing for a 500: answer 200 with an apology instead.
            log.exception(
                "failed to handle a skill request", extra={"request_id": req.context.request_id}
            )
            payload = error_reply(APOLOGY)
        resp.data = msgspec.json.encode(payload)
        resp.content_type = falcon.MEDIA_JSON

    def _authenticate(self, req: falcon.Request) -> None:
        if self._secret is None:
            return
        given = (req.get_header(self._secret_header) or "").encode()
        # Constant-time: the header is a password shared with Kakao.
        if not hmac.compare_digest(given, self._secret):
            raise falcon.HTTPUnauthorized(
                title="Unauthorized", description="Missing or wrong skill secret."
            )


def read_body(req: falcon.Request, limit: int) -> bytes:
    """The request body, refusing a wrong content type or one over `limit` bytes."""
    content_type = (req.content_type or "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise falcon.HTTPUnsupportedMediaType(description="Send application/json.")
    if req.content_length is not None and req.content_length > limit:
        raise falcon.HTTPContentTooLarge(description=f"The body is over {limit} bytes.")
    # Read one byte past the limit so a chunked body without a length is caught too.
    body = req.bounded_stream.read(limit + 1)
    if len(body) > limit:
        raise falcon.HTTPContentTooLarge(description=f"The body is over {limit} bytes.")
    return body


def bad_request(
    req: falcon.Request, resp: falcon.Response, error: BadRequest, params: object
) -> None:
    raise falcon.HTTPError(
        falcon.code_to_http_status(error.status), title="Bad request", description=error.message
    )


class HealthResource:
    """GET /healthz: the process answers."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"status": "ok"}


class ReadyResource:
    """GET /readyz: the database answers."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        try:
            self._store.ping()
        except StoreUnavailable:
            resp.status = falcon.HTTP_503
            resp.media = {"status": "database unavailable"}
            return
        resp.media = {"status": "ok"}


class ExportResource:
    """GET /exports/{token}: the results file behind a signed, expiring link."""

    def __init__(self, store: Store, secret_key: bytes, now: Callable[[], datetime]) -> None:
        self._store = store
        self._secret_key = secret_key
        self._now = now

    def on_get(self, req: falcon.Request, resp: falcon.Response, token: str) -> None:
        now = self._now()
        try:
            claim = verify_export_token(self._secret_key, token, now.timestamp())
        except TokenExpired:
            raise falcon.HTTPGone(
                description="This download link has expired. Ask the bot again."
            ) from None
        except TokenInvalid:
            raise falcon.HTTPForbidden(description="This download link is not valid.") from None
        user = self._store.get_user(claim.user_id)
        # The role is checked again: a link made by an admin who was since demoted is dead.
        if user is None or not user.is_admin:
            raise falcon.HTTPForbidden(description="This download link is no longer allowed.")
        survey = self._store.get_survey(claim.survey_id)
        if survey is None:
            raise falcon.HTTPGone(description="The survey was deleted.")
        resp.content_type = "text/csv; charset=utf-8"
        resp.set_header("Content-Disposition", content_disposition(survey, now))
        resp.set_header("Cache-Control", "no-store")
        resp.stream = _stream_csv(self._store, survey)


def _stream_csv(store: Store, survey: Survey) -> Iterator[bytes]:
    # The connection is held only while the server pulls chunks; closing the iterator frees it.
    with store.export_rows(survey.id) as rows:
        yield from csv_chunks(survey, rows)


def store_unavailable(
    req: falcon.Request, resp: falcon.Response, error: StoreUnavailable, params: object
) -> None:
    log.warning(
        "database unavailable", extra={"request_id": req.context.request_id, "error": str(error)}
    )
    raise falcon.HTTPServiceUnavailable(description="The database is not available right now.")


def unexpected(
    req: falcon.Request, resp: falcon.Response, error: Exception, params: object
) -> None:
    if isinstance(error, falcon.HTTPError):
        raise error
    log.exception("unexpected error", extra={"request_id": req.context.request_id})
    raise falcon.HTTPInternalServerError()
