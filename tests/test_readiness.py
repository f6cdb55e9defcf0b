"""Readiness and the retryable 503: /readyz asks the database at most once a cache period, and
/skill answers 503 (which nginx may send to another node) only when the request read and wrote
nothing; otherwise the apology with HTTP 200."""

from __future__ import annotations

import json
from typing import Any

import falcon
import falcon.testing
import pytest

from devstack.openbuilder import assert_valid_reply, reply_texts
from support.chat_helper import payload
from surveybot.app import RequestId
from surveybot.resources import ReadyResource, SkillResource
from surveybot.store.base import StoreUnavailable, StoreUnreachable

pytestmark = pytest.mark.unit


class Pinged:
    """A store whose ping counts calls and fails while `down`."""

    def __init__(self) -> None:
        self.pings = 0
        self.down = False

    def ping(self) -> None:
        self.pings += 1
        if self.down:
            raise StoreUnavailable("down")


def test_readyz_asks_the_database_once_per_cache_period() -> None:
    store, now = Pinged(), [100.0]
    app = falcon.App()
    app.add_route("/readyz", ReadyResource(store, cache_seconds=1.0, clock=lambda: now[0]))  # type: ignore[arg-type]
    client = falcon.testing.TestClient(app)
    assert [client.simulate_get("/readyz").status_code for _ in range(5)] == [200] * 5
    assert store.pings == 1
    store.down = True
    assert client.simulate_get("/readyz").status_code == 200  # still the cached verdict
    now[0] += 1.5
    result = client.simulate_get("/readyz")
    assert result.status_code == 503 and result.json == {"status": "database unavailable"}
    assert store.pings == 2


class Database:
    """The skill's view of a database that can be down (PostgresStore in production)."""

    def __init__(self) -> None:
        self.up = True
        self.taken = 0

    def available(self) -> bool:
        return self.up

    def connections_taken(self) -> int:
        return self.taken


class Bot:
    """Fails as told: after taking `connections` connections, raise `error`."""

    def __init__(self, database: Database, connections: int, error: Exception) -> None:
        self.database, self.connections, self.error = database, connections, error
        self.calls = 0

    def handle(self, request: Any) -> Any:
        self.calls += 1
        self.database.taken += self.connections
        raise self.error


def _skill(database: Database, bot: Bot, proxy_retries: bool = True) -> falcon.testing.Result:
    resource = SkillResource(
        bot, secret=None, secret_header="X-Skill-Secret", max_body=65536,  # type: ignore[arg-type]
        database=database,
    )  # fmt: skip
    app = falcon.App(middleware=[RequestId()])
    app.add_route("/skill", resource)
    body = json.dumps(payload("u1", "메뉴"))
    headers = {"Content-Type": "application/json"}
    if proxy_retries:
        headers["X-Retry-Elsewhere"] = "503"  # what nginx/ sends
    return falcon.testing.TestClient(app).simulate_post("/skill", body=body, headers=headers)


def _apology(result: falcon.testing.Result) -> str:
    assert_valid_reply(result.json)  # a valid Kakao reply whatever the status
    return "\n".join(reply_texts(result.json))


def test_a_node_whose_database_is_down_answers_503_without_touching_it() -> None:
    database = Database()
    database.up = False
    bot = Bot(database, 0, RuntimeError("not called"))
    result = _skill(database, bot)
    assert result.status_code == 503 and result.headers["Retry-After"] == "1"
    assert "죄송합니다" in _apology(result)
    assert bot.calls == 0


@pytest.mark.parametrize(
    ("connections", "error", "status"),
    [
        (0, StoreUnreachable("down"), 503),  # found down before any connection: nothing sent
        (1, StoreUnreachable("down"), 200),  # a first statement ran: never sent again
        (0, StoreUnavailable("statement timeout"), 200),  # it may have reached the database
    ],
    ids=["unreachable-first", "unreachable-later", "unavailable"],
)
def test_only_a_request_that_sent_nothing_may_go_elsewhere(
    connections: int, error: Exception, status: int
) -> None:
    database = Database()
    result = _skill(database, Bot(database, connections, error))
    assert result.status_code == status
    assert "죄송합니다" in _apology(result)


def test_without_a_proxy_that_retries_the_answer_is_always_200() -> None:
    # Kakao itself, or another proxy: a 503 would show the user nothing.
    database = Database()
    database.up = False
    result = _skill(database, Bot(database, 0, StoreUnreachable("down")), proxy_retries=False)
    assert result.status_code == 200
    assert "죄송합니다" in _apology(result)
