"""devstack's own contracts that the stack tests do not show: the one list of the app's settings,
state files written by an older devstack, and what the stack's notifier is started with."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from devstack import stack as stack_module
from devstack.config import Ports, StackConfig
from devstack.nginx import ensure_somaxconn
from devstack.procs import Proc
from devstack.settings import APP_SETTINGS, app_env, is_app_setting
from devstack.stack import STATE_FILE, Stack

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "service" / "surveybot").rglob("*.py"))
# os.environ.get("X") or os.environ["X"] anywhere; in config.py env.get("X") and _int(env, "X", ...)
# too (env: the environment mapping there, a WSGI environ elsewhere); a constant naming a variable.
READ = re.compile(r"""os\.environ(?:\.get\(|\[)\s*["']([A-Z][A-Z0-9_]+)["']""")
READ_CONFIG = re.compile(r"""\benv(?:\.get\(|, )\s*["']([A-Z][A-Z0-9_]+)["']""")
CONSTANT = re.compile(r"""^ENV_\w+ = ["']([A-Z][A-Z0-9_]+)["']""", re.MULTILINE)


def _read_by_the_app() -> set[str]:
    names: set[str] = set()
    for source in SOURCES:
        text = source.read_text(encoding="utf-8")
        names.update(READ.findall(text), CONSTANT.findall(text))
        if source.name == "config.py":
            names.update(READ_CONFIG.findall(text))
    return names


def _in_env_example() -> set[str]:
    """The app's part of .env.example (the compose-only part follows its marker line)."""
    app_part = (ROOT / ".env.example").read_text().split("---- docker compose only", 1)[0]
    return set(re.findall(r"^#?([A-Z][A-Z0-9_]+)=", app_part, re.MULTILINE))


def test_every_setting_the_app_reads_is_kept_out_of_a_node() -> None:
    read = _read_by_the_app()
    assert {"DATABASE_URL", "GUNICORN_THREADS", "SURVEYBOT_MIGRATIONS_DIR"} <= read  # the regex
    missing = sorted(name for name in read | _in_env_example() if not is_app_setting(name))
    assert missing == [], f"add these to devstack.settings.APP_SETTINGS: {missing}"


def test_every_listed_setting_is_one_the_app_reads() -> None:
    text = "\n".join(source.read_text(encoding="utf-8") for source in SOURCES)
    unknown = [name for name in APP_SETTINGS if f'"{name}"' not in text]
    assert unknown == [], f"devstack.settings lists settings surveybot no longer reads: {unknown}"


def test_a_node_gets_its_settings_and_none_of_the_callers() -> None:
    caller = {"PATH": "/bin", "DATABASE_URL": "postgresql://elsewhere", "DB_POOL_MAX": "99",
              "GUNICORN_CMD_ARGS": "--workers 9", "LOG_FORMAT": "text", "HOME": "/root"}  # fmt: skip
    env = app_env({"SQLITE_PATH": "bot.sqlite3", "LOG_LEVEL": "WARNING"}, caller)
    assert env == {"PATH": "/bin", "HOME": "/root", "SQLITE_PATH": "bot.sqlite3",
                   "LOG_LEVEL": "WARNING"}  # fmt: skip


def test_a_state_file_from_an_older_devstack_still_loads() -> None:
    saved = {"nodes": 3, "workers": 1, "gunicorn_config": "python:surveybot.gunicorn_conf"}
    config = StackConfig.from_state(saved)
    assert (config.nodes, config.workers, config.db) == (3, 1, "postgres")


def test_the_notifier_gets_the_stacks_database_and_settings_and_is_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[tuple[list[str], Path, dict[str, str], Path | None]] = []

    def spawn(
        command: Sequence[str], log: Path, env: Mapping[str, str], cwd: Path | None = None
    ) -> Proc:
        started.append((list(command), log, dict(env), cwd))
        return Proc(pid=4242, start=7)

    monkeypatch.setattr(stack_module.Proc, "spawn", spawn)
    monkeypatch.setenv("DATABASE_URL", "postgresql://elsewhere")  # the caller's: not passed on
    kakao = {"KAKAO_REST_API_KEY": "fake-rest-api-key", "KAKAO_BOT_ID": "fake-bot"}
    config = StackConfig(db="sqlite", env=kakao)
    stack = Stack(tmp_path, config, "stack-secret-key", Ports(nginx=18080, nodes=[18081]))
    stack.start_notifier()
    [(command, log, env, cwd)] = started
    assert command[-2:] == ["surveybot.cli", "notifier"]
    assert log == tmp_path / "notifier" / "notifier.log" and cwd == log.parent
    assert env["SQLITE_PATH"] == str(stack.sqlite_path) and "DATABASE_URL" not in env
    assert env["KAKAO_BOT_ID"] == "fake-bot" and env["SURVEYBOT_ENV"] == "production"
    assert "PROMETHEUS_MULTIPROC_DIR" not in env  # a node's metrics folder is not its own

    stack._save()  # `scripts/stack down` from another process finds it
    loaded = Stack.load(tmp_path)
    assert loaded is not None and loaded.notifier == Proc(pid=4242, start=7)
    state = json.loads((tmp_path / STATE_FILE).read_text())
    del state["notifier"]  # a stack started by an older devstack
    (tmp_path / STATE_FILE).write_text(json.dumps(state))
    older = Stack.load(tmp_path)
    assert older is not None and older.notifier is None


def test_somaxconn_is_raised_only_when_lower_and_allowed(tmp_path: Path) -> None:
    cap = tmp_path / "somaxconn"
    cap.write_text("4096\n")
    assert ensure_somaxconn(4096, cap) is None
    cap.write_text("128\n")
    said = ensure_somaxconn(4096, cap)
    assert said is not None and "from 128 to 4096" in said and cap.read_text() == "4096"
    assert ensure_somaxconn(4096, tmp_path / "missing" / "somaxconn") is None  # not visible
