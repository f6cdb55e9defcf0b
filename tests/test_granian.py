"""`surveybot serve --server granian` (docs/granian.md): the same app, served by granian instead of
gunicorn, migrates first, answers Kakao's requests and stops on SIGTERM. Skipped without granian
(`.venv/bin/pip install granian`, the `granian` extra)."""

from __future__ import annotations

import http.client
import json
import signal
from pathlib import Path

import pytest

from devstack.openbuilder import assert_valid_reply, reply_texts
from devstack.procs import alive, send
from support.chat_helper import payload
from support.gunicorn_helper import SKILL_SECRET, served
from surveybot.cli import granian_command

pytest.importorskip("granian")


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
def test_granian_command_takes_the_gunicorn_settings() -> None:
    command = granian_command(
        {"HOST": "0.0.0.0", "PORT": "8001", "WORKERS": "3", "GUNICORN_THREADS": "6",
         "GUNICORN_GRACEFUL_TIMEOUT": "20", "LOG_LEVEL": "WARNING"}
    )  # fmt: skip
    options = dict(zip(command[3:-1], command[4:], strict=False))
    assert command[1:3] == ["-m", "granian"] and command[-1] == "surveybot.app:get_app"
    assert "--factory" in command and "--respawn-failed-workers" in command
    assert options["--interface"] == "wsgi"
    assert (options["--host"], options["--port"], options["--workers"]) == ("0.0.0.0", "8001", "3")
    assert options["--blocking-threads"] == "6"
    assert options["--workers-kill-timeout"] == "20"
    assert options["--log-level"] == "warning"
