"""The HTTP contract of /skill, /healthz, /readyz: bad input gets a clear answer, never a 500."""

from __future__ import annotations

import http.client
import json
import logging
from collections.abc import Iterator

import falcon.testing
import pytest

from devstack.nodes import Node
from devstack.openbuilder import assert_valid_reply, reply_texts
from support.chat_helper import payload
from support.gunicorn_helper import SKILL_SECRET, served
from surveybot.app import create_app
from surveybot.config import Config
from surveybot.resources import APOLOGY
from surveybot.store import open_store
from surveybot.store.base import Store

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


@pytest.fixture
def client_on_each_backend(store: Store) -> falcon.testing.TestClient:
    return falcon.testing.TestClient(create_app(Config(environment="development"), store))


def say_escaped(client: falcon.testing.TestClient, text: str) -> str:
    """Send text as an ASCII JSON body (a lone surrogate as \\ud800); return a normal reply."""
    result = post(client, json.dumps(payload("u1", text)).encode("ascii"))
    assert result.status_code == 200, result.text
    assert_valid_reply(result.json)
    replies = "\n".join(reply_texts(result.json))
    assert APOLOGY not in replies
    return replies


def test_control_characters_and_broken_text_get_normal_replies(
    client_on_each_backend: falcon.testing.TestClient,
) -> None:
    client = client_on_each_backend
    assert "등록되었습니다" in say_escaped(client, "등록 김\x00철수")
    assert "김철수" in say_escaped(client, "내정보\x00")
    for text in ("메뉴\x00", "\x00", "메뉴\ud800", "\ud800", "설문목록\ud83d", "\x01\x7f\x9f도움말"):
        say_escaped(client, text)


@pytest.fixture(scope="module")
def served_bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    folder = tmp_path_factory.mktemp("chunked")
    with served({"SQLITE_PATH": str(folder / "bot.sqlite3")}, folder) as bot:
        yield bot


def post_chunked(bot: Node, chunks: list[bytes]) -> tuple[int, bytes]:
    """POST /skill with Transfer-Encoding: chunked and no Content-Length, as a proxy may."""
    conn = http.client.HTTPConnection("127.0.0.1", bot.port, timeout=10)
    try:
        headers = {"Content-Type": "application/json", "X-Skill-Secret": SKILL_SECRET}
        conn.request("POST", "/skill", body=iter(chunks), headers=headers, encode_chunked=True)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.mark.system
def test_a_chunked_request_straight_to_gunicorn_is_answered(served_bot: Node) -> None:
    body = json.dumps(payload("chunked-user", "등록 김청크"), ensure_ascii=False).encode()
    status, data = post_chunked(served_bot, [body[:10], body[10:200], body[200:]])
    assert status == 200, data
    reply = json.loads(data)
    assert_valid_reply(reply)
    assert "등록되었습니다" in "\n".join(reply_texts(reply))


@pytest.mark.system
def test_a_chunked_request_over_64_kib_is_413(served_bot: Node) -> None:
    body = json.dumps(payload("chunked-user", "가" * 30000), ensure_ascii=False).encode()
    assert len(body) > 64 * 1024
    chunks = [body[i : i + 8192] for i in range(0, len(body), 8192)]
    assert post_chunked(served_bot, chunks)[0] == 413
