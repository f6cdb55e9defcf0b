"""The same name lookup on PostgreSQL (a database the study did not try; our production store).

    BASELINE_DATABASE_URL=postgresql://... .venv-load/bin/gunicorn --chdir /work/main \\
        -w 2 -k sync -b 127.0.0.1:8094 loadtest.baselines.postgres_name:app

One connection per worker process, opened at its first request (after gunicorn's fork) and kept,
as any pooled Python app does; the `users` table of loadtest/seed.py, by its unique key.
"""

from __future__ import annotations

import os
import threading

import psycopg

from loadtest.baselines.names import make_app

_lock = threading.Lock()
_conn: psycopg.Connection | None = None
_pid = 0


def lookup(user_key: str) -> str | None:
    global _conn, _pid
    with _lock:  # sync workers are single-threaded; this keeps gthread correct too
        if _conn is None or _conn.closed or _pid != os.getpid():
            url = os.environ.get("BASELINE_DATABASE_URL") or os.environ["DATABASE_URL"]
            _conn = psycopg.connect(url, autocommit=True)
            _pid = os.getpid()
        row = _conn.execute("SELECT name FROM users WHERE user_key = %s", (user_key,)).fetchone()
    return None if row is None else str(row[0])


app = make_app(__name__, lookup)
