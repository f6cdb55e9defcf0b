"""gunicorn settings for `surveybot serve` and the container (`-c python:surveybot.gunicorn_conf`).

Every value comes from the environment so one file serves development, compose and benchmarks.
"""

import os

bind = (
    os.environ.get("BIND")
    or f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
)
# Short names for our worker classes (docs/worker-classes.md). meinheld's own worker,
# egg:meinheld#gunicorn_worker, kills this master when one of its workers dies: its name gets the shim.
_WORKER_ALIASES = {
    "meinheld": "surveybot.workers.MeinheldWorker",
    "egg:meinheld#gunicorn_worker": "surveybot.workers.MeinheldWorker",
}
_worker_class = os.environ.get("GUNICORN_WORKER_CLASS") or "gthread"
worker_class = _WORKER_ALIASES.get(_worker_class, _worker_class)
if worker_class in ("gthread", "gunicorn.workers.gthread.ThreadWorker"):
    # Each worker serves this many requests at once; DB_POOL_MAX should be about the same.
    threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# gunicorn's plain worker: one request at a time per process, one connection per request (it closes
# after every reply; nginx buffers the bodies), the queue stays in the listen backlog. It never
# sets `threads` (with threads gunicorn would silently run gthread instead).
_sync = worker_class in ("sync", "egg:gunicorn#sync", "gunicorn.workers.sync.SyncWorker")
if _sync and not os.environ.get("DB_POOL_MAX"):
    # One connection in use at a time: the app's default pool of 4 would only hold idle ones
    # (nodes x WORKERS x DB_POOL_MAX counts against PostgreSQL's max_connections). 2, not 1: a
    # request that ever holds two at once gets the second instead of waiting out the pool's
    # timeout against itself. The workers inherit it from the master (gunicorn sets raw_env
    # there before forking).
    raw_env = [f"DB_POOL_MAX={max(2, int(os.environ.get('DB_POOL_MIN') or 1))}"]
# Processes per node. A sync worker overlaps no database waits, so by default it gets two per core
# (the 4 measured on 2 cores; docs/worker-classes.md); every other class one per core.
workers = int(os.environ.get("WORKERS") or (os.cpu_count() or 2) * (2 if _sync else 1))
# gevent and gthread: open connections per worker. meinheld: its highest file descriptor number.
# nginx holds one per waiting request plus its idle keep-alives (64 per nginx worker): 1,000 per
# app worker covers a burst of 1,000 users on a 2-worker node.
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "1000"))
# Connections waiting to be accepted while every worker is busy (the kernel caps it at
# net.core.somaxconn). A request that waited too long is shed by the app (SHED_AFTER_MS).
backlog = int(os.environ.get("GUNICORN_BACKLOG", "2048"))
# Kakao gives up after 5 s; a worker stuck far longer than that is broken, not busy. A sync worker
# beats only between requests, so its timeout bounds every request: an export of a large survey
# (the .xlsx of 1M respondents takes ~80 s) must fit, as it does nginx's 300 s for /exports/.
timeout = int(os.environ.get("GUNICORN_TIMEOUT") or ("300" if _sync else "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "10"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# No preload: each worker opens its own database pool after the fork.
preload_app = False
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
# Export links are passwords: this logger redacts /exports/<token> from access and error lines.
logger_class = "surveybot.log_redaction.GunicornLogger"
# gunicorn's own lines (worker started, killed, timed out) in the app's JSON format, so one log
# pipeline reads both. LOG_FORMAT=text, or development, keeps gunicorn's plain lines.
_env = (os.environ.get("SURVEYBOT_ENV") or "production").lower()
if (os.environ.get("LOG_FORMAT") or ("text" if _env == "development" else "json")) == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "surveybot.observability.JsonFormatter"}},
        "handlers": {
            "error_console": {"class": "logging.StreamHandler", "formatter": "json"},
            "console": {"class": "logging.StreamHandler", "formatter": "json"},
        },
        "loggers": {
            "gunicorn.error": {"handlers": ["error_console"], "propagate": False},
            "gunicorn.access": {"handlers": ["console"], "propagate": False},
        },
    }
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
proc_name = "surveybot"
# gunicorn 27's control socket has one default path per user: several nodes on one machine (the
# native stack, benchmarks) would fight over it. Name one with GUNICORN_CONTROL_SOCKET to use it.
if os.environ.get("GUNICORN_CONTROL_SOCKET"):
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]
else:
    control_socket_disable = True

# Prometheus multiprocess mode: /metrics adds up every worker's samples from this folder.
_metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")


def on_starting(server: object) -> None:
    """Start each node with an empty metrics folder: old workers' files would be counted."""
    if _metrics_dir:
        os.makedirs(_metrics_dir, exist_ok=True)
        for name in os.listdir(_metrics_dir):
            if name.endswith(".db"):
                os.unlink(os.path.join(_metrics_dir, name))


def child_exit(server: object, worker: object) -> None:
    """Drop a dead worker's live gauges (the pool figures) from the sums."""
    if _metrics_dir:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined,no-untyped-call]


# Import the app's code in the master, so workers fork warm: on a graceful reload (HUP) gunicorn
# stops the old workers at once, and a new one that still has to import would leave the node
# without an accepting worker for as long as that takes (seconds under load: nginx then times
# out). The database pool is still opened per worker by get_app(), after the fork. Not for gevent:
# psycopg picks its wait function when imported, and must see gevent's patches first.
if "gevent" not in worker_class:
    import surveybot.app  # noqa: E402, F401
