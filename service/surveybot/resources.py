"""HTTP resources: thin responders over the bot, the store and the export writer."""

from __future__ import annotations

import hmac
import logging
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, suppress
from datetime import datetime
from typing import Protocol, runtime_checkable

import falcon
import msgspec

from surveybot import audit
from surveybot.conversation.bot import Bot
from surveybot.disclosure import results_hidden
from surveybot.domain import Survey
from surveybot.export import content_disposition, csv_chunks
from surveybot.kakao.reply import APOLOGY as APOLOGY  # re-exported: the text users may see
from surveybot.kakao.reply import busy_reply, error_reply
from surveybot.kakao.request import BadRequest, decode_request
from surveybot.store.base import Store, StoreUnavailable, StoreUnreachable
from surveybot.tokens import TokenExpired, TokenInvalid, verify_export_token

log = logging.getLogger("surveybot.http")
BUSY_BODY = msgspec.json.encode(busy_reply())
APOLOGY_BODY = msgspec.json.encode(error_reply())
# Beyond this a request's start time says more about two clocks than about a queue: serve it.
QUEUE_SANE_MS = 60_000
SHED_LOG_EVERY_S = 10.0


class SkillResource:
    """POST /skill: Open Builder's skill call.

    Overload: nginx stamps each request with the time it sent it (X-Request-Start: t=<seconds>).
    A request that waited longer than `shed_after_ms` for a worker is answered at once with a
    short "send it again" reply, before the bot reads it: nothing is written, so no answer the
    user saw acknowledged can be lost, and the queue drains at the cost of a reply instead of a
    conversation step, inside Kakao's 5 s.
    """

    def __init__(
        self,
        bot: Bot,
        *,
        secret: str | None,
        secret_header: str,
        max_body: int,
        shed_after_ms: int = 0,
        clock: Callable[[], float] = time.time,
        database: DatabaseState | None = None,
    ) -> None:
        self._bot = bot
        self._database = database
        self._secret = secret.encode() if secret else None
        self._secret_header = secret_header
        self._max_body = max_body
        self._shed_after_ms = shed_after_ms
        self._clock = clock
        self._shed = 0
        self._shed_logged = 0.0

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self._authenticate(req)
        resp.content_type = falcon.MEDIA_JSON
        # Only a proxy that says it sends a 503 on to another node (ours: nginx/) gets one; any
        # other caller, Kakao itself included, gets the apology with HTTP 200.
        retry = self._database if req.get_header(RETRY_HEADER) == "503" else None
        if retry is not None and not retry.available():
            _retry_elsewhere(req, resp)
            return
        taken = retry.connections_taken() if retry is not None else 0
        if self._shed_after_ms and self._waited_too_long(req):
            req.context.outcome = "shed"
            resp.data = BUSY_BODY
            return
        request = decode_request(read_body(req, self._max_body))
        req.context.outcome = "ok"
        try:
            resp.data = self._bot.handle(request).to_json()
        except StoreUnavailable as error:
            if retry is not None and self._nothing_sent(error, taken):
                _retry_elsewhere(req, resp)
                return
            req.context.outcome = "apology_unavailable"
            log.warning(
                "database unavailable",
                extra={"request_id": req.context.request_id, "error": str(error)},
            )
            resp.data = APOLOGY_BODY
        except Exception:
            req.context.outcome = "apology_error"
            # Kakao shows the user nothing for a 500: answer 200 with an apology instead.
            log.exception(
                "failed to handle a skill request", extra={"request_id": req.context.request_id}
            )
            resp.data = APOLOGY_BODY

    def _nothing_sent(self, error: StoreUnavailable, taken: int) -> bool:
        """The database failed before this request got any connection: it read and wrote
        nothing, so another node may serve it."""
        return (
            isinstance(error, StoreUnreachable)
            and self._database is not None
            and self._database.connections_taken() == taken
        )

    def _waited_too_long(self, req: falcon.Request) -> bool:
        queued = queued_ms(req.get_header("X-Request-Start"), self._clock())
        if queued is None or not self._shed_after_ms < queued < QUEUE_SANE_MS:
            return False
        self._shed += 1
        now = time.monotonic()
        # One line per worker every few seconds: under overload a line per request would add
        # to the very load being shed.
        if now - self._shed_logged >= SHED_LOG_EVERY_S:
            log.warning(
                "overloaded: answered %d requests with the busy reply (this one waited %.0f ms)",
                self._shed, queued, extra={"request_id": req.context.request_id},
            )  # fmt: skip
            self._shed, self._shed_logged = 0, now
        return True

    def _authenticate(self, req: falcon.Request) -> None:
        if self._secret is None:
            return
        given = (req.get_header(self._secret_header) or "").encode()
        # Constant-time: the header is a password shared with Kakao.
        if not hmac.compare_digest(given, self._secret):
            raise falcon.HTTPUnauthorized(
                title="Unauthorized", description="Missing or wrong skill secret."
            )


