"""Metrics and structured logs."""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import falcon.testing
import pytest
import requests

from devstack.nodes import Node
from devstack.ports import free_port
from devstack.procs import poll
from support.chat_helper import payload
from support.gunicorn_helper import SECRET_KEY, served
from surveybot.app import create_app
from surveybot.config import Config
from surveybot.domain import Question, QuestionKind, SurveyDraft
from surveybot.log_redaction import GunicornLogger, RedactExportTokens, redact
from surveybot.observability import JsonFormatter, TextFormatter, forget_dead_workers
from surveybot.store import open_store
from surveybot.store.base import Store
from surveybot.tokens import sign_export_token


def test_metrics_count_requests_and_outcomes(sqlite_store: Store) -> None:
    client = falcon.testing.TestClient(create_app(Config(environment="development"), sqlite_store))
    client.simulate_post("/skill", json=payload("u1", "메뉴"))
    client.simulate_post("/skill", body=b"{", headers={"Content-Type": "application/json"})
    text = client.simulate_get("/metrics").text
    assert 'surveybot_replies_total{outcome="ok"} 1.0' in text
    assert 'surveybot_replies_total{outcome="400"} 1.0' in text
    assert 'surveybot_request_duration_seconds_count{method="POST",route="/skill"} 2.0' in text


def test_a_new_worker_forgets_only_dead_workers_live_gauges(tmp_path: Path) -> None:
    dead = 2**22 + 12345  # above the kernel's largest pid: never alive
    names = [
        f"gauge_livesum_{dead}.db", f"gauge_liveall_{dead}.db", f"gauge_livesum_{os.getpid()}.db",
        f"counter_{dead}.db", f"histogram_{dead}.db", "gauge_livesum_notapid.db",
    ]  # fmt: skip
    for name in names:
        (tmp_path / name).write_bytes(b"")
    forget_dead_workers(str(tmp_path))
    # A dead worker's counts stay in the sums; only its live gauges go.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[2:])
    forget_dead_workers(str(tmp_path / "missing"))  # no folder: nothing to do, no error


def test_json_log_lines_carry_extra_fields() -> None:
    record = logging.LogRecord(
        "surveybot.http", logging.WARNING, __file__, 1, "db down %s", ("now",), None
    )
    record.request_id = "abc"
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "db down now" and line["request_id"] == "abc"
    assert line["level"] == "WARNING" and line["time"].endswith("Z")


@pytest.mark.system
def test_metrics_add_up_every_worker_of_a_node(pg_url: str, tmp_path: Path) -> None:
    """Two workers, many requests: /metrics on any worker counts them all, live workers only."""
    settings = {
        "SURVEYBOT_ENV": "development",
        "DATABASE_URL": pg_url,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "LOG_FORMAT": "json",
    }
    with Node(tmp_path / "node", free_port(), settings, workers=2) as node:
        for i in range(40):
            # New connections each time, so both workers take some.
            reply = requests.post(f"{node.url}/skill", json=payload(f"u{i}", "메뉴"), timeout=5)
            assert reply.status_code == 200
        text = requests.get(f"{node.url}/metrics", timeout=5).text
        assert 'surveybot_replies_total{outcome="ok"} 40.0' in text
        assert 'surveybot_db_pool{figure="pool_size"}' in text

        # A killed worker's pool figures leave the sums once its replacement starts (granian
        # has no hook for a dead worker; gunicorn's master drops them in child_exit).
        metrics = tmp_path / "metrics"
        for pid in node.worker_pids():
            assert list(metrics.glob(f"gauge_live*_{pid}.db")), sorted(metrics.iterdir())
        victim = node.kill_worker()
        assert poll(lambda: len(set(node.worker_pids()) - {victim}) == 2, 20), node.read_log()
        assert poll(lambda: not list(metrics.glob(f"gauge_live*_{victim}.db")), 20), sorted(
            metrics.iterdir()
        )
        reply = requests.post(f"{node.url}/skill", json=payload("after", "메뉴"), timeout=5)
        assert reply.status_code == 200
    assert "Traceback" not in node.read_log()


def _seed_export(sqlite_path: str) -> str:
    """An admin and a survey with one response on SQLite; return the admin's export token."""
    store = open_store(None, sqlite_path)
    try:
        store.migrate()
        admin = store.register("admin-key", "김관리", None).user
        assert admin is not None
        store.set_role(admin.id, "admin")
        now = datetime.now(UTC)
        questions = (Question(QuestionKind.SINGLE, "A", ("x", "y")),)
        survey = store.create_survey(SurveyDraft("설문", questions), admin.id, "d", now)
        store.submit_response(survey.id, admin, admin.user_key, (0,), now)
    finally:
        store.close()
    return sign_export_token(SECRET_KEY.encode(), survey.id, admin.id, int(time.time()) + 600)


