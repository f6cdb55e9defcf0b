"""GET /exports/{token}: every row, or a transfer that visibly fails; never a file that looks whole.

The failure cases run under real gunicorn on PostgreSQL: what a client sees when the database goes
away mid-download depends on the server, so a test client cannot show it.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import socket
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import falcon.testing
import psycopg
import pytest
import requests

from devstack.nodes import Node
from devstack.postgres import Server
from support.gunicorn_helper import SECRET_KEY, served
from surveybot.app import create_app
from surveybot.config import Config
from surveybot.domain import ExportRow, Question, QuestionKind, SurveyDraft
from surveybot.store import open_store
from surveybot.store.base import Store
from surveybot.tokens import sign_export_token

BOM = "\ufeff".encode()
REQUEST_ID = "export-cut-off-1"
QUESTIONS = (
    Question(QuestionKind.SINGLE, "A", ("x", "y")),
    Question(QuestionKind.TEXT, "B"),
)
ANSWER_TEXT = "x" * 480  # about 500 bytes a CSV row
MEMBERS = """
INSERT INTO users (user_key, name) SELECT 'member-' || i, '회원' || i FROM generate_series(1, %(n)s) i
"""
# Answers that fit the questions: option 0, and a free text within its 500 characters.
RESPONSES = """
INSERT INTO responses (survey_id, respondent, user_id, answers, submitted_at)
SELECT %(survey_id)s, u.user_key, u.id, jsonb_build_array(0, %(text)s::text), now()
FROM users u WHERE u.user_key LIKE 'member-%%'
"""
EXPORT_BACKEND = """
SELECT pid FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()
  AND state <> 'idle' AND query LIKE '%%surveybot_export%%'
"""


def seed(url: str, respondents: int) -> str:
    """An admin and a survey with `respondents` named responses; return the admin's export token."""
    store = open_store(url, "", pool_min=0, pool_max=1)
    try:
        store.migrate()
        admin = store.register("admin-key", "김관리", None).user
        assert admin is not None
        store.set_role(admin.id, "admin")
        draft = SurveyDraft("큰 설문", QUESTIONS)
        survey = store.create_survey(draft, admin.id, "draft-1", datetime.now(UTC))
    finally:
        store.close()
    with psycopg.connect(url, autocommit=True) as conn:
        # A bulk load, as loadtest/seed.py does it: the per-row triggers (answer checks, counters)
        # off for this session, then the counters recounted once. Seconds instead of a minute.
        conn.execute("SET session_replication_role = replica")
        conn.execute(MEMBERS, {"n": respondents})
        conn.execute(RESPONSES, {"survey_id": survey.id, "text": ANSWER_TEXT})
        conn.execute("SET session_replication_role = DEFAULT")
        conn.execute("SELECT surveybot_recount()")
    return sign_export_token(SECRET_KEY.encode(), survey.id, admin.id, int(time.time()) + 3600)


def rows_beyond_socket_buffers() -> int:
    """Rows enough that the file is three times what the server's socket can hold unread."""
    try:
        send_buffer_max = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    except (OSError, ValueError, IndexError):
        send_buffer_max = 4 << 20
    return 3 * (send_buffer_max + (1 << 20)) // len(ANSWER_TEXT)


@dataclass
class BigExport:
    bot: Node
    database_url: str
    token: str
    rows: int

    @property
    def url(self) -> str:
        return f"{self.bot.url}/exports/{self.token}"


@pytest.fixture(scope="module")
def seeded(pg_server: Server) -> Iterator[tuple[str, str, int]]:
    """A database with a survey too large for the sockets between server and client."""
    url = pg_server.create_database()
    try:
        rows = rows_beyond_socket_buffers()
        yield url, seed(url, rows), rows
    finally:
        pg_server.drop_database(url.rsplit("/", 1)[1])


MODULE_OF = {"granian": "granian", "gthread": "gunicorn", "gevent": "gevent", "meinheld": "meinheld"}


