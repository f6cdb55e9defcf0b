"""nginx's retries, with fake app nodes behind the real configuration: a /skill POST goes to
another node only when no node can have processed it (issue 12), and Kakao always gets a reply."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from devstack.nginx import Nginx
from devstack.openbuilder import assert_valid_reply, reply_texts
from devstack.ports import free_port
from support.stack_fixtures import require_nginx

# A real nginx in front of fake nodes.
pytestmark = pytest.mark.system


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a `drop` node's own reset connection is the point, not news


class FakeNode:
    """An app node that answers every POST the same way and records each body it received:
    `ok` (200 and a reply), `503` (the app's "database down, nothing done"), `drop` (reads the
    request, then closes without answering, as a node killed mid-request)."""

    def __init__(self, mode: str) -> None:
        self.bodies: list[bytes] = []
        self.retry_headers: list[str | None] = []
        node = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                node.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
                node.retry_headers.append(self.headers.get("X-Retry-Elsewhere"))
                if mode == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                text = f"from {node.address}" if mode == "ok" else "죄송합니다"
                body = json.dumps({"version": "2.0", "template": {
                    "outputs": [{"simpleText": {"text": text}}]}}).encode()  # fmt: skip
                self.send_response(200 if mode == "ok" else 503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[Callable[..., tuple[Nginx, list[FakeNode]]]]:
    """nginx (one worker, the stack's upstream parameters) in front of fake nodes; a mode of
    `closed` is an address where nothing listens."""
    started: list[Nginx] = []
    nodes: list[FakeNode] = []

    def start(*modes: str) -> tuple[Nginx, list[FakeNode]]:
        require_nginx()
        mine = [FakeNode(mode) for mode in modes if mode != "closed"]
        nodes.extend(mine)
        mine_iter = iter(mine)
        addresses = [f"127.0.0.1:{free_port()}" if m == "closed" else next(mine_iter).address
                     for m in modes]  # fmt: skip
        nginx = Nginx(tmp_path / "nginx", free_port(), addresses, workers=1)
        nginx.start()
        started.append(nginx)
        return nginx, mine

    yield start
    for nginx in started:
        nginx.stop()
    for node in nodes:
        node.close()


def _skill(nginx: Nginx, n: int) -> requests.Response:
    return requests.post(f"http://127.0.0.1:{nginx.port}/skill", json={"n": n}, timeout=10)


def _kakao_text(response: requests.Response) -> str:
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert_valid_reply(response.json())
    return "\n".join(reply_texts(response.json()))


def test_a_503_goes_to_another_node_once(
    proxy: Callable[..., tuple[Nginx, list[FakeNode]]],
) -> None:
    nginx, (down, up) = proxy("503", "ok")
    texts = [_kakao_text(_skill(nginx, n)) for n in range(4)]
    assert texts == [f"from {up.address}"] * 4
    assert len(up.bodies) == 4 and len(set(up.bodies)) == 4  # each request once
    # The 503 took the node out (1 s): it saw one request, perhaps two on a slow box.
    assert 1 <= len(down.bodies) <= 2
    # nginx tells the app it may answer 503 (it never shows one to Kakao).
    assert set(down.retry_headers + up.retry_headers) == {"503"}


def test_when_every_node_says_503_kakao_gets_the_apology(
    proxy: Callable[..., tuple[Nginx, list[FakeNode]]],
) -> None:
    nginx, nodes = proxy("503", "503", "503")
    for n in range(3):
        assert "죄송합니다" in _kakao_text(_skill(nginx, n))
    # Never more tries than nodes per request, and once all are out nginx answers by itself.
    assert sum(len(node.bodies) for node in nodes) <= 3 * 3


def test_a_refused_connect_is_tried_on_another_node(
    proxy: Callable[..., tuple[Nginx, list[FakeNode]]],
) -> None:
    nginx, (up,) = proxy("closed", "ok", "closed")
    texts = [_kakao_text(_skill(nginx, n)) for n in range(6)]
    assert texts == [f"from {up.address}"] * 6
    assert len(up.bodies) == 6


def test_a_request_a_node_received_is_never_sent_again(
    proxy: Callable[..., tuple[Nginx, list[FakeNode]]],
) -> None:
    nginx, (dropping, up) = proxy("drop", "ok")
    texts = []
    for n in range(8):
        texts.append(_kakao_text(_skill(nginx, n)))
        if dropping.bodies:
            break
    assert dropping.bodies, "nginx never chose the dropping node"
    # The request the dropping node received got the apology, and no other node saw it.
    assert "죄송합니다" in texts[-1]
    assert dropping.bodies[0] not in up.bodies
    assert len(dropping.bodies) + len(up.bodies) == len(texts)