def _raw_request(port: int, request_line: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request_line + b"\r\nHost: x\r\n\r\n")
        while sock.recv(4096):
            pass


@pytest.mark.system
@pytest.mark.parametrize(
    ("server", "log_format"), [("granian", "json"), ("granian", "text"), ("gunicorn", "json")]
)
def test_export_tokens_never_reach_the_logs(tmp_path: Path, server: str, log_format: str) -> None:
    sqlite_path = str(tmp_path / "bot.sqlite3")
    token = _seed_export(sqlite_path)
    forged = "AQAAAAAAAAABforgedforgedforgedforgedforged"
    env = {
        "SQLITE_PATH": sqlite_path, "LOG_FORMAT": log_format, "GUNICORN_ACCESS_LOG": "-",
        "SURVEYBOT_SERVER": server,
    }  # fmt: skip
    with served(env, tmp_path / "node") as bot:
        download = requests.get(f"{bot.url}/exports/{token}", timeout=5)
        assert download.status_code == 200 and "김관리" in download.content.decode("utf-8-sig")
        assert requests.get(f"{bot.url}/exports/{forged}?x=1", timeout=5).status_code == 403
        # A request line without its HTTP version: gunicorn quotes it in its error log (granian
        # answers 400 and logs nothing).
        _raw_request(bot.port, b"GET /exports/" + forged.encode())
    log = bot.read_log()
    assert token not in log and forged not in log, log
    # The access log was on, and redacted; plus gunicorn's error line.
    assert log.count("/exports/<redacted>") >= (3 if server == "gunicorn" else 2), log
    assert ("Starting granian" in log) == (server == "granian"), log


@pytest.mark.parametrize("accesslog", [None, "-"])
def test_gunicorn_access_log_only_when_asked(
    accesslog: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The JSON logging config (gunicorn_conf) alone must not switch gunicorn's access log on."""
    from gunicorn import glogging
    from gunicorn.config import Config as GunicornConfig

    # gunicorn applies a logconfig_dict to the process's loggers: not in the test process.
    monkeypatch.setattr(glogging, "dictConfig", lambda config: None)
    cfg = GunicornConfig()
    cfg.set("logconfig_dict", {"version": 1, "disable_existing_loggers": False})
    cfg.set("accesslog", accesslog)
    logger = GunicornLogger(cfg)
    assert logger.access_log_enabled is (accesslog is not None)
    written: list[str] = []
    # gunicorn.access is the process's shared logger: patched for this test only.
    monkeypatch.setattr(logger.access_log, "info", lambda *args, **kw: written.append(str(args)))
    response = SimpleNamespace(status="200 OK", sent=10, headers=())
    environ = {"REQUEST_METHOD": "POST", "RAW_URI": "/skill", "SERVER_PROTOCOL": "HTTP/1.1"}
    logger.access(response, SimpleNamespace(headers=[]), environ, timedelta(milliseconds=3))
    assert len(written) == (0 if accesslog is None else 1)


def test_redaction_covers_arguments_and_tracebacks() -> None:
    token = "AQAAAAAAAAABAAAAsecret"
    try:
        raise ValueError(f"bad line 'GET /exports/{token} HTTP/1.1'")
    except ValueError:
        record = logging.LogRecord(
            "gunicorn.error", logging.ERROR, __file__, 1, "Error handling request %s %s",
            ("GET", f"/exports/{token}?a=b"), sys.exc_info(),
        )  # fmt: skip
    assert RedactExportTokens().filter(record)
    line = JsonFormatter().format(record)
    assert token not in line
    assert json.loads(line)["message"] == "Error handling request GET /exports/<redacted>?a=b"
    assert redact("/exports/abc /exports/def") == "/exports/<redacted> /exports/<redacted>"
    assert redact("/exports/") == "/exports/" and redact("/skill") == "/skill"


def test_text_lines_carry_the_request_id() -> None:
    record = logging.LogRecord("surveybot.http", logging.ERROR, __file__, 1, "failed", None, None)
    record.request_id = "req-7"
    assert TextFormatter().format(record).endswith("ERROR surveybot.http failed request_id=req-7")
