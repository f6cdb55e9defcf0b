"""The study's second data store, SQLite3: the same name lookup on a seeded surveybot database.

    BASELINE_SQLITE_PATH=var/load/bot.sqlite3 .venv-load/bin/gunicorn --chdir /work/main \\
        -w 2 -k sync -b 127.0.0.1:8093 loadtest.baselines.sqlite_name:app

One connection per worker thread, kept open (opening per request would add little: SQLite is a
library, not a server); the `users` table of loadtest/seed.py, looked up by its unique key.
"""

from __future__ import annotations

import os
import sqlite3
import threading

from loadtest.baselines.names import make_app

_local = threading.local()


def _connection() -> sqlite3.Connection:
    conn: sqlite3.Connection | None = getattr(_local, "conn", None)
    if conn is None:
        path = os.environ.get("BASELINE_SQLITE_PATH", "data/surveybot.sqlite3")
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        _local.conn = conn
    return conn


def lookup(user_key: str) -> str | None:
    row = _connection().execute("SELECT name FROM users WHERE user_key = ?", (user_key,)).fetchone()
    return None if row is None else str(row[0])


app = make_app(__name__, lookup)