# nginx/surveybot-locations.conf sends `X-Retry-Elsewhere: 503`: it passes such a 503 on to another
# node, and answers the apology itself when none is left.
RETRY_HEADER = "X-Retry-Elsewhere"


@runtime_checkable
class DatabaseState(Protocol):
    """What the skill needs to know of a database that can be down (the PostgreSQL store)."""

    def available(self) -> bool: ...

    def connections_taken(self) -> int: ...


def _retry_elsewhere(req: falcon.Request, resp: falcon.Response) -> None:
    """503: the database is down and this request read and wrote nothing, so nginx may send the
    POST to another node (and leaves this one out for a moment). The body is still a valid
    Kakao reply, should a proxy pass it through."""
    req.context.outcome = "unavailable_retry"
    resp.status = falcon.HTTP_503
    resp.set_header("Retry-After", "1")
    resp.data = APOLOGY_BODY


def queued_ms(header: str | None, now: float) -> float | None:
    """Milliseconds since the X-Request-Start stamp (`t=` seconds, milliseconds or microseconds
    since the epoch, as proxies write it), or None when there is no readable stamp."""
    if not header:
        return None
    try:
        stamp = float(header.strip().removeprefix("t="))
    except ValueError:
        return None
    if stamp != stamp or stamp <= 0:  # NaN or nonsense
        return None
    # nginx's $msec is seconds with a fraction; others send whole milliseconds or microseconds.
    seconds = stamp / 1e6 if stamp > 1e14 else stamp / 1e3 if stamp > 1e11 else stamp
    return max((now - seconds) * 1000, 0.0)


