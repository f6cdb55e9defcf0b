"""Metrics and structured logs."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import falcon.testing
import requests

from surveybot.app import create_app
from surveybot.config import Config
from surveybot.observability import JsonFormatter
from surveybot.store.base import Store

from chat_helper import payload


def test_metrics_count_requests_and_outcomes(sqlite_store: Store) -> None:
    client = falcon.testing.TestClient(create_app(Config(environment="development"), sqlite_store))
    client.simulate_post("/skill", json=payload("u1", "메뉴"))
    client.simulate_post("/skill", body=b"{", headers={"Content-Type": "application/json"})
    text = client.simulate_get("/metrics").text
    assert 'surveybot_replies_total{outcome="ok"} 1.0' in text
    assert 'surveybot_replies_total{outcome="400"} 1.0' in text
    assert 'surveybot_request_duration_seconds_count{method="POST",route="/skill"} 2.0' in text


def test_json_log_lines_carry_extra_fields() -> None:
    record = logging.LogRecord(
        "surveybot.http", logging.WARNING, __file__, 1, "db down %s", ("now",), None
    )
    record.request_id = "abc"
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "db down now" and line["request_id"] == "abc"
    assert line["level"] == "WARNING" and line["time"].endswith("Z")


def test_metrics_add_up_every_worker_of_a_node(pg_url: str, tmp_path: Path) -> None:
    """Two gunicorn workers, many requests: /metrics on any worker counts them all."""
    port = 18000 + os.getpid() % 1000
    env = {
        **os.environ,
        "SURVEYBOT_ENV": "development",
        "DATABASE_URL": pg_url,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "LOG_FORMAT": "json",
    }
    log = (tmp_path / "server.log").open("w")
    command = [
        sys.executable,
        "-m",
        "surveybot.cli",
        "serve",
        "--port",
        str(port),
        "--workers",
        "2",
    ]
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                requests.get(f"{base}/readyz", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.2)
        for i in range(40):
            # New connections each time, so both workers take some.
            reply = requests.post(f"{base}/skill", json=payload(f"u{i}", "메뉴"), timeout=5)
            assert reply.status_code == 200
        text = requests.get(f"{base}/metrics", timeout=5).text
        assert 'surveybot_replies_total{outcome="ok"} 40.0' in text
        assert 'surveybot_db_pool{figure="pool_size"}' in text
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=15)
        log.close()
    output = (tmp_path / "server.log").read_text()
    assert "Traceback" not in output
