"""Smoke tests of the load tools (loadtest/): they run, they agree with the app; no figures asserted.

The locust and baseline tests use .venv-load, which loadtest/setup creates when it is missing
(about a minute, once); they are skipped, saying why, when it cannot be created.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from loadtest.baselines import tools
from loadtest.kakao import (
    FREE_TEXTS,
    SEED_SURVEYS,
    admin_key,
    admin_name,
    check_loopback,
    encode,
    extra_key,
    member_key,
    member_name,
    payload,
)
from loadtest.seed_plan import Plan

from devstack.binaries import pg_binary
from devstack.nodes import Node
from devstack.openbuilder import assert_valid_reply, reply_text
from devstack.ports import free_port
from devstack.services import Service
from support.gunicorn_helper import served
from support.keys import DATA_KEYS, INDEX_KEY, OLD_DATA_KEYS, TEST_KEYRING, keyring_of
from surveybot.conversation.context import Context, Settings
from surveybot.store import open_store
from surveybot.store.base import Store
from surveybot.store.keys_sql import TABLES, KeyProblem

# The load tools run as processes: seed, locust, wrk, the Go echo server, nginx, `surveybot serve`.
pytestmark = pytest.mark.system
ROOT = Path(__file__).resolve().parent.parent
LOAD_PYTHON = ROOT / ".venv-load" / "bin" / "python"
SEED = [sys.executable, "-m", "loadtest.seed"]  # from ROOT, as _run does
SECRET = "load-smoke-skill-secret"
SECRET_KEY = "load-smoke-secret-key-0123456789"
NOW = datetime.now(UTC)


def _run(
    command: list[str], timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env, check=False
    )


@pytest.fixture(scope="session")
def load_python() -> Path:
    """The .venv-load interpreter, made (or brought up to date) by loadtest/setup."""
    try:
        done = _run([str(ROOT / "loadtest" / "setup")], timeout=400)
    except subprocess.TimeoutExpired:
        pytest.skip("loadtest/setup took over 400 s: is PyPI reachable?")
    if done.returncode != 0 or not LOAD_PYTHON.exists():
        pytest.skip(f"cannot create .venv-load with loadtest/setup: {done.stderr[-500:]}")
    return LOAD_PYTHON


def _database(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str | None, str, list[str]]:
    """(database_url, sqlite_path, the seed.py target option) of a migrated, empty database."""
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_url")
        target = (url, "", ["--database-url", url])
    else:
        path = str(tmp_path / "load.sqlite3")
        target = (None, path, ["--sqlite", path])
    store = open_store(target[0], target[1])
    try:
        store.migrate()
    finally:
        store.close()
    return target


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str | None, str, list[str]]:
    return _database(request, tmp_path)


def _seed(
    target: list[str], *options: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """seed.py, plaintext unless `env` or `options` give it keys (never this process's)."""
    base = {k: v for k, v in os.environ.items() if k not in ("DATA_KEYS", "INDEX_KEY")}
    return _run([*SEED, *target, *options], env={**base, **(env or {})})


def _respondent(store: Store, key: str, survey_id: int) -> str:
    """The respondent key as the bot computes it (named or anonymous)."""
    user, _, _ = store.load_context(key, NOW)
    survey = store.get_survey(survey_id)
    assert user is not None and survey is not None
    settings = Settings(secret_key=SECRET_KEY.encode(), public_base_url="http://127.0.0.1")
    context = Context(store, settings, key, "", {}, NOW, user=user)
    return context.respondent(survey)


def test_seed_writes_what_the_app_reads(database: tuple[str | None, str, list[str]]) -> None:
    url, path, target = database
    done = _seed(target, "--members", "20", "--admins", "2", "--answers", "30")
    assert done.returncode == 0, done.stderr
    store = open_store(url, path)
    try:
        member, _, _ = store.load_context(member_key(1), NOW)
        admin, _, _ = store.load_context(admin_key(2), NOW)
        assert member is not None and member.name == member_name(1) and not member.is_admin
        assert admin is not None and admin.is_admin
        assert store.load_context(extra_key(10), NOW)[0] is not None
        listed = store.list_open_surveys(member.id, NOW)
        assert sorted(s.survey.title for s in listed) == sorted(s["title"] for s in SEED_SURVEYS)
        assert [s.survey.anonymous for s in listed].count(True) == 1
        results = store.results(1)
        assert results is not None and (results.respondents, results.population) == (30, 32)
        mine = store.get_response(1, _respondent(store, member_key(1), 1))
        assert mine is not None and len(mine.answers) == 3 and mine.submitted_at is not None
        with store.export_rows(1) as rows:
            assert sum(1 for _ in rows) == 30
        pending = store.pending(1)
        assert pending is not None and len(pending.people) == 2  # the two admins
    finally:
        store.close()

    refused = _seed(target)
    assert refused.returncode != 0 and "--reset" in refused.stderr

    # Anonymous answers are keyed by the bot's own HMAC of the person, and name nobody.
    done = _seed(
        target,
        "--reset",
        "--members",
        "8",
        "--admins",
        "1",
        "--answers",
        "5",
        "--answers-survey",
        "4",
        "--secret-key",
        SECRET_KEY,
    )
    assert done.returncode == 0, done.stderr
    store = open_store(url, path)
    try:
        results = store.results(4)
        assert results is not None and results.respondents == 5 and results.survey.anonymous
        answer = store.get_response(4, _respondent(store, member_key(5), 4))
        assert answer is not None and answer.submitted_at is None
        assert store.get_response(4, _respondent(store, member_key(6), 4)) is None
        with store.export_rows(4) as rows:
            assert [row.name for row in rows] == [None] * 5
        pending = store.pending(4)
        assert pending is not None and len(pending.people) == 4  # 3 members and the admin
    finally:
        store.close()


def test_seed_with_keys_seals_as_the_app(database: tuple[str | None, str, list[str]]) -> None:
    """Sealed with the bot's keys: the bot reads every seeded row, `keys verify` finds nothing
    left to seal, and the database holds none of the names or written answers."""
    url, path, target = database
    keys = ("--data-keys", DATA_KEYS, "--index-key", INDEX_KEY)
    done = _seed(target, "--members", "20", "--admins", "2", "--answers", "30", *keys)
    assert done.returncode == 0, done.stderr
    assert "sealed with key 't1'" in done.stdout
    store = open_store(url, path, keyring=TEST_KEYRING)
    try:
        store.check_keys()  # the seed registered the keys it sealed with, as a bot does
        plan = Plan(members=20, admins=2, answers=30, answers_survey=1, secret_key=None, now=NOW)
        ids = {}
        for person in plan.respondents():  # 20 members, then 10 extra people
            user, _, _ = store.load_context(person.key, NOW)
            assert user is not None and user.name == person.name
            assert user.member_no == person.member_no
            ids[person.key] = user.id
        admin, _, _ = store.load_context(admin_key(2), NOW)
        assert admin is not None and admin.name == admin_name(2) and admin.is_admin
        texts = 0
        for respondent, _, answers, _, _ in plan.responses(1, False, ids):
            stored = store.get_response(1, respondent)
            assert stored is not None and list(stored.answers) == json.loads(answers)
            texts += bool(stored.answers[2])
        assert texts > 0  # some written answers were sealed, and open right
        with store.export_rows(1) as rows:
            named = sorted((row.name, row.member_no) for row in rows)
        assert named == sorted((p.name, p.member_no) for p in plan.respondents())
        for table in TABLES:  # what `surveybot keys verify` checks
            after = None
            while True:
                batch = store.reseal(table, after, 1000, verify_only=True)
                assert (batch.due, batch.broken) == (0, []), table
                if (after := batch.after) is None:
                    break
    finally:
        store.close()
    other = open_store(url, path, keyring=keyring_of(OLD_DATA_KEYS))
    try:
        with pytest.raises(KeyProblem):  # a bot with other keys refuses to start on it
            other.check_keys()
    finally:
        other.close()
    held = _database_bytes(url, path)
    assert SEED_SURVEYS[0]["title"].encode() in held  # what is not personal is still there
    names = {p.name for p in plan.people()}
    words = " ".join(json.dumps(s, ensure_ascii=False) for s in SEED_SURVEYS)
    secret = names | {text for text in FREE_TEXTS if text not in words}
    assert [value for value in sorted(secret) if value.encode() in held] == []

    # Anonymous answers, the keys from the environment as the bot has them: texts sealed too.
    env = {"DATA_KEYS": DATA_KEYS, "INDEX_KEY": INDEX_KEY}
    anonymous = ("--answers-survey", "4", "--secret-key", SECRET_KEY)
    done = _seed(target, "--reset", "--members", "8", "--answers", "8", *anonymous, env=env)
    assert done.returncode == 0, done.stderr
    store = open_store(url, path, keyring=TEST_KEYRING)
    try:
        with store.export_rows(4) as rows:
            exported = list(rows)
        assert len(exported) == 8 and {row.name for row in exported} == {None}
        assert any(isinstance(a, str) and a for row in exported for a in row.answers)
        for table in TABLES:
            batch = store.reseal(table, None, 1000, verify_only=True)
            assert (batch.due, batch.broken, batch.after) == (0, [], None), table
    finally:
        store.close()


def _database_bytes(url: str | None, path: str) -> bytes:
    """All the database holds, as a backup or a stolen file would: pg_dump, or the SQLite file
    and its WAL after a checkpoint."""
    if url:
        return subprocess.run([pg_binary("pg_dump"), url], capture_output=True, check=True).stdout
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    files = [Path(path), Path(f"{path}-wal")]
    return b"".join(f.read_bytes() for f in files if f.exists())


@pytest.mark.timeout(420)
def test_baselines_answer_one_request(load_python: Path, tmp_path: Path, pg_url: str) -> None:
    sqlite_path = str(tmp_path / "names.sqlite3")
    for target in (["--sqlite", sqlite_path], ["--database-url", pg_url]):
        done = _seed(target, "--migrate", "--members", "10", "--admins", "1")
        assert done.returncode == 0, done.stderr
    workbook = str(tmp_path / "members.xlsx")
    made = _run(
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
    smoke = _run(
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
    seeded = _seed(["--sqlite", sqlite_path], *options)
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
    done = _run(command, timeout=90, env=env)
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
    done = _run(
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
    wrk = _run(
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
