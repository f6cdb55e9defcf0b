"""What the reminder tests share: the bot with reminders on, served over HTTP for the fake Kakao
to deliver to, a notifier on a test clock, and people in bulk."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import falcon
import falcon.testing

from devstack.fake_kakao import FakeKakao
from support.chat_helper import Clock
from surveybot.conversation.bot import Bot
from surveybot.conversation.context import Settings
from surveybot.domain import User
from surveybot.reminders.event_api import EventApi, SendResult
from surveybot.reminders.model import TaskResult
from surveybot.reminders.notifier import Api, Notifier, NotifierSettings
from surveybot.resources import SkillResource
from surveybot.store.base import Store

ADMIN_CODE = "open-sesame-42"
REST_API_KEY = "test-rest-api-key"
BOT_ID = "test-bot-id"
EVENT = "surveybot_reminder"


def reminder_app(store: Store, clock: Clock, enabled: bool = True) -> falcon.App[Any, Any]:
    """The skill as create_app wires it, with reminders on (Settings.reminders_enabled)."""
    settings = Settings(
        secret_key=b"reminder-tests-secret-key",
        public_base_url="https://bot.example.test",
        admin_code=ADMIN_CODE,
        reminders_enabled=enabled,
    )
    app = falcon.App()
    skill = SkillResource(
        Bot(store, settings, clock), secret=None, secret_header="X-Skill-Secret", max_body=65536
    )
    app.add_route("/skill", skill)
    return app


def reminder_client(store: Store, clock: Clock, enabled: bool = True) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(reminder_app(store, clock, enabled))


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class _ThreadedServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


@contextmanager
def skill_server(store: Store, clock: Clock) -> Iterator[str]:
    """The skill on a real port, for the fake Kakao to run the reminder block against."""
    server = make_server("127.0.0.1", 0, reminder_app(store, clock), _ThreadedServer, _Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/skill"
    finally:
        server.shutdown()
        server.server_close()


def fake_kakao(skill_url: str | None = None, hold: float = 5.0) -> FakeKakao:
    return FakeKakao(rest_api_key=REST_API_KEY, bot_id=BOT_ID, event_name=EVENT,
                     skill_url=skill_url, hold=hold)  # fmt: skip


def event_api(kakao: FakeKakao, timeout: float = 0.5) -> EventApi:
    return EventApi(kakao.url, REST_API_KEY, BOT_ID, EVENT, timeout=timeout)


class Recording:
    """An Event API client that notes the test clock's time of every send."""

    def __init__(self, api: EventApi, clock: Clock) -> None:
        self.api, self.clock = api, clock
        self.sent: list[datetime] = []

    def send(self, reminder_id: int, survey_id: int, user_keys: list[str]) -> SendResult:
        self.sent.append(self.clock())
        return self.api.send(reminder_id, survey_id, user_keys)

    def task(self, task_id: str) -> TaskResult | None:
        return self.api.task(task_id)


def notifier(store: Store, kakao: FakeKakao, clock: Clock, api: Api | None = None,
             **settings: Any) -> Notifier:  # fmt: skip
    """A notifier whose waiting moves the test clock instead of sleeping."""
    options = {"rate_per_second": 1000.0, "timeout": 0.5, "unknown_grace": 60.0, **settings}

    def wait(seconds: float) -> bool:
        clock.advance(seconds=seconds)
        return False

    api = api or event_api(kakao, options["timeout"])
    return Notifier(store, api, NotifierSettings(**options), wait=wait, now=clock,
                    rand=lambda: 0.5, worker="test")  # fmt: skip


def people(store: Store, count: int, prefix: str = "p") -> list[User]:
    """`count` registered people named p000, p001, ... (keys the same)."""
    found = []
    for i in range(count):
        result = store.register(f"{prefix}{i:03d}", f"{prefix}{i:03d}", None)
        assert result.user is not None
        found.append(result.user)
    return found
