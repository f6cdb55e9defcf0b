"""PostgreSQL: a server's databases (Server), a cluster devstack owns (Cluster), a scratch cluster.

    with scratch() as cluster:                      # the tests' throwaway server
        url = cluster.create_database()             # an empty database, template0
        cluster.drop_database(url.rsplit("/", 1)[1])
    cluster = Cluster(folder, port); cluster.init(); cluster.start()   # the stack's

As root the binaries run as the `postgres` user (initdb refuses root). psycopg is imported only
where a database is used: devstack itself needs nothing but the standard library.
"""

from __future__ import annotations

import atexit
import shutil
import signal
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from devstack.binaries import as_postgres, chown_to_postgres, pg_binary
from devstack.paths import scratch_folder
from devstack.ports import free_port
from devstack.procs import StackError, children, run, send, start_time, tail, wait_for

# Durability is worthless for data that lives as long as a test run or a benchmark window.
FAST = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
Params = Sequence[Any] | Mapping[str, Any]


class Server:
    """A PostgreSQL server reached as its superuser: database URLs, databases and queries."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    @classmethod
    def from_url(cls, url: str) -> Server:
        """The server of a database URL (its database part is dropped)."""
        parts = urlsplit(url)
        return cls(urlunsplit(parts._replace(path="/", query="")))

    def url(self, dbname: str = "postgres") -> str:
        return f"{self.base_url}/{dbname}"

    def create_database(self, name: str | None = None) -> str:
        """Create an empty database (a random name by default) and return its URL."""
        from psycopg import sql

        name = name or "t_" + uuid.uuid4().hex[:12]
        # template0: pristine whatever a test may have done to template1.
        self._admin(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        from psycopg import sql

        # FORCE: a pool that was not closed must not keep the database alive.
        query = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        self._admin(query)

    def query(self, statement: str, params: Params = (), dbname: str = "postgres") -> list[Any]:
        """Run one statement (autocommit) and return its rows."""
        import psycopg

        with psycopg.connect(self.url(dbname), autocommit=True, connect_timeout=5) as conn:
            cursor = conn.execute(statement.encode(), params)
            return cursor.fetchall() if cursor.description else []

    def _admin(self, statement: Any) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True, connect_timeout=5) as conn:
            conn.execute(statement)


class Cluster(Server):
    """A cluster in `folder` (data/, postgres.log, its socket) on 127.0.0.1:`port`."""

    def __init__(
        self,
        folder: Path,
        port: int,
        max_connections: int = 100,
        settings: Mapping[str, str] | None = None,
        conf: str | None = None,
    ) -> None:
        super().__init__(f"postgresql://postgres@127.0.0.1:{port}")
        self.folder = folder
        self.port = port
        self.max_connections = max_connections
        self.settings = dict(settings or {})
        self.conf = conf  # an extra settings file, e.g. compose's tuned one from db/

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def log(self) -> Path:
        return self.folder / "postgres.log"

    def move_to(self, port: int) -> None:
        """Listen on `port` from the next start."""
        self.port = port
        self.base_url = f"postgresql://postgres@127.0.0.1:{port}"

    def init(self) -> None:
        """initdb, then the settings: `conf` included, the cluster's own after it (they win)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        chown_to_postgres(self.folder)
        run(
            [*as_postgres(), pg_binary("initdb"), "-D", str(self.data), "-U", "postgres",
             "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"],
            "initdb",
        )  # fmt: skip
        lines = ["", "# devstack"]
        if self.conf:
            tuned = self.data / "surveybot-tuning.conf"
            shutil.copyfile(self.conf, tuned)
            chown_to_postgres(tuned)
            lines.append("include 'surveybot-tuning.conf'")
        own = {
            "listen_addresses": "'127.0.0.1'", "unix_socket_directories": f"'{self.folder}'",
            "max_connections": str(self.max_connections), **self.settings,
        }  # fmt: skip
        lines += [f"{key} = {value}" for key, value in own.items()]
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n".join(lines) + "\n")

    def _pg_ctl(self, *args: str, what: str) -> None:
        command = [*as_postgres(), pg_binary("pg_ctl"), "-D", str(self.data), *args]
        run(command, what, timeout=40)

    def start(self) -> None:
        # The port on the command line: a retry on another port needs no new postgresql.conf.
        self._pg_ctl("-l", str(self.log), "-o", f"-p {self.port}", "-w", "-t", "30", "start",
                     what=f"starting PostgreSQL (log: {self.log})")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (fast: connections are cut); immediate if that fails."""
        if self.pid() is None:
            return
        try:
            self._pg_ctl("-m", mode, "-w", "-t", "30", "stop", what="stopping PostgreSQL")
        except StackError:
            if mode != "immediate":
                self.stop("immediate")

    def kill(self) -> None:
        """SIGKILL the postmaster and every server process at once, as a crash or the OOM killer;
        the next start recovers from the write-ahead log."""
        pid = self.pid()
        if pid is None:
            return
        victims = [pid, *children(pid)]
        for victim in victims:
            send(victim, signal.SIGKILL)
        # Until the last backend is gone its shared memory blocks a new postmaster.
        wait_for(lambda: all(start_time(v) is None for v in victims), 10, "PostgreSQL to die")

    def restart(self, downtime: float = 0) -> None:
        """Stop (fast), wait `downtime` seconds, start again."""
        self.stop("fast")
        time.sleep(downtime)
        self.start()

    def pid(self) -> int | None:
        """The postmaster's pid while it runs."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        return pid if start_time(pid) is not None else None

    def destroy(self) -> None:
        """Stop at once and remove the folder with its data."""
        self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def scratch(max_connections: int = 200) -> Iterator[Cluster]:
    """A throwaway cluster on a free port, without durability; gone when the block ends."""
    cluster = Cluster(scratch_folder("surveybot-pg-"), 0, max_connections, FAST)
    atexit.register(cluster.destroy)  # also when the caller ends abnormally
    try:
        cluster.init()
        _start_on_a_free_port(cluster)
        yield cluster
    finally:
        cluster.destroy()
        atexit.unregister(cluster.destroy)


def _start_on_a_free_port(cluster: Cluster, attempts: int = 3) -> None:
    """Start; again on another port if a process took the free one meanwhile."""
    for attempt in range(attempts):
        cluster.move_to(free_port())
        try:
            cluster.start()
            return
        except StackError as error:
            if attempt == attempts - 1:
                raise StackError(f"{error}\n{tail(cluster.log)}") from None
