"""The HTTP contract of /skill, /healthz, /readyz: bad input gets a clear answer, never a 500."""

from __future__ import annotations

import json
import logging

import falcon.testing
import pytest

from surveybot.app import create_app
from surveybot.config import Config
from surveybot.store import open_store
from surveybot.store.base import Store

from chat_helper import payload
from kakao_checks import assert_valid_reply, reply_texts

JSON = {"Content-Type": "application/json;charset=UTF-8"}


@pytest.fixture
def client(sqlite_store: Store) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(Config(environment="development"), sqlite_store))


def post(client: falcon.testing.TestClient, body: bytes, **headers: str) -> falcon.testing.Result:
    return client.simulate_post("/skill", body=body, headers={**JSON, **headers})


def test_a_kakao_request_gets_a_valid_reply(client: falcon.testing.TestClient) -> None:
    result = post(client, json.dumps(payload("u1", "메뉴")).encode())
    assert result.status_code == 200
    assert result.headers["content-type"] == "application/json"
    assert_valid_reply(result.json)
    assert result.headers["x-request-id"]


@pytest.mark.parametrize("body", [b"", b"not json", b"[1, 2]", b'"text"', b"{", b"\xff\xfe"])
def test_body_not_a_json_object_is_400(client: falcon.testing.TestClient, body: bytes) -> None:
    result = post(client, body)
    assert result.status_code == 400
    assert result.json["title"]


@pytest.mark.parametrize(
    "mutate",
    [
        lambda p: p["userRequest"].pop("user"),
        lambda p: p["userRequest"]["user"].update(id=""),
        lambda p: p.pop("userRequest"),
    ],
)
def test_missing_user_id_is_400(client: falcon.testing.TestClient, mutate: object) -> None:
    body = payload("u1", "메뉴")
    mutate(body)  # type: ignore[operator]
    assert post(client, json.dumps(body).encode()).status_code == 400


def test_body_over_64_kib_is_413(client: falcon.testing.TestClient) -> None:
    body = payload("u1", "가" * 30000)
    assert post(client, json.dumps(body, ensure_ascii=False).encode()).status_code == 413


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_wrong_content_type_is_415(client: falcon.testing.TestClient, content_type: str) -> None:
    body = json.dumps(payload("u1", "메뉴")).encode()
    result = client.simulate_post("/skill", body=body, headers={"Content-Type": content_type})
    assert result.status_code == 415


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_wrong_method_is_405(client: falcon.testing.TestClient, method: str) -> None:
    assert client.simulate_request(method, "/skill").status_code == 405


def test_unknown_path_is_404(client: falcon.testing.TestClient) -> None:
    assert client.simulate_get("/nope").status_code == 404


def test_secret_header_is_required_when_set(sqlite_store: Store) -> None:
    config = Config(
        environment="development", skill_secret="s3cret-value", skill_secret_header="X-Bot-Key"
    )
    client = falcon.testing.TestClient(create_app(config, sqlite_store))
    body = json.dumps(payload("u1", "메뉴")).encode()
    assert post(client, body).status_code == 401
    assert post(client, body, **{"X-Bot-Key": "wrong"}).status_code == 401
    assert post(client, body, **{"X-Skill-Secret": "s3cret-value"}).status_code == 401
    assert post(client, body, **{"X-Bot-Key": "s3cret-value"}).status_code == 200


def test_health_and_readiness(client: falcon.testing.TestClient) -> None:
    assert client.simulate_get("/healthz").json == {"status": "ok"}
    assert client.simulate_get("/readyz").json == {"status": "ok"}


def test_database_down_gets_an_apology_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    # Nothing listens on port 9 of loopback: every connection is refused at once.
    store = open_store(
        "postgresql://nobody@127.0.0.1:9/none", "", pool_min=0, pool_max=1, connect_timeout=1
    )
    try:
        client = falcon.testing.TestClient(create_app(Config(environment="development"), store))
        with caplog.at_level(logging.WARNING):
            result = post(
                client, json.dumps(payload("u1", "설문목록")).encode(), **{"X-Request-Id": "req-42"}
            )
        assert result.status_code == 200
        assert_valid_reply(result.json)
        assert "죄송합니다" in reply_texts(result.json)[0]
        assert any(getattr(r, "request_id", None) == "req-42" for r in caplog.records)
        assert client.simulate_get("/readyz").status_code == 503
        assert client.simulate_get("/healthz").status_code == 200
    finally:
        store.close()


def test_unexpected_failure_gets_an_apology(sqlite_store: Store) -> None:
    class Broken:
        def __getattr__(self, name: str) -> object:
            raise RuntimeError("boom")

    client = falcon.testing.TestClient(create_app(Config(environment="development"), Broken()))  # type: ignore[arg-type]
    result = post(client, json.dumps(payload("u1", "메뉴")).encode())
    assert result.status_code == 200
    assert "죄송합니다" in reply_texts(result.json)[0]


def test_lenient_parsing_of_odd_but_valid_payloads(client: falcon.testing.TestClient) -> None:
    body = payload("u1", "메뉴")
    body["action"].pop("clientExtra")
    body["userRequest"]["lang"] = "kr"
    body["somethingNew"] = {"x": 1}
    body["userRequest"]["user"]["properties"]["bot_user_key"] = "u1"
    result = post(client, json.dumps(body).encode())
    assert result.status_code == 200
    assert_valid_reply(result.json)