def read_body(req: falcon.Request, limit: int) -> bytes:
    """The request body, refusing a wrong content type or one over `limit` bytes."""
    content_type = (req.content_type or "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise falcon.HTTPUnsupportedMediaType(description="Send application/json.")
    if req.content_length is not None and req.content_length > limit:
        raise falcon.HTTPContentTooLarge(description=f"The body is over {limit} bytes.")
    # A chunked body has no Content-Length, and falcon's bounded_stream then reads nothing. A
    # server that decodes the chunks and ends wsgi.input with the body says so with
    # wsgi.input_terminated (gunicorn does): read that stream, never more than the limit.
    chunked = req.content_length is None and req.env.get("wsgi.input_terminated")
    # One byte past the limit tells a body at the limit from one over it.
    body = _read_up_to(req.stream if chunked else req.bounded_stream, limit + 1)
    if len(body) > limit:
        raise falcon.HTTPContentTooLarge(description=f"The body is over {limit} bytes.")
    return body


class _Readable(Protocol):
    def read(self, size: int, /) -> bytes: ...


def _read_up_to(stream: _Readable, size: int) -> bytes:
    # read(n) may return less than n before the end (PEP 3333 allows it): read until EOF or n.
    parts: list[bytes] = []
    while size > 0:
        part = stream.read(size)
        if not part:
            break
        parts.append(part)
        size -= len(part)
    return b"".join(parts)


def bad_request(
    req: falcon.Request, resp: falcon.Response, error: BadRequest, params: object
) -> None:
    raise falcon.HTTPError(
        falcon.code_to_http_status(error.status), title="Bad request", description=error.message
    )


class HealthResource:
    """GET /healthz: the process answers (liveness; says nothing about the database)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"status": "ok"}


# How long a /readyz verdict is reused: container checks, nginx and people may all ask, and a
# probe must not become load; a change shows within this long.
READY_CACHE_SECONDS = 1.0


class ReadyResource:
    """GET /readyz: this node can serve, its database answers (the container health check)."""

    def __init__(
        self,
        store: Store,
        cache_seconds: float = READY_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._verdict: tuple[float, bool] | None = None  # (when, ready)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if self._ready():
            resp.media = {"status": "ok"}
            return
        resp.status = falcon.HTTP_503
        resp.media = {"status": "database unavailable"}

    def _ready(self) -> bool:
        now = self._clock()
        if self._verdict is not None and now - self._verdict[0] < self._cache_seconds:
            return self._verdict[1]
        try:
            self._store.ping()
            ready = True
        except StoreUnavailable:
            ready = False
        self._verdict = (self._clock(), ready)
        return ready


def authorise_download(
    store: Store, secret_key: bytes, token: str, now: datetime, kind: str
) -> Survey:
    """The survey an export link may download now, its use recorded; else the HTTP error.

    Shared by the CSV and the .xlsx (results_web.py): one token, one set of rules.
    """
    try:
        claim = verify_export_token(secret_key, token, now.timestamp())
    except TokenExpired:
        raise falcon.HTTPGone(
            description="This download link has expired. Ask the bot again."
        ) from None
    except TokenInvalid:
        raise falcon.HTTPForbidden(description="This download link is not valid.") from None
    user = store.get_user(claim.user_id)
    # The role is checked again: a link made by an admin who was since demoted is dead.
    if user is None or not user.is_admin:
        raise falcon.HTTPForbidden(description="This download link is no longer allowed.")
    survey = store.get_survey(claim.survey_id)
    if survey is None:
        raise falcon.HTTPGone(description="The survey was deleted.")
    if survey.purged_at is not None:  # an empty file would pass for "nobody answered"
        raise falcon.HTTPGone(description="The answers to this survey were purged.")
    if survey.anonymous:
        found = store.results(survey.id, latest=0)
        if found is None or results_hidden(survey, found.respondents, now):
            raise falcon.HTTPForbidden(description="These results are not shown yet.")
    event = audit.Event(audit.Action.EXPORT_DOWNLOAD, audit.Target.SURVEY, survey.id, kind)
    store.record_audit(audit.by(user.id, audit.Via.WEB), event, now)
    return survey


class ExportResource:
    """GET /exports/{token}: the results file behind a signed, expiring link."""

    def __init__(self, store: Store, secret_key: bytes, now: Callable[[], datetime]) -> None:
        self._store = store
        self._secret_key = secret_key
        self._now = now

    def on_get(self, req: falcon.Request, resp: falcon.Response, token: str) -> None:
        now = self._now()
        survey = authorise_download(self._store, self._secret_key, token, now, "csv")
        resp.content_type = "text/csv; charset=utf-8"
        resp.set_header("Content-Disposition", content_disposition(survey, now))
        resp.set_header("Cache-Control", "no-store")
        resp.stream = CsvDownload.open(req, self._store, survey)


class CsvDownload:
    """The body of an export: every row, or a transfer visibly cut off; closing frees the database.

    The export is opened before the response starts, so a database that is down gets a clean 503.
    A failure after that comes when the status (200) and the first chunk are already out: the
    only honest signal left is to end the transfer without the final zero-length chunk, which
    every HTTP client reports as an incomplete body (a file that merely stops would pass for a
    complete, shorter one). It makes sure of that itself rather than trusting the server.
    """

    def __init__(self, req: falcon.Request, chunks: Iterator[bytes], export: ExitStack) -> None:
        self._req = req
        self._chunks = chunks
        self._export = export

    @classmethod
    def open(cls, req: falcon.Request, store: Store, survey: Survey) -> CsvDownload:
        export = ExitStack()
        rows = export.enter_context(store.export_rows(survey.id))
        return cls(req, csv_chunks(survey, rows), export)

    def __iter__(self) -> CsvDownload:
        return self

    def __next__(self) -> bytes:
        try:
            return next(self._chunks)
        except StopIteration:
            raise
        except Exception as error:
            self._abort(error)
            raise  # the server, too, must treat the response as failed

    def close(self) -> None:
        # The server calls this (PEP 3333) even when it never iterated, which is why this is a
        # class: a generator that never started could not give the connection back.
        self._export.close()

    def _abort(self, error: Exception) -> None:
        log.error(
            "export failed part-way; the download is cut off",
            extra={
                "request_id": self._req.context.request_id,
                "error": f"{type(error).__name__}: {error}",
            },
        )
        _cut_off(self._req)
        try:
            # The export learns of the error, so it rolls back rather than tries to commit.
            self._export.__exit__(type(error), error, error.__traceback__)
        except Exception:  # a broken connection may fail that too; the error is logged above
            log.debug("closing a failed export failed", exc_info=True)


def _cut_off(req: falcon.Request) -> None:
    """Shut the client's connection, so nothing more (no final chunk, no error page) reaches it."""
    # gunicorn's sync, gthread and gevent workers put the client socket here. gunicorn 27 itself
    # closes without the final chunk when the body fails, but a server that writes its 500 page
    # or the final chunk after the error would make the file look whole; after shutdown() every
    # later write fails instead. Under other servers (falcon's test client) the error still
    # propagates to them.
    sock = req.env.get("gunicorn.socket")
    if sock is not None:
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


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
