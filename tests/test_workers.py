"""The gunicorn worker classes we support, each under a real gunicorn: gthread, gevent, meinheld.

- every class: SIGKILL one worker (as the OOM killer does) -> the master lives, starts a new worker,
  replies keep coming, and the master's log has no traceback;
- meinheld's own worker (egg:meinheld#gunicorn_worker) kills the master in that case: the reason
  for surveybot.workers.MeinheldWorker;
- the shim's heartbeat and max_requests work, where meinheld's own worker ignores both;
- meinheld as scripts/install-workers builds it keeps serving while a slow client drains a big
  response (built against its bundled greenlet 0.4 header, it spins and serves nobody);
- how many database-bound requests one worker overlaps: gevent all, gthread its threads, meinheld one.

gevent and meinheld come from scripts/install-workers (scripts/setup runs it); without them those
cases skip and say so. docs/worker-classes.md explains the findings.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from devstack.nodes import Node
from devstack.openbuilder import assert_valid_reply
from devstack.ports import free_port
from devstack.procs import poll
from support.chat_helper import payload

SHIM = "surveybot.workers.MeinheldWorker"
RAW_MEINHELD = "egg:meinheld#gunicorn_worker"
INSTALL_HINT = "run scripts/install-workers (scripts/setup does)"


def _need(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed in this venv: {INSTALL_HINT}")


WORKER_CLASSES = [
    pytest.param("gthread", id="gthread"),
    pytest.param("gevent", id="gevent"),
    pytest.param("meinheld", id="meinheld-shim"),
    pytest.param("sync", id="sync"),
]
MODULE_OF = {"gthread": "gunicorn", "gevent": "gevent", "meinheld": "meinheld", "sync": "gunicorn"}


def app_loaded(pid: int) -> bool:
    """A worker has loaded the app once libpq is mapped (the master never imports psycopg).

    Until then it may not even have its signal handlers: a SIGTERM from the master that early
    is lost, and the master waits graceful_timeout before it SIGKILLs the worker.
    """
    try:
        return "libpq" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


@pytest.fixture
def servers() -> Iterator[list[Node]]:
    started: list[Node] = []
    yield started
    for server in started:
        server.stop(timeout=10)


def start(servers: list[Node], server: Node) -> Node:
    """Start a gunicorn master in its own process group; the fixture stops what is left of it."""
    servers.append(server)
    server.start()
    server.wait_ready()
    return server


def serve(
    servers: list[Node], tmp_path: Path, worker_class: str, database_url: str
) -> tuple[Node, str]:
    """`surveybot serve` with 2 workers of the class; returns it and its /skill URL."""
    port = free_port()
    settings = {
        "SURVEYBOT_ENV": "development",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "INFO",
    }
    folder = tmp_path / f"gunicorn-{port}"
    server = start(servers, Node(folder, port, settings, workers=2, worker_class=worker_class))
    return server, f"{server.url}/skill"


def say(url: str, user: str, text: str) -> None:
    """One Kakao request on a new connection (a kept-alive one may lead to a killed worker)."""
    response = requests.post(url, json=payload(user, text), timeout=5)
    assert response.status_code == 200, response.text
    assert_valid_reply(response.json())


@pytest.mark.system
@pytest.mark.parametrize("worker_class", WORKER_CLASSES)
def test_sigkilled_worker_is_replaced_and_the_master_lives(
    worker_class: str, pg_url: str, tmp_path: Path, servers: list[Node]
) -> None:
    _need(MODULE_OF[worker_class])
    server, url = serve(servers, tmp_path, worker_class, pg_url)
    for n in range(4):
        say(url, f"user{n}", "등록 김회원" if n == 0 else "메뉴")
    assert poll(lambda: len(server.worker_pids()) == 2, 10), server.read_log()
    before = set(server.worker_pids())
    assert poll(lambda: all(app_loaded(pid) for pid in before), 15), server.read_log()
    victim = min(before)

    os.kill(victim, signal.SIGKILL)
    for n in range(5):  # the other worker answers meanwhile
        say(url, f"during{n}", "메뉴")

    def replaced() -> bool:
        now = server.worker_pids()
        return len(now) == 2 and victim not in now

    assert poll(replaced, 10), f"no new worker after SIGKILL of {victim}:\n{server.read_log()}"
    (new,) = set(server.worker_pids()) - before
    assert poll(lambda: app_loaded(new), 15), server.read_log()
    assert server.alive(), server.read_log()
    for n in range(10):
        say(url, f"after{n}", "메뉴")

    log = server.read_log()
    assert f"Worker (pid:{victim}) was sent SIGKILL" in log
    assert "Traceback" not in log and "TypeError" not in log, log


@pytest.mark.system
def test_meinheld_own_worker_kills_the_master_when_a_worker_dies(
    tmp_path: Path, servers: list[Node]
) -> None:
    """Why the shim exists (gunicorn #3055, meinheld #115). Skips, saying so, once it is fixed."""
    _need("meinheld")
    port = free_port()
    settings = {
        "SURVEYBOT_ENV": "development",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "SQLITE_PATH": str(tmp_path / "bot.sqlite3"),
    }
    # gunicorn directly: our gunicorn_conf would hand this worker URI to the shim.
    command = [sys.executable, "-m", "gunicorn", "--no-control-socket", "-b", f"127.0.0.1:{port}",
               "-w", "2", "-k", RAW_MEINHELD, "surveybot.app:get_app()"]  # fmt: skip
    server = start(servers, Node(tmp_path / "raw", port, settings, command=command))
    assert poll(lambda: len(server.worker_pids()) == 2, 10), server.read_log()

    os.kill(min(server.worker_pids()), signal.SIGKILL)
    if not poll(lambda: not server.alive(), 10):
        pytest.skip(
            "meinheld's own worker no longer takes the master down on a worker SIGKILL "
            "(fixed upstream?): re-check docs/worker-classes.md and whether the shim is still needed"
        )
    log = server.read_log()
    assert "TypeError: _error() got an unexpected keyword argument 'exc_info'" in log, log


HANG_APP = """
import os, time

def app(environ, start_response):
    if environ["PATH_INFO"] == "/hang":
        time.sleep(600)  # a stuck request: blocks the worker, as a stuck C call would
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""


def _tiny_gunicorn(
    servers: list[Node], tmp_path: Path, module: str, worker_class: str, *options: str
) -> str:
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "--no-control-socket", "-b", f"127.0.0.1:{port}",
               "-k", worker_class, *options, f"{module}:app"]  # fmt: skip
    folder = tmp_path / f"{module}-{port}"
    settings = {"PYTHONPATH": str(tmp_path)}
    return start(servers, Node(folder, port, settings, command=command, ready_path="/")).url


def _pids_of(base: str, count: int) -> list[str]:
    return [requests.get(f"{base}/", timeout=5).text for _ in range(count)]


@pytest.mark.system
def test_meinheld_shim_heartbeat_and_max_requests_where_meinheld_has_neither(
    tmp_path: Path, servers: list[Node]
) -> None:
    """Both servers get a request that hangs; only the shim's master notices (its timeout: 3 s)."""
    _need("meinheld")
    (tmp_path / "hang_app.py").write_text(HANG_APP)
    options = ("-w", "1", "--timeout", "3", "--graceful-timeout", "1", "--max-requests", "3")
    shim = _tiny_gunicorn(servers, tmp_path, "hang_app", SHIM, *options)
    raw = _tiny_gunicorn(servers, tmp_path, "hang_app", RAW_MEINHELD, *options)
    shim_server, raw_server = servers

    # max_requests 3: the shim's worker is replaced after its third request, meinheld's never.
    # (The readiness probe was the first request.)
    shim_pids, raw_pids = _pids_of(shim, 8), _pids_of(raw, 8)
    assert len(set(shim_pids)) >= 3 and max(Counter(shim_pids).values()) <= 3, shim_pids
    assert len(set(raw_pids)) == 1, raw_pids

    def hang(base: str) -> int | None:
        try:
            return requests.get(f"{base}/hang", timeout=6).status_code
        except requests.Timeout:
            return None

    with ThreadPoolExecutor(2) as pool:
        shim_hang, raw_hang = pool.map(hang, [shim, raw])
    # The shim's master aborted the stuck worker (the request got a 500) and started another.
    assert shim_hang == 500, shim_server.read_log()
    assert "WORKER TIMEOUT" in shim_server.read_log()
    assert poll(lambda: requests.get(f"{shim}/", timeout=5).status_code == 200, 5)
    # meinheld's own heartbeat (fchmod: ctime) is invisible to gunicorn >= 22 (mtime).
    assert raw_hang is None and "WORKER TIMEOUT" not in raw_server.read_log()


BIG_APP = """
CHUNK = b"x" * 65536

def app(environ, start_response):
    count = int(environ.get("QUERY_STRING") or "1")
    headers = [("Content-Type", "text/plain"), ("Content-Length", str(count * len(CHUNK)))]
    start_response("200 OK", headers)
    return [CHUNK] * count
"""


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.system
def test_meinheld_serves_others_while_a_slow_client_drains_a_big_response(
    tmp_path: Path, servers: list[Node]
) -> None:
    """meinheld built with its bundled greenlet 0.4 header spins here, serving nobody else.

    With greenlet 3 that header's struct is wrong, so the switch back to meinheld's hub fails and
    the write is retried in a busy loop; scripts/install-workers builds against greenlet 3's header.
    """
    _need("meinheld")
    (tmp_path / "big_app.py").write_text(BIG_APP)
    base = _tiny_gunicorn(servers, tmp_path, "big_app", SHIM, "-w", "1")
    (worker,) = servers[0].worker_pids()
    port = int(base.rsplit(":", 1)[1])
    with socket.socket() as slow:
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect(("127.0.0.1", port))
        slow.sendall(b"GET /?100 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")  # 6.5 MB
        time.sleep(0.3)  # the worker's socket buffer is full now; this client reads nothing yet
        cpu_before, start = _cpu_seconds(worker), time.monotonic()
        try:
            status = requests.get(f"{base}/?1", timeout=3).status_code
        except requests.Timeout:
            status = None
        answered = time.monotonic() - start
        time.sleep(1.0)
        spun = _cpu_seconds(worker) - cpu_before
        received = 0
        while chunk := slow.recv(1 << 16):
            received += len(chunk)
    hint = "meinheld built with its own greenlet.h? rebuild it: scripts/install-workers"
    assert status == 200 and answered < 0.5, f"another client waited {answered:.2f} s; {hint}"
    assert spun < 0.5, f"the worker burnt {spun:.2f} s of CPU waiting for a slow client; {hint}"
    assert received > 100 * 65536


SLEEP_APP = """
import os
import psycopg.waiting
from psycopg_pool import ConnectionPool

pool = ConnectionPool(os.environ["SLEEP_DATABASE_URL"], min_size=1, max_size=10, open=True)

def app(environ, start_response):
    if environ["PATH_INFO"] == "/sleep":
        with pool.connection() as conn:
            conn.execute("SELECT pg_sleep(0.5)")
    body = psycopg.waiting.wait.__name__.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""

REQUESTS = 8


@pytest.mark.system
@pytest.mark.parametrize(
    ("worker_class", "options", "fastest", "slowest"),
    [
        # 4 threads: two rounds of pg_sleep(0.5).
        pytest.param("gthread", ("--threads", "4"), 0.95, 2.5, id="gthread-4-threads"),
        # psycopg sees gevent's monkey-patching and waits cooperatively: one round.
        pytest.param("gevent", (), 0.45, 1.9, id="gevent"),
        # libpq blocks meinheld's loop: eight rounds, one request at a time.
        pytest.param(SHIM, (), 3.95, 12.0, id="meinheld-shim"),
        # one request per process: eight rounds, like meinheld (more processes overlap more).
        pytest.param("sync", (), 3.95, 12.0, id="sync"),
    ],
)
def test_one_worker_overlaps_database_waits_as_its_class_allows(
    worker_class: str,
    options: tuple[str, ...],
    fastest: float,
    slowest: float,
    pg_url: str,
    tmp_path: Path,
    servers: list[Node],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _need("meinheld" if worker_class == SHIM else MODULE_OF[worker_class])
    (tmp_path / "sleep_app.py").write_text(SLEEP_APP)
    monkeypatch.setenv("SLEEP_DATABASE_URL", pg_url)
    base = _tiny_gunicorn(servers, tmp_path, "sleep_app", worker_class, "-w", "1", *options)

    def sleep(_: int) -> str:
        response = requests.get(f"{base}/sleep", timeout=15)
        assert response.status_code == 200
        return response.text

    with ThreadPoolExecutor(REQUESTS) as pool:
        list(pool.map(sleep, range(1)))  # warm: the pool's first connection
        start = time.monotonic()
        waits = set(pool.map(sleep, range(REQUESTS)))
        took = time.monotonic() - start
    assert fastest <= took <= slowest, f"{REQUESTS} x pg_sleep(0.5) took {took:.2f} s"
    # gevent: psycopg chose a wait function gevent patched, instead of its C one.
    if worker_class == "gevent":
        assert waits and waits <= {"wait_poll", "wait_select"}, waits
    else:
        assert waits == {"wait_c"}, waits
