"""devstack's own contracts that the stack tests do not show: the one list of the app's settings,
and state files written by an older devstack."""

from __future__ import annotations

import re
from pathlib import Path

from devstack.config import StackConfig
from devstack.nginx import ensure_somaxconn
from devstack.settings import APP_SETTINGS, app_env, is_app_setting

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


def test_somaxconn_is_raised_only_when_lower_and_allowed(tmp_path: Path) -> None:
    cap = tmp_path / "somaxconn"
    cap.write_text("4096\n")
    assert ensure_somaxconn(4096, cap) is None
    cap.write_text("128\n")
    said = ensure_somaxconn(4096, cap)
    assert said is not None and "from 128 to 4096" in said and cap.read_text() == "4096"
    assert ensure_somaxconn(4096, tmp_path / "missing" / "somaxconn") is None  # not visible
