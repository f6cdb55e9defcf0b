"""The app's settings (environment variables): the one list of what an app node must not inherit.

A node gets the settings its starter gives it and nothing of the app's from the caller's
environment; the load generators are kept clear of them the same way. tests/test_devstack.py
checks that this list covers every variable surveybot reads.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Mapping

# Every variable surveybot and its gunicorn configuration read (as .env.example lists them).
APP_SETTINGS = (
    "SURVEYBOT_ENV", "SECRET_KEY", "DATABASE_URL", "SQLITE_PATH", "SKILL_SECRET",
    "SKILL_SECRET_HEADER", "SKILL_SECRET_DISABLED", "SURVEYBOT_ADMIN_CODE", "PUBLIC_BASE_URL",
    "EXPORT_TTL_SECONDS", "SESSION_TTL_SECONDS", "DB_POOL_MIN", "DB_POOL_MAX",
    "DB_CONNECT_TIMEOUT", "DB_STATEMENT_TIMEOUT_MS", "EXPORT_STATEMENT_TIMEOUT_MS", "HOST",
    "PORT", "BIND", "WORKERS", "GUNICORN_WORKER_CLASS", "GUNICORN_THREADS",
    "GUNICORN_WORKER_CONNECTIONS", "GUNICORN_TIMEOUT", "GUNICORN_GRACEFUL_TIMEOUT",
    "GUNICORN_KEEPALIVE", "GUNICORN_ACCESS_LOG", "GUNICORN_CONTROL_SOCKET", "LOG_LEVEL",
    "LOG_FORMAT", "PROMETHEUS_MULTIPROC_DIR", "SURVEYBOT_MIGRATIONS_DIR", "SHED_AFTER_MS",
    "GUNICORN_BACKLOG", "KAKAO_REST_API_KEY", "KAKAO_BOT_ID", "KAKAO_EVENT_NAME",
    "KAKAO_EVENT_API_URL", "REMINDER_RATE_PER_SECOND", "REMINDER_MAX_ATTEMPTS",
    "REMINDER_TIMEOUT_SECONDS", "REMINDER_UNKNOWN_GRACE_SECONDS", "DATA_KEYS", "INDEX_KEY",
    "ENCRYPTION_DISABLED", "KEY_FILE",
)  # fmt: skip
# Whole families: settings added later, and gunicorn's own GUNICORN_CMD_ARGS.
APP_PREFIXES = ("SURVEYBOT_", "GUNICORN_", "DB_")


def derived_keys(secret: str) -> dict[str, str]:
    """DATA_KEYS and INDEX_KEY of a stack, derived from its random SECRET_KEY (kept in its state
    file): a restarted stack opens what it sealed, and no second secret needs keeping."""
    data = hashlib.sha256(f"surveybot stack data key\x00{secret}".encode()).digest()
    index = hashlib.sha256(f"surveybot stack index key\x00{secret}".encode()).digest()
    return {
        "DATA_KEYS": f"stack1:{base64.b64encode(data).decode()}",
        "INDEX_KEY": base64.b64encode(index).decode(),
    }


def is_app_setting(name: str) -> bool:
    return name in APP_SETTINGS or name.startswith(APP_PREFIXES)


def without_app_settings(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """`env` (default: this process's environment) without any of the app's settings."""
    source = os.environ if env is None else env
    return {name: value for name, value in source.items() if not is_app_setting(name)}


def app_env(settings: Mapping[str, str], base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of an app process: `base` cleared of app settings, plus `settings`."""
    return {**without_app_settings(base), **settings}
