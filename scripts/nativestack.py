"""The deployment's topology on loopback, without Docker: PostgreSQL (or SQLite), N gunicorn nodes
and nginx rendered from the same template as compose. Tests and benchmarks drive it from Python:

    sys.path.insert(0, "<repo>/scripts"); from nativestack import Stack
    with Stack.up(folder, nodes=3, workers=2, worker_class="gthread", db="postgres") as stack:
        stack.url; stack.nodes[0].port; stack.nodes[0].worker_pids(); stack.kill_node(0)
        stack.restart_node(0); stack.hup_node(1); stack.restart_postgres(); stack.psql("SELECT 1")

and people from the shell: `scripts/stack up|down|status` (see `scripts/stack --help`).
Every process it starts is recorded in <folder>/stack.json, so `down` and `status` work from
another process, and `up` refuses to start over a stack that still runs.
"""

from __future__ import annotations

import argparse
import contextlib
import grp
import http.client
import importlib.util
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
NGINX_SRC = REPO / "nginx"
DEFAULT_DIR = REPO / "var" / "stack"
STATE_FILE = "stack.json"
PG_BIN_DIRS = ("/usr/lib/postgresql/15/bin",)
SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin")
DEFAULT_PORT = 8080
DB_NAME = "surveybot"
# Settings of the app a stack sets itself: the caller's environment must not leak into the nodes.
APP_PREFIXES = ("SURVEYBOT_", "GUNICORN_", "DB_", "PROMETHEUS_")
APP_NAMES = (
    "DATABASE_URL", "SQLITE_PATH", "SECRET_KEY", "SKILL_SECRET", "SKILL_SECRET_HEADER",
    "SKILL_SECRET_DISABLED", "PUBLIC_BASE_URL", "EXPORT_TTL_SECONDS", "EXPORT_STATEMENT_TIMEOUT_MS",
    "SESSION_TTL_SECONDS", "HOST", "PORT", "BIND", "WORKERS", "LOG_LEVEL",
)  # fmt: skip
UPSTREAM_PARAMS = "max_fails=3 fail_timeout=10s"  # the same passive health check as compose
PG_FAST = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
TUNED_PG_CONF = REPO / "db" / "postgresql.conf"


class StackError(RuntimeError):
    """The stack could not be started, reached or stopped; the message says why."""


# --- processes --------------------------------------------------------------------------------


