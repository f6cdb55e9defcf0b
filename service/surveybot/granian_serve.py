"""The skill server under granian: `surveybot serve` (after migrating) and the image run this.

granian is a Rust HTTP server whose WSGI apps run on a pool of blocking threads in each worker
process. On this app it costs 0.05 ms of CPU a request where gunicorn's gthread costs 0.25-0.3 ms
(docs/granian.md), with the same overlap of database waits (threads), so it is the default;
`surveybot serve --server gunicorn` keeps gunicorn (gunicorn_conf.py) one setting away.

Every value comes from the environment, with the names gunicorn_conf reads where both servers
have the setting, so one `.env` serves either: BIND or HOST/PORT, WORKERS (default one per core),
GUNICORN_THREADS (threads per worker, default 4; keep DB_POOL_MAX about the same),
GUNICORN_BACKLOG, GUNICORN_WORKER_CONNECTIONS (requests a worker takes at once; more wait in the
listen backlog, where shedding still sees them), GUNICORN_GRACEFUL_TIMEOUT, GUNICORN_ACCESS_LOG,
LOG_LEVEL and LOG_FORMAT.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

# granian's own logger and its access logger (granian.log).
SERVER_LOGGER = "_granian"
ACCESS_LOGGER = "granian.access"
LEVELS = ("critical", "error", "warning", "info", "debug")
# What gunicorn's access log said, in granian's fields; the request id is nginx's (X-Request-Id).
ACCESS_FORMAT = (
    '%(addr)s "%(method)s %(path)s %(protocol)s" %(status)d %(dt_ms).1fms '
    "request_id=%(header{x-request-id})s"
)


def address(env: Mapping[str, str]) -> tuple[str, int]:
    """BIND (host:port, as gunicorn's `bind`; the image sets it) or HOST and PORT."""
    bind = env.get("BIND")
    if bind:
        host, _, port = bind.rpartition(":")
        return host.strip("[]") or "0.0.0.0", int(port)
    return env.get("HOST", "127.0.0.1"), int(env.get("PORT", "8000"))


def log_config(env: Mapping[str, str]) -> dict[str, Any]:
    """granian's lines in the app's format (JSON in production, as gunicorn_conf does), export
    tokens redacted from both loggers, and the access log only when GUNICORN_ACCESS_LOG names
    where (`-` for standard output): nginx logs every request already."""
    environment = (env.get("SURVEYBOT_ENV") or "production").lower()
    fmt = env.get("LOG_FORMAT") or ("text" if environment == "development" else "json")
    formatter = (
        {"()": "surveybot.observability.JsonFormatter"}
        if fmt == "json"
        else {"()": "logging.Formatter", "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    )
    access = env.get("GUNICORN_ACCESS_LOG") or "-"
    access_handler: dict[str, Any] = (
        {"class": "logging.StreamHandler", "stream": "ext://sys.stdout"}
        if access == "-"
        else {"class": "logging.FileHandler", "filename": access}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": {"()": "surveybot.log_redaction.RedactExportTokens"}},
        "formatters": {"line": formatter},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "line",
                "filters": ["redact"],
            },
            "access": {**access_handler, "formatter": "line", "filters": ["redact"]},
        },  # fmt: skip
        "loggers": {
            SERVER_LOGGER: {"handlers": ["console"], "propagate": False},
            ACCESS_LOGGER: {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
    }


def options(env: Mapping[str, str]) -> dict[str, Any]:
    """granian.server.Server's keyword arguments for these settings."""
    host, port = address(env)
    level = (env.get("LOG_LEVEL") or "info").lower()
    return {
        "target": "surveybot.app:get_app",
        "factory": True,
        "interface": "wsgi",
        "address": host,
        "port": port,
        "workers": int(env.get("WORKERS") or os.cpu_count() or 2),
        "blocking_threads": int(env.get("GUNICORN_THREADS") or 4),
        "backlog": max(128, int(env.get("GUNICORN_BACKLOG") or 2048)),
        "backpressure": int(env.get("GUNICORN_WORKER_CONNECTIONS") or 1000),
        "workers_kill_timeout": max(1, int(env.get("GUNICORN_GRACEFUL_TIMEOUT") or 10)),
        # nginx speaks HTTP/1.1 to the nodes; a WSGI app has no websockets.
        "http": "1",
        "websockets": False,
        # A dead worker (the OOM killer) is started again, as gunicorn's master does.
        "respawn_failed_workers": True,
        "log_level": level if level in LEVELS else "info",
        "log_dictconfig": log_config(env),
        "log_access": bool(env.get("GUNICORN_ACCESS_LOG")),
        "log_access_format": ACCESS_FORMAT,
    }


def clear_metrics(folder: str | None) -> None:
    """A node starts with an empty Prometheus multiprocess folder: a former run's files would be
    added to this one's sums (gunicorn_conf's on_starting)."""
    if folder:
        os.makedirs(folder, exist_ok=True)
        for name in os.listdir(folder):
            if name.endswith(".db"):
                os.unlink(os.path.join(folder, name))


def main() -> None:
    from granian.constants import HTTPModes, Interfaces
    from granian.log import LogLevels
    from granian.server import Server

    clear_metrics(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
    settings = options(os.environ)
    settings.update(
        interface=Interfaces(settings["interface"]),
        http=HTTPModes(settings["http"]),
        log_level=LogLevels(settings["log_level"]),
    )
    Server(**settings).serve()


if __name__ == "__main__":
    main()
