"""Overload shedding: a /skill request that waited too long for a worker gets the short busy reply
before the bot runs, so it writes nothing; nginx stamps every request with the time it sent it.

The real path: nginx and a gunicorn node of the native stack (devstack), replies checked with the
independent checker (devstack.openbuilder). No timing is asserted: "waited too long" is a stamp
ten seconds old, twenty times SHED_AFTER_MS.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import falcon.testing
import pytest
import requests

from devstack.openbuilder import assert_valid_reply, reply_text
from devstack.stack import Stack, StackConfig
from support.chat_helper import payload
from support.stack_fixtures import require_nginx
from surveybot.app import create_app
from surveybot.config import Config
from surveybot.domain import utcnow
from surveybot.kakao.reply import BUSY
from surveybot.resources import queued_ms
from surveybot.store.base import Store

SHED_AFTER_MS = 500


def _stamp(seconds_ago: float) -> str:
    """An X-Request-Start header as nginx writes it ($msec), `seconds_ago` in the past."""
    return f"t={time.time() - seconds_ago:.3f}"


# --- the parser and the responder (unit, falcon's test client) -------------------------------------


NOW = 1_700_000_005.0


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("t=1700000000.000", 5000.0),  # nginx's $msec: seconds with milliseconds
        ("1700000000.5", 4500.0),  # without t=
        ("t=1700000004000", 1000.0),  # milliseconds
        ("t=1700000004500000", 500.0),  # microseconds
        ("t=1700000009.0", 0.0),  # a clock a little ahead: no wait, never a negative one
        ("", None),
        ("t=", None),
        ("t=soon", None),
        ("t=nan", None),
        ("t=-5", None),
    ],
)
def test_queued_ms_reads_the_stamps_proxies_write(header: str, expected: float | None) -> None:
    found = queued_ms(header, NOW)
    assert found == (pytest.approx(expected) if expected is not None else None)


def _client(store: Store, shed_after_ms: int) -> falcon.testing.TestClient:
    config = Config(environment="development", shed_after_ms=shed_after_ms)
    return falcon.testing.TestClient(create_app(config, store))


def _post(client: falcon.testing.TestClient, text: str, stamp: str | None) -> dict[str, Any]:
    headers = {"X-Request-Start": stamp} if stamp else {}
    result = client.simulate_post("/skill", json=payload("late-user", text), headers=headers)
    assert result.status_code == 200
    body: dict[str, Any] = result.json
    assert_valid_reply(body)
    return body


def _user(store: Store) -> object:
    return store.load_context("late-user", utcnow()).user


def test_a_late_request_is_answered_busy_and_writes_nothing(sqlite_store: Store) -> None:
    client = _client(sqlite_store, SHED_AFTER_MS)
    late = _post(client, "등록 지각생", _stamp(10))
    assert reply_text(late) == BUSY
    assert _user(sqlite_store) is None  # the bot never saw it
    # The same message on time registers, and the metrics count the shed reply as such.
    assert "지각생" in reply_text(_post(client, "등록 지각생", _stamp(0)))
    assert _user(sqlite_store) is not None
    metrics = client.simulate_get("/metrics").text
    assert 'surveybot_replies_total{outcome="shed"} 1.0' in metrics


def test_shedding_off_serves_every_request(sqlite_store: Store) -> None:
    client = _client(sqlite_store, 0)
    assert "지각생" in reply_text(_post(client, "등록 지각생", _stamp(10)))


def test_a_stamp_from_a_clock_far_off_is_not_a_queue(sqlite_store: Store) -> None:
    client = _client(sqlite_store, SHED_AFTER_MS)
    assert "지각생" in reply_text(_post(client, "등록 지각생", _stamp(3600)))


# --- the real path: nginx and gunicorn -------------------------------------------------------------


@pytest.fixture(scope="module")
def stack(module_stack_folder: Path) -> Iterator[Stack]:
    require_nginx()
    config = StackConfig(
        nodes=1, workers=1, db="sqlite", log_level="WARNING",
        env={"SHED_AFTER_MS": str(SHED_AFTER_MS)},
    )  # fmt: skip
    with Stack.up(config, module_stack_folder) as running:
        yield running


def _say(url: str, user: str, text: str, stamp: str | None = None) -> dict[str, Any]:
    headers = {"X-Request-Start": stamp} if stamp else {}
    response = requests.post(f"{url}/skill", json=payload(user, text), headers=headers, timeout=6)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert_valid_reply(body)
    return body


def _registered(stack: Stack, user: str) -> bool:
    return bool(stack.psql("SELECT count(*) FROM users WHERE user_key = %s", (user,))[0][0])


@pytest.mark.system
def test_gunicorn_sheds_a_request_that_waited_too_long(stack: Stack) -> None:
    node = stack.nodes[0]
    # Straight to the node: only there can a test put a request's start in the past.
    late = _say(node.url, "shed-1", "등록 늦은사람", _stamp(10))
    assert reply_text(late) == BUSY
    assert not _registered(stack, "shed-1")
    assert "늦은사람" in reply_text(_say(node.url, "shed-1", "등록 늦은사람", _stamp(0)))
    assert _registered(stack, "shed-1")


@pytest.mark.system
def test_nginx_stamps_each_request_itself(stack: Stack) -> None:
    # A client's own stamp (here: very old) is replaced by the time nginx sent the request on,
    # so through nginx the request is served, and only a real wait in the queue can shed it.
    reply = _say(stack.url, "shed-2", "등록 제때온사람", _stamp(10))
    assert "제때온사람" in reply_text(reply)
    assert _registered(stack, "shed-2")
    late = _say(stack.nodes[0].url, "shed-3", "등록 늦은사람", _stamp(10))
    assert reply_text(late) == BUSY  # the same header straight to the node is shed