def _start_time(pid: int) -> int | None:
    """The kernel's start time of a live process (guards against reused pids), None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):  # a zombie has finished
        return None
    return int(fields[19])


def _children(pid: int) -> list[int]:
    """Live child pids of `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            found.append(int(entry.name))
    return sorted(found)


def _signal(pid: int | None, signum: int) -> None:
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def wait_for(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll `check` until it is true; StackError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise StackError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


@dataclass
class Proc:
    """A process the stack started: its pid and kernel start time."""

    pid: int
    start: int

    @classmethod
    def spawn(cls, command: Sequence[str], log: Path, env: dict[str, str], cwd: Path) -> Proc:
        with log.open("ab") as out:
            # Own session: a Ctrl-C in the terminal or a test's process group does not reach it,
            # and `scripts/stack up` can exit while it keeps running.
            child = subprocess.Popen(
                list(command), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, cwd=cwd, start_new_session=True,
            )  # fmt: skip
        _REAPERS[child.pid] = child
        return cls(child.pid, _start_time(child.pid) or 0)

    def alive(self) -> bool:
        child = _REAPERS.get(self.pid)
        if child is not None and child.poll() is not None:
            del _REAPERS[self.pid]
            return False
        return _start_time(self.pid) == self.start

    def wait_gone(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def stop(self, signum: int, timeout: float) -> None:
        """Send `signum`, then SIGKILL if it is still there after `timeout` seconds."""
        if not self.alive():
            return
        _signal(self.pid, signum)
        if not self.wait_gone(timeout):
            _signal(self.pid, signal.SIGKILL)
            self.wait_gone(5)


# Popen objects of the processes this Python process started, so finished ones are reaped.
_REAPERS: dict[int, subprocess.Popen[bytes]] = {}


# --- ports and HTTP ---------------------------------------------------------------------------


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int, start: int, exclude: Sequence[int] = ()) -> list[int]:
    """`count` free loopback ports, searching upward from `start`."""
    found: list[int] = []
    port = start
    while len(found) < count:
        if port > 65535 or port > start + 5000:
            raise StackError(f"no {count} free ports from {start}")
        if port not in exclude and _port_free(port):
            found.append(port)
        port += 1
    return found


def http_get(host: str, port: int, path: str, timeout: float = 2.0) -> tuple[int, dict[str, str]]:
    """Status and headers of GET http://host:port/path; (0, {}) when nothing answers."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}
    except OSError:
        return 0, {}
    finally:
        connection.close()


# --- binaries and users -----------------------------------------------------------------------


def binary(name: str, extra_dirs: Sequence[str] = ()) -> str:
    found = shutil.which(name)
    if found:
        return found
    for folder in (*extra_dirs, *SBIN_DIRS):
        candidate = Path(folder) / name
        if candidate.is_file():
            return str(candidate)
    raise StackError(f"{name!r} not found on PATH or in {(*extra_dirs, *SBIN_DIRS)}")


def _as_postgres() -> list[str]:
    """Command prefix that drops root to the postgres user (initdb refuses to run as root)."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise StackError(
            "running as root without a `postgres` user: useradd --system postgres"
        ) from None
    return ["runuser", "-u", "postgres", "--"]


def _nginx_user() -> str:
    """nginx's `user` line: workers drop root to nobody; without root the line is meaningless."""
    if os.geteuid() != 0:
        return ""
    try:
        nobody = pwd.getpwnam("nobody")
        return f"user nobody {grp.getgrgid(nobody.pw_gid).gr_name};"
    except KeyError:
        return "user root;"


def load_render() -> ModuleType:
    spec = importlib.util.spec_from_file_location("surveybot_nginx_render", NGINX_SRC / "render.py")
    if spec is None or spec.loader is None:
        raise StackError(f"cannot load {NGINX_SRC / 'render.py'}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(
    command: Sequence[str],
    what: str,
    timeout: float = 60,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> str:
    try:
        done = subprocess.run(
            list(command), capture_output=True, text=True, timeout=timeout,
            stdin=subprocess.DEVNULL, check=True, env=env, cwd=cwd,
        )  # fmt: skip
    except subprocess.CalledProcessError as error:
        raise StackError(
            f"{what} failed ({error.returncode}):\n{error.stdout}{error.stderr}"
        ) from None
    except subprocess.TimeoutExpired:
        raise StackError(f"{what} did not finish in {timeout:g} s") from None
    return done.stdout


def _existing(path: Path) -> str | None:
    return str(path) if path.is_file() else None


def _tail(path: Path, size: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return ""


# --- PostgreSQL -------------------------------------------------------------------------------


@dataclass
class Postgres:
    """A PostgreSQL 15 cluster in `folder` (data/, postgres.log, its socket) on 127.0.0.1:port."""

    folder: Path
    port: int
    max_connections: int = 100
    settings: dict[str, str] = field(default_factory=dict)
    conf: str | None = None  # an extra settings file, e.g. compose's tuned one from db/

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def log(self) -> Path:
        return self.folder / "postgres.log"

    def url(self, dbname: str = DB_NAME) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def _pg(self, name: str) -> list[str]:
        return [*_as_postgres(), binary(name, PG_BIN_DIRS)]

    def init(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres", "postgres")
        _run(
            [*self._pg("initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
             "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"],
            "initdb",
        )  # fmt: skip
        lines = ["", "# scripts/nativestack.py"]
        if self.conf:
            tuned = self.data / "surveybot-tuning.conf"
            shutil.copyfile(self.conf, tuned)
            if os.geteuid() == 0:
                shutil.chown(tuned, "postgres", "postgres")
            lines.append("include 'surveybot-tuning.conf'")
        # After the include: these must win, they place the server inside the stack.
        own = {
            "listen_addresses": "'127.0.0.1'", "port": str(self.port),
            "unix_socket_directories": f"'{self.folder}'",
            "max_connections": str(self.max_connections), **self.settings,
        }  # fmt: skip
        lines += [f"{key} = {value}" for key, value in own.items()]
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n".join(lines) + "\n")
        self.start()
        self._create_database()

    def _create_database(self) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB_NAME)))

    def start(self) -> None:
        _run(
            [*self._pg("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30",
             "start"],
            f"starting PostgreSQL (log: {self.log})", timeout=40,
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        if self.pid() is None:
            return
        command = [*self._pg("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop"]
        try:
            _run(command, "stopping PostgreSQL", timeout=40)
        except StackError:
            if mode != "immediate":
                self.stop("immediate")

    def pid(self) -> int | None:
        """The postmaster's pid while it runs."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None
        return pid if _start_time(pid) is not None else None


# --- app nodes --------------------------------------------------------------------------------


@dataclass
class Node:
    """One app node: a gunicorn master with its workers, listening on host:port."""

    index: int
    host: str
    port: int
    folder: Path
    proc: Proc | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """The node itself, past nginx: where its /metrics is scraped."""
        return f"http://{self.address}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def log(self) -> Path:
        return self.folder / "gunicorn.log"

    @property
    def metrics_dir(self) -> Path:
        return self.folder / "metrics"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    def worker_pids(self) -> list[int]:
        return _children(self.proc.pid) if self.alive() and self.proc else []

    def ready(self, workers: int) -> bool:
        if not self.alive():
            return False
        status, _ = http_get(self.host, self.port, "/readyz", timeout=2)
        return status == 200 and len(self.worker_pids()) == workers


# --- the stack --------------------------------------------------------------------------------


@dataclass
class StackConfig:
    """What `Stack.up` was asked for; saved in the state file."""

    nodes: int = 1
    workers: int = 2
    worker_class: str = "gthread"
    db: str = "postgres"
    port: int | None = None  # nginx; None: 8080, or the next free port above it
    threads: int | None = None  # GUNICORN_THREADS (and DB_POOL_MAX), app default when None
    log_level: str = "INFO"
    env: dict[str, str] = field(default_factory=dict)  # more app settings, e.g. SKILL_SECRET
    tls_dir: str | None = None  # holds fullchain.pem + privkey.pem: adds the HTTPS server
    https_port: int | None = None
    # compose's tuned settings (db/postgresql.conf); the stack's own address settings win.
    pg_conf: str | None = field(default_factory=lambda: _existing(TUNED_PG_CONF))
    pg_fast: bool = False  # fsync off: for throwaway benchmark data only
    nginx_workers: int = 1
    gunicorn_config: str = "python:surveybot.gunicorn_conf"  # what compose's image runs

    def check(self) -> None:
        if self.db not in ("postgres", "sqlite"):
            raise StackError(f"db must be postgres or sqlite, not {self.db!r}")
        if not 1 <= self.nodes <= 32 or not 1 <= self.workers <= 64:
            raise StackError("nodes must be 1-32 and workers 1-64")

    def pool_max(self) -> int:
        return int(self.env.get("DB_POOL_MAX") or self.threads or 4)


@dataclass
class Ports:
    nginx: int
    nodes: list[int]
    postgres: int | None = None
    https: int | None = None


class Stack:
    """A running stack in `folder`; build it with `Stack.up` or read it back with `Stack.load`."""

    def __init__(self, folder: Path, config: StackConfig, secret_key: str, ports: Ports) -> None:
        self.dir = folder
        self.config = config
        self.secret_key = secret_key
        self.ports = ports
        self.port = ports.nginx
        self.https_port = ports.https
        self.postgres = (
            Postgres(folder / "pg", ports.postgres, self._max_connections(), self._pg_settings(),
                     config.pg_conf)
            if ports.postgres is not None else None
        )  # fmt: skip
        self.nodes = [
            Node(i, "127.0.0.1", port, folder / f"node{i}") for i, port in enumerate(ports.nodes)
        ]
        self.nginx: Proc | None = None

    # --- facts ---
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def https_url(self) -> str | None:
        return f"https://127.0.0.1:{self.https_port}" if self.https_port else None

    @property
    def database_url(self) -> str | None:
        return self.postgres.url() if self.postgres else None

    @property
    def sqlite_path(self) -> Path:
        return self.dir / "surveybot.sqlite3"

    @property
    def nginx_dir(self) -> Path:
        return self.dir / "nginx"

    def _max_connections(self) -> int:
        # Every worker's pool at its maximum, plus migrations, tests and psql.
        return max(100, self.config.nodes * self.config.workers * self.config.pool_max() + 20)

    def _pg_settings(self) -> dict[str, str]:
        return dict(PG_FAST) if self.config.pg_fast else {}

    # --- start ---
    @classmethod
    def up(cls, folder: str | Path | None = None, **options: Any) -> Stack:
        """Start PostgreSQL or SQLite, migrate, start the nodes and nginx; wait until all serve."""
        config = StackConfig(**options)
        config.check()
        binary("nginx")  # fail before starting anything
        if config.db == "postgres":
            binary("initdb", PG_BIN_DIRS)
        target = _prepare_folder(Path(folder or DEFAULT_DIR).resolve())
        stack = cls(target, config, secrets.token_urlsafe(32), _choose_ports(config))
        try:
            stack._start()
        except BaseException:
            stack.down(keep=True)
            raise
        return stack

    def _start(self) -> None:
        self._save()
        if self.postgres:
            self.postgres.init()
        self._save()
        _run([*self._python(), "-m", "surveybot.cli", "migrate"], "surveybot migrate",
             env=self._env(None), cwd=self.dir)  # fmt: skip
        for node in self.nodes:
            self._spawn(node)
        self._save()
        for node in self.nodes:
            self._wait_node(node)
        self._start_nginx()
        self._save()
        self.wait_balanced()

    def _python(self) -> list[str]:
        venv = REPO / ".venv" / "bin" / "python"
        return [str(venv) if venv.exists() else sys.executable]

    def _env(self, node: Node | None) -> dict[str, str]:
        env = {
            k: v for k, v in os.environ.items()
            if not k.startswith(APP_PREFIXES) and k not in APP_NAMES
        }  # fmt: skip
        env.update(
            SURVEYBOT_ENV="production", SECRET_KEY=self.secret_key, LOG_LEVEL=self.config.log_level,
            PUBLIC_BASE_URL=self.url, WORKERS=str(self.config.workers),
            GUNICORN_WORKER_CLASS=self.config.worker_class,
        )  # fmt: skip
        if self.postgres:
            env["DATABASE_URL"] = self.postgres.url()
        else:
            env["SQLITE_PATH"] = str(self.sqlite_path)
        if self.config.threads:
            env.update(
                GUNICORN_THREADS=str(self.config.threads), DB_POOL_MAX=str(self.config.threads)
            )
        if node is not None:
            env.update(BIND=node.address, PROMETHEUS_MULTIPROC_DIR=str(node.metrics_dir))
        if "SKILL_SECRET" not in self.config.env:
            # Production refuses an open /skill unless told; the load tools send no secret.
            env["SKILL_SECRET_DISABLED"] = "true"
        env.update(self.config.env)
        return env

    def _spawn(self, node: Node) -> None:
        node.folder.mkdir(parents=True, exist_ok=True)
        # prometheus_client's multiprocess files must not outlive the processes that wrote them.
        shutil.rmtree(node.metrics_dir, ignore_errors=True)
        node.metrics_dir.mkdir()
        command = [*self._python(), "-m", "gunicorn", "-c", self.config.gunicorn_config,
                   "surveybot.app:get_app()"]  # fmt: skip
        node.proc = Proc.spawn(command, node.log, self._env(node), node.folder)

    def _wait_node(self, node: Node, timeout: float = 30) -> None:
        def ready() -> bool:
            if not node.alive():
                raise StackError(f"node {node.index} exited:\n{_tail(node.log)}")
            return node.ready(self.config.workers)

        try:
            wait_for(ready, timeout, f"node {node.index} on {node.address}", interval=0.1)
        except StackError as error:
            raise StackError(f"{error}\n{_tail(node.log)}") from None

    def _render_nginx(self) -> Path:
        render = load_render()
        folder = self.nginx_dir
        (folder / "temp").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(NGINX_SRC / "surveybot-locations.conf", folder / "surveybot-locations.conf")
        servers = "\n    ".join(f"server {n.address} {UPSTREAM_PARAMS};" for n in self.nodes)
        variables = {
            "SURVEYBOT_UPSTREAM_SERVERS": servers, "SURVEYBOT_RESOLVER": "",
            "SURVEYBOT_HTTP_PORT": f"127.0.0.1:{self.port}",
            "SURVEYBOT_HTTPS_PORT": f"127.0.0.1:{self.https_port}",
            "SURVEYBOT_TLS_DIR": self.config.tls_dir or "",
        }  # fmt: skip
        render.render(NGINX_SRC / "templates", folder / "conf.d", variables)
        main = (NGINX_SRC / "native-main.conf.template").read_text()
        conf = folder / "nginx.conf"
        conf.write_text(render.substitute(main, {
            "SURVEYBOT_NGINX_DIR": str(folder), "SURVEYBOT_NGINX_USER": _nginx_user(),
            "SURVEYBOT_NGINX_WORKERS": str(self.config.nginx_workers),
        }))  # fmt: skip
        return conf

    def _nginx_command(self, conf: Path) -> list[str]:
        return [binary("nginx"), "-e", "stderr", "-p", f"{self.nginx_dir}/", "-c", str(conf)]

    def _start_nginx(self) -> None:
        conf = self._render_nginx()
        _run([*self._nginx_command(conf), "-t", "-q"], "nginx -t")
        # stdout is the JSON access log (access_log /dev/stdout), stderr the early errors.
        self.nginx = Proc.spawn(
            self._nginx_command(conf), self.nginx_dir / "access.log", os.environ.copy(), self.dir
        )
        wait_for(lambda: self._nginx_answers(), 10, f"nginx on port {self.port}")

    def _nginx_answers(self) -> bool:
        if self.nginx is None or not self.nginx.alive():
            raise StackError(f"nginx exited:\n{_tail(self.nginx_dir / 'error.log')}")
        return http_get("127.0.0.1", self.port, "/healthz")[0] != 0

    def wait_balanced(self, timeout: float = 20) -> None:
        """Wait until nginx has answered /readyz through every live node."""
        missing = {n.address for n in self.nodes if n.alive()}

        def all_seen() -> bool:
            status, headers = http_get("127.0.0.1", self.port, "/readyz")
            if status == 200:
                missing.discard(headers.get("x-upstream", "").split(", ")[-1])
            return not missing

        wait_for(all_seen, timeout, "nginx to reach every node")

    # --- faults and operations ---
    def kill_worker(self, index: int) -> int:
        """SIGKILL one worker of node `index` (as the OOM killer would); return its pid."""
        workers = self.nodes[index].worker_pids()
        if not workers:
            raise StackError(f"node {index} has no workers")
        _signal(workers[0], signal.SIGKILL)
        return workers[0]

    def kill_node(self, index: int) -> None:
        """SIGKILL node `index`: its master and every worker at once, as a crashed host."""
        node = self.nodes[index]
        if node.proc is None:
            return
        for pid in [node.proc.pid, *node.worker_pids()]:
            _signal(pid, signal.SIGKILL)
        node.proc.wait_gone(5)

    def stop_node(self, index: int, timeout: float = 15) -> None:
        """Stop node `index` gracefully (SIGTERM: in-flight requests finish), SIGKILL after timeout."""
        node = self.nodes[index]
        if node.proc is None:
            return
        workers = node.worker_pids()
        node.proc.stop(signal.SIGTERM, timeout)
        for pid in workers:
            _signal(pid, signal.SIGKILL)  # orphans of a master that had to be killed

    def restart_node(self, index: int) -> None:
        """Start node `index` again on the same address (stopping it first if it runs)."""
        node = self.nodes[index]
        self.stop_node(index)
        self._spawn(node)
        self._save()
        self._wait_node(node)

    def hup_node(self, index: int, timeout: float = 30) -> list[int]:
        """Graceful reload (SIGHUP): new workers start, old ones finish; return the new pids."""
        node = self.nodes[index]
        old = set(node.worker_pids())
        _signal(node.pid, signal.SIGHUP)

        def replaced() -> bool:
            now = set(node.worker_pids())
            return len(now) == self.config.workers and not now & old

        wait_for(replaced, timeout, f"node {index} to replace its workers")
        return sorted(node.worker_pids())

    def stop_postgres(self) -> None:
        if self.postgres:
            self.postgres.stop("fast")
            self._save()

    def start_postgres(self) -> None:
        if self.postgres:
            self.postgres.start()
            self._save()

    def restart_postgres(self, downtime: float = 0) -> None:
        """Stop PostgreSQL (fast: connections are cut), wait `downtime` seconds, start it."""
        self.stop_postgres()
        time.sleep(downtime)
        self.start_postgres()

    def psql(
        self, query: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> list[tuple[Any, ...]]:
        """Run one statement on the stack's database and return its rows (PostgreSQL or SQLite)."""
        if self.postgres is None:
            with contextlib.closing(sqlite3.connect(self.sqlite_path, timeout=5)) as conn:
                with conn:
                    return list(conn.execute(query.replace("%s", "?"), params))
        import psycopg

        with psycopg.connect(self.postgres.url(), autocommit=True, connect_timeout=5) as conn:
            cursor = conn.execute(query.encode(), params)
            return cursor.fetchall() if cursor.description else []

    # --- stop ---
    def down(self, keep: bool = False, timeout: float = 15) -> None:
        """Stop nginx, the nodes (SIGTERM, SIGKILL after `timeout`) and PostgreSQL; remove the
        folder unless `keep`. Safe to call twice."""
        if self.nginx:
            self.nginx.stop(signal.SIGQUIT, 5)
        workers = {node.index: node.worker_pids() for node in self.nodes}
        for node in self.nodes:
            if node.proc and node.proc.alive():
                _signal(node.proc.pid, signal.SIGTERM)
        for node in self.nodes:
            if node.proc:
                node.proc.stop(signal.SIGTERM, timeout)
            for pid in workers[node.index]:
                _signal(pid, signal.SIGKILL)
        if self.postgres:
            self.postgres.stop("fast")
        if keep:
            self._save(stopped=True)
        elif (self.dir / STATE_FILE).exists():
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Stack:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.down()

    # --- state ---
    def running(self) -> list[str]:
        """What still runs, as `name pid` strings."""
        found = []
        if self.nginx and self.nginx.alive():
            found.append(f"nginx {self.nginx.pid}")
        found += [f"node{n.index} {n.pid}" for n in self.nodes if n.alive()]
        pg_pid = self.postgres.pid() if self.postgres else None
        if pg_pid:
            found.append(f"postgres {pg_pid}")
        return found

    def status(self) -> dict[str, Any]:
        return {
            "dir": str(self.dir), "url": self.url, "https_url": self.https_url,
            "db": self.config.db, "database_url": self.database_url,
            "nginx": {"pid": self.nginx.pid if self.nginx else None,
                      "alive": bool(self.nginx and self.nginx.alive())},
            "postgres": {"port": self.postgres.port, "pid": self.postgres.pid()}
            if self.postgres else None,
            "nodes": [{"index": n.index, "address": n.address, "pid": n.pid, "alive": n.alive(),
                       "workers": n.worker_pids(), "log": str(n.log)} for n in self.nodes],
        }  # fmt: skip

    def _save(self, stopped: bool = False) -> None:
        def proc(p: Proc | None) -> dict[str, int] | None:
            return asdict(p) if p and not stopped else None

        state = {
            "config": asdict(self.config), "secret_key": self.secret_key,
            "ports": asdict(self.ports),
            "nginx": proc(self.nginx), "nodes": [proc(n.proc) for n in self.nodes],
        }  # fmt: skip
        path = self.dir / STATE_FILE
        temporary = path.with_suffix(".tmp")
        # It holds the stack's SECRET_KEY.
        temporary.touch(mode=0o600)
        temporary.write_text(json.dumps(state, indent=2))
        temporary.replace(path)

    @classmethod
    def load(cls, folder: str | Path | None = None) -> Stack | None:
        """The stack recorded in `folder`, or None when there is none."""
        path = Path(folder or DEFAULT_DIR).resolve() / STATE_FILE
        try:
            state = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            raise StackError(f"unreadable {path}: {error}") from None
        ports = Ports(**state["ports"])
        stack = cls(path.parent, StackConfig(**state["config"]), state["secret_key"], ports)
        stack.nginx = Proc(**state["nginx"]) if state["nginx"] else None
        for node, recorded in zip(stack.nodes, state["nodes"], strict=True):
            node.proc = Proc(**recorded) if recorded else None
        return stack


def _prepare_folder(folder: Path) -> Path:
    """An empty stack folder: refuse a running stack, replace a stopped one, keep strangers."""
    existing = Stack.load(folder)
    if existing is not None:
        running = existing.running()
        if running:
            raise StackError(
                f"a stack is already running in {folder} ({', '.join(running)}); "
                f"stop it first: scripts/stack down --dir {folder}"
            )
        shutil.rmtree(folder)
    elif folder.exists() and any(folder.iterdir()):
        raise StackError(
            f"{folder} exists and is not a stack folder (no {STATE_FILE}); refusing to use it"
        )
    folder.mkdir(parents=True, exist_ok=True)
    # The postgres user must reach its data folder inside.
    folder.chmod(0o755)
    return folder


def _choose_ports(config: StackConfig) -> Ports:
    if config.port is not None:
        if not _port_free(config.port):
            raise StackError(f"port {config.port} is in use; choose another with --port")
        nginx = config.port
    else:
        nginx = free_ports(1, DEFAULT_PORT)[0]
    taken = [nginx]
    https = None
    if config.tls_dir:
        https = config.https_port or free_ports(1, nginx + 363, taken)[0]  # 8443 beside 8080
        taken.append(https)
    nodes = free_ports(config.nodes, nginx + 1, taken)
    postgres = free_ports(1, nginx + 100, taken + nodes)[0] if config.db == "postgres" else None
    return Ports(nginx, nodes, postgres, https)


# --- command line -----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripts/stack", description="The surveybot deployment on loopback, without Docker."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start a stack and wait until nginx serves every node")
    down = commands.add_parser("down", help="stop the stack and remove its folder")
    status = commands.add_parser("status", help="show what runs")
    for command in (up, down, status):
        command.add_argument("--dir", default=str(DEFAULT_DIR), help="stack folder (%(default)s)")
    up.add_argument("--nodes", type=int, default=1, help="app nodes (%(default)s)")
    up.add_argument(
        "--workers", type=int, default=2, help="gunicorn workers per node (%(default)s)"
    )
    up.add_argument("--worker-class", default="gthread", help="gunicorn worker class (%(default)s)")
    up.add_argument("--threads", type=int, help="GUNICORN_THREADS and DB_POOL_MAX")
    up.add_argument("--db", choices=("postgres", "sqlite"), default="postgres")
    up.add_argument(
        "--port", type=int, help=f"nginx port (default {DEFAULT_PORT} or the next free)"
    )
    up.add_argument("--tls-dir", help="folder with fullchain.pem and privkey.pem: adds HTTPS")
    up.add_argument("--https-port", type=int)
    up.add_argument(
        "--pg-conf",
        default=_existing(TUNED_PG_CONF),
        help="PostgreSQL settings file to include (%(default)s)",
    )
    up.add_argument(
        "--no-pg-conf",
        dest="pg_conf",
        action="store_const",
        const=None,
        help="PostgreSQL's built-in settings instead",
    )
    up.add_argument("--pg-fast", action="store_true", help="fsync off: throwaway data only")
    up.add_argument("--nginx-workers", type=int, default=1)
    up.add_argument(
        "--gunicorn-config",
        default="python:surveybot.gunicorn_conf",
        help="gunicorn -c value (%(default)s)",
    )
    up.add_argument("--log-level", default="INFO")
    up.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="another app setting for every node, e.g. SKILL_SECRET=... (repeatable)",
    )
    down.add_argument("--keep", action="store_true", help="keep the folder (logs, data)")
    status.add_argument("--json", action="store_true")
    return parser


def _cli_up(args: argparse.Namespace) -> int:
    env = dict(item.split("=", 1) for item in args.env if "=" in item)
    stack = Stack.up(
        args.dir, nodes=args.nodes, workers=args.workers, worker_class=args.worker_class,
        threads=args.threads, db=args.db, port=args.port, tls_dir=args.tls_dir,
        https_port=args.https_port, pg_conf=args.pg_conf, pg_fast=args.pg_fast,
        nginx_workers=args.nginx_workers, log_level=args.log_level, env=env,
        gunicorn_config=args.gunicorn_config,
    )  # fmt: skip
    _forget_children()
    print(f"surveybot stack up in {stack.dir}")
    print(
        f"  {stack.url}/skill  ({args.nodes} node(s) x {args.workers} {args.worker_class} worker(s), {args.db})"
    )
    if stack.https_url:
        print(f"  {stack.https_url}/skill")
    if stack.database_url:
        print(f"  database {stack.database_url}")
    print(f"  try: .venv/bin/surveybot chat --url {stack.url}/skill")
    print(f"  stop: scripts/stack down --dir {stack.dir}")
    return 0


def _forget_children() -> None:
    """The CLI exits and leaves the stack running: its processes are not ours to reap."""
    for child in _REAPERS.values():
        child.returncode = 0  # silences Popen's "still running" warning at exit
    _REAPERS.clear()


def _cli_status(args: argparse.Namespace) -> int:
    stack = Stack.load(args.dir)
    if stack is None:
        print(f"no stack in {args.dir}")
        return 1
    info = stack.status()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0 if stack.running() else 1
    print(f"stack in {info['dir']}: {info['url']} ({info['db']})")
    print(
        f"  nginx     pid {info['nginx']['pid']} {'running' if info['nginx']['alive'] else 'stopped'}"
    )
    if info["postgres"]:
        pg = info["postgres"]
        print(
            f"  postgres  port {pg['port']} {'pid ' + str(pg['pid']) if pg['pid'] else 'stopped'}"
        )
    for node in info["nodes"]:
        state = f"pid {node['pid']}, workers {node['workers']}" if node["alive"] else "stopped"
        print(f"  node{node['index']}     {node['address']} {state}")
    return 0 if stack.running() else 1


def _cli_down(args: argparse.Namespace) -> int:
    stack = Stack.load(args.dir)
    if stack is None:
        print(f"no stack in {args.dir}")
        return 0
    stack.down(keep=args.keep)
    print(f"stack in {stack.dir} stopped" + (" (folder kept)" if args.keep else " and removed"))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handlers = {"up": _cli_up, "down": _cli_down, "status": _cli_status}
    try:
        return handlers[args.command](args)
    except StackError as error:
        print(f"scripts/stack {args.command}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
