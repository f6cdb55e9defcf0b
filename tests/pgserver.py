"""A throwaway PostgreSQL server for tests, or an existing one named by SURVEYBOT_TEST_DATABASE_URL.

Usage: server = PgServer.start(); url = server.create_database("t1"); ...; server.stop().
As root, the server binaries run as the `postgres` system user (initdb refuses root).
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

ENV_URL = "SURVEYBOT_TEST_DATABASE_URL"
BIN_DIRS = ("/usr/lib/postgresql/15/bin",)
# Durability is worthless for a server that lives as long as a test run.
FAST_SETTINGS = ("fsync=off", "full_page_writes=off", "synchronous_commit=off")


class PgServerError(RuntimeError):
    pass


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for folder in BIN_DIRS:
        candidate = Path(folder) / name
        if candidate.is_file():
            return str(candidate)
    raise PgServerError(
        f"PostgreSQL server binary {name!r} not found on PATH or in {BIN_DIRS}; "
        "install postgresql-15 (scripts/test does) or set " + ENV_URL
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _scratch_parent() -> str | None:
    """A RAM disk when there is a roomy one: CREATE DATABASE is ~20x faster there than on disk."""
    shm = Path("/dev/shm")
    try:
        if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free >= 1 << 30:
            return str(shm)
    except OSError:
        pass
    return None  # the system temp directory


def _run_as() -> list[str]:
    """Command prefix that drops root to the postgres user."""
    if os.geteuid() != 0:
        return []
    try:
        subprocess.run(["id", "-u", "postgres"], check=True, capture_output=True)
    except subprocess.CalledProcessError:
        raise PgServerError(
            "running as root but there is no `postgres` system user to run PostgreSQL as; "
            "scripts/test creates it (useradd --system postgres)"
        ) from None
    return ["runuser", "-u", "postgres", "--"]


def _start(prefix: list[str], data: Path, tempdir: Path) -> int:
    """Start the server on a free port; retry if another process took the port meanwhile."""
    for attempt in range(3):
        port = _free_port()
        options = " ".join(
            [f"-p {port}", "-c listen_addresses=127.0.0.1",
             f"-c unix_socket_directories={tempdir}", "-c max_connections=200"]
            + [f"-c {setting}" for setting in FAST_SETTINGS]
        )  # fmt: skip
        try:
            subprocess.run(
                [*prefix, _binary("pg_ctl"), "-D", str(data), "-l", str(tempdir / "log"),
                 "-o", options, "-w", "-t", "30", "start"],
                check=True, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
            )  # fmt: skip
            return port
        except subprocess.CalledProcessError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


class PgServer:
    """A server reachable at base_url (no database part); owns its data directory if started."""

    def __init__(self, base_url: str, tempdir: Path | None = None) -> None:
        self.base_url = base_url
        self._tempdir = tempdir
        self._prefix = _run_as() if tempdir is not None else []

    @classmethod
    def start(cls) -> PgServer:
        external = os.environ.get(ENV_URL)
        if external:
            parts = urlsplit(external)
            return cls(urlunsplit(parts._replace(path="/", query="")).rstrip("/"))
        prefix = _run_as()
        tempdir = Path(tempfile.mkdtemp(prefix="surveybot-pg-", dir=_scratch_parent()))
        if prefix:
            shutil.chown(tempdir, "postgres", "postgres")
        data = tempdir / "data"
        try:
            subprocess.run(
                [*prefix, _binary("initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                 "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"],
                check=True, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
            )  # fmt: skip
            port = _start(prefix, data, tempdir)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            log = tempdir / "log"
            detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            shutil.rmtree(tempdir, ignore_errors=True)
            output = getattr(exc, "stderr", "") or ""
            raise PgServerError(f"could not start PostgreSQL: {exc}\n{output}\n{detail}") from exc
        server = cls(f"postgresql://postgres@127.0.0.1:{port}", tempdir)
        atexit.register(server.stop)  # also when the test session ends abnormally
        return server

    def url(self, dbname: str = "postgres") -> str:
        return f"{self.base_url}/{dbname}"

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database and return its URL."""
        name = name or "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            # template0: pristine whatever a test may have done to template1.
            query = sql.SQL("CREATE DATABASE {} TEMPLATE template0")
            conn.execute(query.format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            # FORCE: a pool that was not closed must not keep the database alive.
            query = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            conn.execute(query.format(sql.Identifier(name)))

    def stop(self) -> None:
        if self._tempdir is None:
            return
        subprocess.run(
            [*self._prefix, _binary("pg_ctl"), "-D", str(self._tempdir / "data"),
             "-m", "immediate", "-w", "stop"],
            check=False, capture_output=True, timeout=60, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        shutil.rmtree(self._tempdir, ignore_errors=True)
        self._tempdir = None
