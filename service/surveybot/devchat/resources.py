"""The /dev/chat resources: the page and its two files, its settings, and the send endpoint."""

from __future__ import annotations

import io
import json
import sys
import time
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import urlsplit
from wsgiref.util import setup_testing_defaults

import falcon

from surveybot.kakao.limits import validate_reply
from surveybot.kakao.payload import TEXT_INPUT, build_payload
from surveybot.resources import read_body

STATIC = resources.files("surveybot.devchat") / "static"
ASSETS = {
    "chat.js": "text/javascript; charset=utf-8",
    "chat.css": "text/css; charset=utf-8",
}
# No inline script or style at all: even markup that slipped into the page could not run.
# Images may come from anywhere over http(s): the bot's cards point at PUBLIC_BASE_URL.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' http: https: data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# Two people to switch between; any other key can be typed on the page.
PRESETS = (
    {"role": "member", "label": "회원", "key": "dev-member"},
    {"role": "admin", "label": "관리자", "key": "dev-admin"},
)
USER_KEY_MAX = 70  # a botUserKey is at most 70 characters
TRIGGERS = frozenset(
    {TEXT_INPUT, "QUICKREPLY_BUTTON_MESSAGE", "QUICKREPLY_BUTTON_BLOCK", "CARD_BUTTON_MESSAGE",
     "CARD_BUTTON_BLOCK", "LIST_ITEM_MESSAGE", "LIST_ITEM_BLOCK"}
)  # fmt: skip
BODY_EXCERPT = 2000

App = falcon.App[falcon.Request, falcon.Response]


def add_dev_chat(
    app: App,
    *,
    secret: str | None,
    secret_header: str,
    admin_code: bool,
    max_body: int,
) -> None:
    """Serve the simulator on `app` (development only: the caller decides)."""
    headers = {secret_header: secret} if secret else {}
    settings = {
        "presets": PRESETS,
        "adminCode": admin_code,
        "secretInjected": bool(secret),
        "userKeyMax": USER_KEY_MAX,
    }
    app.add_route("/dev/chat", ChatPage())
    app.add_route("/dev/chat/settings.json", ChatSettings(settings))
    app.add_route("/dev/chat/send", ChatSend(InProcessSkill(app, "/skill", headers), max_body))
    app.add_route("/dev/chat/{name}", ChatAsset())


def _static_headers(resp: falcon.Response) -> None:
    resp.set_header("Content-Security-Policy", CSP)
    resp.set_header("X-Content-Type-Options", "nosniff")
    resp.set_header("Referrer-Policy", "no-referrer")
    # A development tool changes with the code under it: never serve a stale copy.
    resp.set_header("Cache-Control", "no-store")


class ChatPage:
    """GET /dev/chat: the chat room."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        _static_headers(resp)
        resp.content_type = "text/html; charset=utf-8"
        resp.data = (STATIC / "index.html").read_bytes()


class ChatAsset:
    """GET /dev/chat/chat.js and chat.css; nothing else."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        if name not in ASSETS:
            raise falcon.HTTPNotFound()
        _static_headers(resp)
        resp.content_type = ASSETS[name]
        resp.data = (STATIC / name).read_bytes()


class ChatSettings:
    """GET /dev/chat/settings.json: the preset users and what the page should tell about them."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self._settings = settings

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.set_header("Cache-Control", "no-store")
        resp.media = self._settings


@dataclass(frozen=True, slots=True)
class Message:
    """What the page asks to send: typed text, or a tap on something carrying `extra`."""

    user: str
    utterance: str
    extra: dict[str, Any]
    trigger: str | None


class ChatSend:
    """POST /dev/chat/send: build the Open Builder request, pass it through POST /skill, and
    answer with the request, the HTTP status, the reply and the Kakao limits it breaks."""

    def __init__(self, skill: InProcessSkill, max_body: int) -> None:
        self._skill = skill
        self._max_body = max_body

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        _same_origin(req)
        # read_body insists on application/json: a form on another site cannot send that
        # without a CORS preflight, which nothing here answers.
        message = parse_message(read_body(req, self._max_body))
        payload = build_payload(
            message.user, message.utterance, message.extra, trigger=message.trigger,
            test_panel=True,  # as `surveybot chat`: the admin centre's test panel
        )  # fmt: skip
        started = time.perf_counter()
        status, body = self._skill.post(payload, req.context.request_id)
        elapsed_ms = round((time.perf_counter() - started) * 1000)
        reply = _json_object(body)
        problems: list[str] = []
        if status == 200:
            problems = validate_reply(reply) if reply is not None else ["reply: not JSON"]
        resp.set_header("Cache-Control", "no-store")
        resp.media = {
            "request": payload,
            "status": status,
            "reply": reply,
            "body": None if reply is not None else body.decode("utf-8", "replace")[:BODY_EXCERPT],
            "problems": problems,
            "elapsedMs": elapsed_ms,
        }


def parse_message(body: bytes) -> Message:
    """The page's request, checked; HTTP 400 naming what is wrong."""
    try:
        data = json.loads(body)
    except ValueError:
        raise falcon.HTTPBadRequest(description="Send a JSON object.") from None
    if not isinstance(data, dict):
        raise falcon.HTTPBadRequest(description="Send a JSON object.")
    user, utterance = data.get("user"), data.get("utterance")
    extra, trigger = data.get("extra") or {}, data.get("trigger")
    if not isinstance(user, str) or not 0 < len(user.strip()) <= USER_KEY_MAX:
        raise falcon.HTTPBadRequest(description=f"user: 1 to {USER_KEY_MAX} characters.")
    if not isinstance(utterance, str) or not utterance.strip():
        raise falcon.HTTPBadRequest(description="utterance: a non-empty string.")
    if not isinstance(extra, dict):
        raise falcon.HTTPBadRequest(description="extra: an object.")
    if trigger is not None and trigger not in TRIGGERS:
        raise falcon.HTTPBadRequest(description="trigger: an Open Builder trigger type.")
    return Message(user.strip(), utterance, extra, trigger)


def _same_origin(req: falcon.Request) -> None:
    # The endpoint adds the skill secret: only the page served here may use it.
    origin = req.get_header("Origin")
    if origin is not None and urlsplit(origin).netloc != req.netloc:
        raise falcon.HTTPForbidden(description="Only the /dev/chat page may send.")


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class InProcessSkill:
    """POST a request to the app's own /skill without a socket: the same middleware, secret
    check, limits and error handling as a call from Kakao, and no second worker to wait for."""

    def __init__(self, app: App, path: str, headers: dict[str, str]) -> None:
        self._app = app
        self._path = path
        self._headers = headers

    def post(self, payload: dict[str, Any], request_id: str) -> tuple[int, bytes]:
        """Return the status and body of the app's answer to `payload`."""
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": self._path,
            "CONTENT_TYPE": "application/json;charset=UTF-8",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "HTTP_X_REQUEST_ID": request_id,  # the log lines of both requests share it
        }
        for name, value in self._headers.items():
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        setup_testing_defaults(environ)
        started: list[str] = []

        def start_response(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            started.append(status)
            return lambda data: None

        result = self._app(environ, start_response)
        try:
            data = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return int(started[-1].split()[0]), data
