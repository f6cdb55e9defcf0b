"""`surveybot serve` runs granian (docs/granian.md): it migrates first, answers Kakao's requests
and stops on SIGTERM; its settings, its log lines, and when gunicorn is chosen instead."""

from __future__ import annotations

import http.client
import json
import logging
import logging.config
import os
import signal
from pathlib import Path

import pytest

from devstack.openbuilder import assert_valid_reply, reply_texts
from devstack.procs import alive, send
from support.chat_helper import payload
from support.gunicorn_helper import SKILL_SECRET, served
from surveybot.cli import main
from surveybot.granian_serve import (
    ACCESS_FORMAT,
    ACCESS_LOGGER,
    SERVER_LOGGER,
    address,
    log_config,
    options,
)


def say(port: int, user: str, utterance: str) -> dict[str, object]:
    """One /skill request straight to the node; its reply, checked against Kakao's limits."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        body = json.dumps(payload(user, utterance), ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", "X-Skill-Secret": SKILL_SECRET}
        conn.request("POST", "/skill", body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    assert response.status == 200, data
    reply = json.loads(data)
    assert_valid_reply(reply)
    return reply  # type: ignore[no-any-return]


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


@pytest.mark.system
def test_granian_serves_the_bot_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = {
        "SURVEYBOT_SERVER": "granian",
        "SURVEYBOT_ENV": "development",
        "SQLITE_PATH": str(tmp_path / "bot.sqlite3"),
    }
    with served(env, tmp_path, workers=2) as node:
        assert node.pid is not None
        # serve migrated, then exec'd granian in its own process: no gunicorn anywhere.
        assert "granian" in cmdline(node.pid) and "gunicorn" not in cmdline(node.pid)
        workers = node.worker_pids()
        assert len(workers) == 2

        menu = say(node.port, "granian-user", "메뉴")
        assert reply_texts(menu)
        registered = say(node.port, "granian-user", "등록 김그라")
        assert "등록되었습니다" in "\n".join(reply_texts(registered))

        send(node.pid, signal.SIGTERM)
        assert node.proc is not None and node.proc.wait_gone(15), node.read_log()[-3000:]
        assert not [pid for pid in workers if alive(pid)]
    assert "Starting granian" in node.read_log()


@pytest.mark.unit
def test_granian_takes_the_servers_settings() -> None:
    found = options(
        {"HOST": "0.0.0.0", "PORT": "8001", "WORKERS": "3", "GUNICORN_THREADS": "6",
         "GUNICORN_GRACEFUL_TIMEOUT": "20", "GUNICORN_BACKLOG": "10", "LOG_LEVEL": "WARNING"}
    )  # fmt: skip
    assert (found["target"], found["factory"], found["interface"]) == (
        "surveybot.app:get_app",
        True,
        "wsgi",
    )
    assert (found["address"], found["port"], found["workers"]) == ("0.0.0.0", 8001, 3)
    assert found["blocking_threads"] == 6 and found["workers_kill_timeout"] == 20
    assert found["backlog"] == 128  # granian's least
    assert found["log_level"] == "warning" and found["respawn_failed_workers"] is True
    assert found["log_access"] is False  # nginx logs every request already
    # The image's BIND wins over HOST/PORT, as it does for gunicorn.
    assert address({"BIND": "0.0.0.0:9000", "PORT": "1"}) == ("0.0.0.0", 9000)
    assert address({"BIND": "[::]:9000"}) == ("::", 9000)
    assert options({"LOG_LEVEL": "loud"})["log_level"] == "info"


@pytest.mark.unit
def test_granian_lines_are_json_and_name_no_export_token(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """granian's own lines and its access log, configured as the server configures them."""
    config = log_config({"GUNICORN_ACCESS_LOG": "-"})
    saved = {name: logging.getLogger(name).handlers[:] for name in (SERVER_LOGGER, ACCESS_LOGGER)}
    try:
        logging.config.dictConfig(config)
        logging.getLogger(ACCESS_LOGGER).info(
            ACCESS_FORMAT.replace("%(header{x-request-id})s", "%(_h0)s"),
            {"addr": "127.0.0.1", "method": "GET", "path": "/exports/SECRET-token",
             "protocol": "HTTP/1.1", "status": 200, "dt_ms": 1.5, "_h0": "abc"},
        )  # fmt: skip
        logging.getLogger(SERVER_LOGGER).warning("bad request for /results/SECRET-token")
    finally:
        for name, handlers in saved.items():
            logging.getLogger(name).handlers[:] = handlers
    written = capsys.readouterr()  # the access log on standard output, the rest on standard error
    lines = [json.loads(line) for line in (written.out + written.err).splitlines()]
    assert [line["logger"] for line in lines] == [ACCESS_LOGGER, SERVER_LOGGER], lines
    assert "SECRET" not in json.dumps(lines)
    assert lines[0]["message"].startswith('127.0.0.1 "GET /exports/<redacted> HTTP/1.1" 200')
    assert lines[0]["message"].endswith("request_id=abc")
    text = log_config({"SURVEYBOT_ENV": "development"})
    assert text["formatters"]["line"]["()"] == "logging.Formatter"


class Exec(Exception):
    """The command `surveybot serve` would have become."""


@pytest.mark.unit
@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        (["serve"], {}, "granian"),
        (["serve", "--worker-class", "gevent"], {}, "gunicorn"),
        (["serve"], {"GUNICORN_WORKER_CLASS": "gthread"}, "gunicorn"),
        (["serve", "--server", "gunicorn"], {}, "gunicorn"),
        (["serve", "--server", "granian", "--worker-class", "gthread"], {}, 2),
        (["serve", "--server", "uvicorn"], {}, 2),
    ],
)
def test_the_server_is_granian_unless_gunicorn_is_asked_for(
    argv: list[str],
    env: dict[str, str],
    expected: str | int,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """What `surveybot serve` execs, after migrating a real SQLite file."""
    for name in ("SURVEYBOT_SERVER", "GUNICORN_WORKER_CLASS", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SURVEYBOT_ENV", "development")
    monkeypatch.setenv("SQLITE_PATH", str(tmp_path / "bot.sqlite3"))

    def execv(_path: str, args: list[str]) -> None:
        raise Exec(args)  # os.execv does not return either

    monkeypatch.setattr(os, "execv", execv)
    try:
        status = main(argv)
    except Exec as done:
        command = done.args[0]
    else:
        assert status == expected
        return
    server = (
        "gunicorn"
        if "gunicorn" in command
        else "granian"
        if "surveybot.granian_serve" in command
        else None
    )
    assert server == expected, command
