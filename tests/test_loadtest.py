"""Smoke tests of the load tools (loadtest/): they run, they agree with the app; no figures asserted.

The locust and baseline tests use .venv-load, which loadtest/setup creates when it is missing
(about a minute, once); they are skipped, saying why, when it cannot be created.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from loadtest.baselines import tools
from loadtest.kakao import (
    check_loopback,
    encode,
    member_key,
    member_name,
    payload,
)

from devstack.nodes import Node
from devstack.openbuilder import assert_valid_reply, reply_text
from devstack.ports import free_port
from devstack.services import Service
from support.gunicorn_helper import served
from support.load_run import ROOT, SECRET_KEY, run_seed, run_tool

# The load tools run as processes: seed, locust, wrk, the Go echo server, nginx, `surveybot serve`.
pytestmark = pytest.mark.system
LOAD_PYTHON = ROOT / ".venv-load" / "bin" / "python"
SECRET = "load-smoke-skill-secret"


@pytest.fixture(scope="session")
def load_python() -> Path:
    """The .venv-load interpreter, made (or brought up to date) by loadtest/setup."""
    try:
        done = run_tool([str(ROOT / "loadtest" / "setup")], timeout=400)
    except subprocess.TimeoutExpired:
        pytest.skip("loadtest/setup took over 400 s: is PyPI reachable?")
    if done.returncode != 0 or not LOAD_PYTHON.exists():
        pytest.skip(f"cannot create .venv-load with loadtest/setup: {done.stderr[-500:]}")
    return LOAD_PYTHON


@pytest.mark.timeout(420)
def test_baselines_answer_one_request(load_python: Path, tmp_path: Path, pg_url: str) -> None:
    sqlite_path = str(tmp_path / "names.sqlite3")
    for target in (["--sqlite", sqlite_path], ["--database-url", pg_url]):
        done = run_seed(target, "--migrate", "--members", "10", "--admins", "1")
        assert done.returncode == 0, done.stderr
    workbook = str(tmp_path / "members.xlsx")
    made = run_tool(
        [
            str(load_python),
            "-m",
            "loadtest.baselines.excel_name",
            "--make",
            workbook,
            "--members",
            "10",
            "--admins",
            "1",
        ]
    )
    assert made.returncode == 0, made.stderr
    smoke = run_tool(
        [
            str(load_python),
            "-m",
            "loadtest.baselines.smoke",
            "--sqlite",
            sqlite_path,
            "--excel",
            workbook,
            "--database-url",
            pg_url,
            "--key",
            member_key(3),
        ]
    )
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    report = json.loads(smoke.stdout)
    assert report["flask_echo"]["text"] == "메뉴"
    for name in ("excel_name", "sqlite_name", "postgres_name"):
        assert report[name]["text"] == f"{member_name(3)}님 안녕하세요!", report


def test_go_echo_and_nginx_fixed_reply(tmp_path: Path) -> None:
    if shutil.which("go") is None or shutil.which("nginx") is None:
        pytest.skip("Go or nginx is not installed (scripts/bench installs golang-go and nginx)")
    binary = tools.build_go_echo(tmp_path / "go_echo", install=False)
    assert binary is not None
    go_port, nginx_port = free_port(), free_port()
    conf = tools.render_nginx(tmp_path / "nginx", nginx_port, upstream=f"127.0.0.1:{go_port}")
    nginx = tools.nginx_argv(conf, install=False)
    assert nginx is not None
    body = encode(payload(member_key(1), "안녕하세요"))
    with (
        Service(
            tools.go_echo_argv(binary, f"127.0.0.1:{go_port}"),
            go_port,
            tmp_path / "go.log",
            ready_path="/healthz",
        ),
        Service(nginx, nginx_port, tmp_path / "nginx.log", ready_path="/fixed/skill"),
    ):
        for path, text in (("/skill", "안녕하세요"), ("/fixed/skill", "메뉴")):
            answer = requests.post(f"http://127.0.0.1:{nginx_port}{path}", data=body, timeout=5)
            assert answer.status_code == 200
            assert_valid_reply(answer.json())
            assert reply_text(answer.json()) == text


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[Node]:
    """`surveybot serve` on a seeded SQLite file, 2 gunicorn workers."""
    sqlite_path = str(tmp_path / "bot.sqlite3")
    options = ("--migrate", "--members", "50", "--admins", "3", "--answers", "20")
    seeded = run_seed(["--sqlite", sqlite_path], *options)
    assert seeded.returncode == 0, seeded.stderr
    env = {
        "SECRET_KEY": SECRET_KEY,
        "SKILL_SECRET": SECRET,
        "SQLITE_PATH": sqlite_path,
        "LOG_LEVEL": "WARNING",
    }
    with served(env, tmp_path / "node", workers=2) as node:
        yield node


@pytest.mark.timeout(480)
def test_locust_conversations_against_the_bot(load_python: Path, bot: Node, tmp_path: Path) -> None:
    out = tmp_path / "locust"
    env = {
        **os.environ,
        "SKILL_SECRET": SECRET,
        "LOAD_SHAPE": "paper",
        "LOAD_USERS": "5",
        "LOAD_DURATION": "5s",
        "LOAD_WAIT": "0.05,0.2",
        "LOAD_MEMBERS": "50",
        "LOAD_ADMINS": "3",
        "LOAD_SUMMARY": str(out / "summary.json"),
    }
    command = [
        str(load_python),
        "-m",
        "locust",
        "-f",
        "loadtest/locustfile.py,loadtest/shapes.py",
        "--headless",
        "--host",
        bot.url,
        "--only-summary",
        "--csv",
        str(out / "run"),
        "--html",
        str(out / "run.html"),
    ]
    done = run_tool(command, timeout=90, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with (out / "run_stats.csv").open(encoding="utf-8") as stats:
        rows = {row["Name"]: row for row in csv.DictReader(stats)}
    total = rows["Aggregated"]
    assert int(total["Request Count"]) > 0
    assert int(total["Failure Count"]) == 0, (out / "run_failures.csv").read_text()
    assert {"메뉴", "설문목록", "참여", "제출"} <= set(rows)  # whole member conversations
    assert (out / "run.html").stat().st_size > 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["shape"] == "PaperShape" and summary["failures"] == 0


def test_fixed_rate_generator_and_wrk_against_the_bot(bot: Node, tmp_path: Path) -> None:
    report = tmp_path / "openloop.json"
    done = run_tool(
        [
            sys.executable,
            "-m",
            "loadtest.openloop",
            "--url",
            f"{bot.url}/skill",
            "--rate",
            "40",
            "--duration",
            "2",
            "--connections",
            "4",
            "--members",
            "50",
            "--secret",
            SECRET,
            "--json",
            str(report),
        ]
    )
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads(report.read_text())
    assert summary["measured_requests"] == 80 and summary["statuses"] == {"200": 80}
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (scripts/bench installs the Debian package)")
    wrk = run_tool(
        ["wrk", "-t1", "-c2", "-d1s", "-s", "loadtest/wrk/skill.lua", f"{bot.url}/skill"],
        env={**os.environ, "SKILL_SECRET": SECRET, "WRK_MEMBERS": "50"},
    )
    assert wrk.returncode == 0, wrk.stderr
    line = next(line for line in wrk.stdout.splitlines() if line.startswith("WRK_JSON "))
    figures = json.loads(line.removeprefix("WRK_JSON "))
    assert figures["requests"] > 0 and figures["errors"]["status"] == 0


def test_load_targets_must_be_loopback() -> None:
    check_loopback("http://127.0.0.1:8000/skill")
    check_loopback("http://localhost:8000/skill")
    with pytest.raises(SystemExit, match="not a loopback address"):
        check_loopback("http://192.0.2.10/skill")  # resolved only, never contacted