def _need(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (scripts/install-workers)")


@pytest.fixture(scope="module", params=["granian", "gthread", "gevent", "meinheld"])
def big(
    request: pytest.FixtureRequest,
    seeded: tuple[str, str, int],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[BigExport]:
    _need(MODULE_OF[request.param])
    url, token, rows = seeded
    folder = tmp_path_factory.mktemp(f"export-{request.param}")
    # LOG_FORMAT unset: production's JSON lines. granian is the default server; the others are
    # gunicorn's worker classes.
    env = {"DATABASE_URL": url}
    if request.param != "granian":
        env["GUNICORN_WORKER_CLASS"] = request.param
    with served(env, folder) as bot:
        yield BigExport(bot, url, token, rows)


def download_lines(url: str) -> list[str]:
    response = requests.get(url, timeout=120)
    assert response.status_code == 200
    # requests raises ChunkedEncodingError on a transfer without its final chunk.
    return response.content.decode("utf-8-sig").splitlines()


@pytest.mark.system
def test_a_large_export_arrives_whole(big: BigExport) -> None:
    lines = download_lines(big.url)
    assert len(lines) == 1 + big.rows
    assert lines[-1].endswith(f'"x","{ANSWER_TEXT}"')


@contextmanager
def small_window(port: int) -> Iterator[http.client.HTTPConnection]:
    """A client connection with a small receive buffer: the server soon waits for the reader."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    sock.connect(("127.0.0.1", port))
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.sock = sock
    try:
        yield conn
    finally:
        conn.close()


def terminate_export_backend(database_url: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        pids = conn.execute(EXPORT_BACKEND).fetchall()
        assert len(pids) == 1, pids
        conn.execute("SELECT pg_terminate_backend(%s)", pids[0])


@pytest.mark.system
def test_an_export_the_database_drops_is_an_incomplete_transfer(big: BigExport) -> None:
    with small_window(big.bot.port) as conn:
        conn.request("GET", f"/exports/{big.token}", headers={"X-Request-Id": REQUEST_ID})
        response = conn.getresponse()
        assert response.status == 200
        assert response.read(65536).startswith(BOM)
        # The server is still writing: the rest of the file is not fetched yet.
        terminate_export_backend(big.database_url)
        with pytest.raises(http.client.IncompleteRead):
            while response.read(65536):
                pass

    log = big.bot.read_log()
    entries = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert any(
        e.get("request_id") == REQUEST_ID and e["level"] == "ERROR" and "cut off" in e["message"]
        for e in entries
    ), log
    assert big.token not in log
    # The worker and its pool are fine afterwards.
    assert len(download_lines(big.url)) == 1 + big.rows


def test_an_export_may_run_longer_than_a_chat_reply(pg_url: str) -> None:
    """The export's own statement timeout, not the 100 ms of a chat reply's, applies to it."""
    seed(pg_url, respondents=3)
    store = open_store(
        pg_url, "", pool_min=0, pool_max=1, statement_timeout_ms=100,
        export_statement_timeout_ms=60_000,
    )  # fmt: skip
    try:
        with psycopg.connect(pg_url) as locker, ThreadPoolExecutor(1) as pool:
            # Blocked behind this lock, the export's query waits far past 100 ms.
            locker.execute("LOCK TABLE responses IN ACCESS EXCLUSIVE MODE")
            exported = pool.submit(lambda: _export_all(store))
            _wait_for_a_lock_wait(pg_url, until_done=exported.done)
            time.sleep(0.5)
            locker.rollback()
            assert len(exported.result(timeout=30)) == 3
    finally:
        store.close()


def _export_all(store: Store) -> list[ExportRow]:
    with store.export_rows(1) as rows:
        return list(rows)


def _wait_for_a_lock_wait(url: str, until_done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline and not until_done():
            waiting = conn.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchone()
            if waiting and waiting[0]:
                return
            time.sleep(0.05)


class FailingExport:
    """The real store, except that its export fails after the first row."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.opened = 0
        self.closed_with: list[BaseException | None] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    @contextmanager
    def export_rows(self, survey_id: int) -> Iterator[Iterator[ExportRow]]:
        self.opened += 1
        try:
            with self._store.export_rows(survey_id) as rows:
                yield self._fail_after_one(rows)
        except BaseException as error:
            self.closed_with.append(error)
            raise
        self.closed_with.append(None)

    @staticmethod
    def _fail_after_one(rows: Iterator[ExportRow]) -> Iterator[ExportRow]:
        yield next(rows)
        raise RuntimeError("the database went away")


@pytest.fixture
def failing(sqlite_store: Store) -> FailingExport:
    admin = sqlite_store.register("admin-key", "김관리", None).user
    member = sqlite_store.register("member-key", "이회원", None).user
    assert admin is not None and member is not None
    sqlite_store.set_role(admin.id, "admin")
    now = datetime.now(UTC)
    survey = sqlite_store.create_survey(SurveyDraft("설문", QUESTIONS), admin.id, "d", now)
    for user in (admin, member):
        sqlite_store.submit_response(survey.id, user, user.user_key, (0, "a"), now)
    return FailingExport(sqlite_store)


def test_a_failing_export_is_logged_with_the_request_id_and_rolled_back(
    failing: FailingExport, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(Config(environment="development", secret_key=SECRET_KEY), failing)  # type: ignore[arg-type]
    token = sign_export_token(SECRET_KEY.encode(), 1, 1, int(time.time()) + 60)
    # The test client has no socket to cut: the error reaches it, as it reaches gunicorn.
    with pytest.raises(RuntimeError, match="went away"):
        falcon.testing.TestClient(app).simulate_get(
            f"/exports/{token}", headers={"X-Request-Id": REQUEST_ID}
        )
    assert [type(e) for e in failing.closed_with] == [RuntimeError]
    assert any(getattr(r, "request_id", None) == REQUEST_ID for r in caplog.records)
    assert token not in caplog.text


def test_an_export_never_read_still_gives_its_connection_back(failing: FailingExport) -> None:
    app = create_app(Config(environment="development", secret_key=SECRET_KEY), failing)  # type: ignore[arg-type]
    token = sign_export_token(SECRET_KEY.encode(), 1, 1, int(time.time()) + 60)
    environ = falcon.testing.create_environ(path=f"/exports/{token}")
    body = app(environ, lambda status, headers, exc_info=None: lambda data: None)
    assert failing.opened == 1 and failing.closed_with == []
    body.close()  # type: ignore[attr-defined]
    assert failing.closed_with == [None]
