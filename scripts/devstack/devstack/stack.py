"""The deployment's topology on loopback, without Docker: PostgreSQL (or SQLite), N app nodes, the
reminder sender and nginx rendered from the same templates as compose. Tests and benchmarks drive
it from Python:

    with Stack.up(StackConfig(nodes=3, workers=2, db="postgres"), folder) as stack:
        stack.url; stack.nodes[0].port; stack.nodes[0].worker_pids(); stack.kill_node(0)
        stack.restart_node(0); stack.hup_node(1); stack.restart_postgres(); stack.psql("SELECT 1")

and people from the shell: `scripts/stack up|down|status` (devstack.cli). Every process it starts
is recorded in <folder>/stack.json, so `down` and `status` work from another process, and `up`
refuses to start over a stack that still runs.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import signal
import sqlite3
from dataclasses import asdict
from pathlib import Path
from typing import Any

from devstack.binaries import binary, pg_binary
from devstack.config import Ports, StackConfig, choose_ports
from devstack.nginx import Nginx
from devstack.nodes import Node, notifier_command
from devstack.paths import DEFAULT_DIR
from devstack.postgres import FAST, Cluster, Params
from devstack.procs import Proc, StackError, send
from devstack.settings import app_env, derived_keys

STATE_FILE = "stack.json"
DB_NAME = "surveybot"


class Stack:
    """A stack in `folder`; build it with `Stack.up` or read it back with `Stack.load`."""

    def __init__(self, folder: Path, config: StackConfig, secret_key: str, ports: Ports) -> None:
        self.dir = folder
        self.config = config
        self.secret_key = secret_key
        self.ports = ports
        self.port = ports.nginx
        self.https_port = ports.https
        self.postgres = (
            Cluster(folder / "pg", ports.postgres, config.max_connections(),
                    FAST if config.pg_fast else None, config.pg_conf)
            if ports.postgres is not None else None
        )  # fmt: skip
        self.nodes = [
            Node(folder / f"node{i}", port, self._settings(folder / f"node{i}"),
                 workers=config.workers, worker_class=config.worker_class, index=i)
            for i, port in enumerate(ports.nodes)
        ]  # fmt: skip
        self.nginx = Nginx(
            folder / "nginx", ports.nginx, [node.address for node in self.nodes], ports.https,
            config.tls_dir, config.nginx_workers,
        )  # fmt: skip
        # `surveybot notifier`, as compose runs it beside the nodes: one, on the stack's database.
        # Without KAKAO_REST_API_KEY and KAKAO_BOT_ID (--env) it says reminders are off and idles.
        self.notifier_log = folder / "notifier" / "notifier.log"
        self.notifier: Proc | None = None

    # --- facts ---
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def https_url(self) -> str | None:
        return f"https://127.0.0.1:{self.https_port}" if self.https_port else None

    @property
    def database_url(self) -> str | None:
        return self.postgres.url(DB_NAME) if self.postgres else None

    @property
    def sqlite_path(self) -> Path:
        return self.dir / "surveybot.sqlite3"

    @property
    def nginx_dir(self) -> Path:
        return self.nginx.folder

    def _settings(self, node_folder: Path | None) -> dict[str, str]:
        """A node's app settings (the notifier's without a folder): production, as compose runs
        it, on the stack's database."""
        settings = {
            "SURVEYBOT_ENV": "production", "SECRET_KEY": self.secret_key,
            "LOG_LEVEL": self.config.log_level, "PUBLIC_BASE_URL": self.url,
        }  # fmt: skip
        if node_folder is not None:
            settings["PROMETHEUS_MULTIPROC_DIR"] = str(node_folder / "metrics")
        if self.database_url:
            settings["DATABASE_URL"] = self.database_url
        else:
            settings["SQLITE_PATH"] = str(self.sqlite_path)
        if self.config.threads:
            settings["GUNICORN_THREADS"] = settings["DB_POOL_MAX"] = str(self.config.threads)
        if "SKILL_SECRET" not in self.config.env:
            # Production refuses an open /skill unless told; the load tools send no secret.
            settings["SKILL_SECRET_DISABLED"] = "true"
        if "ENCRYPTION_DISABLED" not in self.config.env:
            # Production seals personal data (issue 13): keys of the stack's own.
            settings.update(derived_keys(self.secret_key))
        return {**settings, **self.config.env}

    # --- start ---
    @classmethod
    def up(cls, config: StackConfig, folder: str | Path = DEFAULT_DIR) -> Stack:
        """Start PostgreSQL or SQLite, the nodes (each migrates first) and nginx; wait until
        nginx serves every node."""
        config.check()
        binary("nginx")  # fail before starting anything
        if config.db == "postgres":
            pg_binary("initdb")
        target = _prepare_folder(Path(folder).resolve())
        stack = cls(target, config, secrets.token_urlsafe(32), choose_ports(config))
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
            self.postgres.start()
            self.postgres.create_database(DB_NAME)
        for node in self.nodes:
            node.start()
        self._save()
        for node in self.nodes:
            node.wait_ready()
        self.start_notifier()  # the nodes have migrated the database
        self.nginx.start()
        self._save()
        self.wait_balanced()

    def start_notifier(self) -> None:
        folder = self.notifier_log.parent
        folder.mkdir(parents=True, exist_ok=True)
        env = app_env(self._settings(None))
        self.notifier = Proc.spawn(notifier_command(), self.notifier_log, env, folder)

    def wait_balanced(self, timeout: float = 20) -> None:
        """Wait until nginx has answered /readyz through every live node."""
        self.nginx.wait_balanced([n.address for n in self.nodes if n.alive()], timeout)

    # --- faults and operations ---
    def kill_worker(self, index: int) -> int:
        """SIGKILL one worker of node `index` (as the OOM killer would); return its pid."""
        return self.nodes[index].kill_worker()

    def kill_node(self, index: int) -> None:
        """SIGKILL node `index`: its master and every worker at once, as a crashed host."""
        self.nodes[index].kill()

    def stop_node(self, index: int, timeout: float = 15) -> None:
        """Stop node `index` gracefully (SIGTERM: in-flight requests finish), SIGKILL after timeout."""
        self.nodes[index].stop(timeout)

    def restart_node(self, index: int) -> None:
        """Start node `index` again on the same address (stopping it first if it runs)."""
        node = self.nodes[index]
        node.stop()
        node.start()
        self._save()
        node.wait_ready()

    def hup_node(self, index: int, timeout: float = 30) -> list[int]:
        """Graceful reload (SIGHUP): new workers start, old ones finish; return the new pids."""
        return self.nodes[index].hup(timeout)

    def stop_postgres(self) -> None:
        if self.postgres:
            self.postgres.stop("fast")

    def start_postgres(self) -> None:
        if self.postgres:
            self.postgres.start()

    def kill_postgres(self) -> None:
        """SIGKILL PostgreSQL (postmaster and backends); `start_postgres` recovers it."""
        if self.postgres:
            self.postgres.kill()

    def reload_nginx(self) -> None:
        """Render nginx's files again and reload it (SIGHUP): what an operator does after an app
        node changed address where nginx cannot re-resolve (scripts/reload-nginx for compose)."""
        self.nginx.upstreams = [node.address for node in self.nodes]
        self.nginx.render()
        self.nginx.check()
        self.nginx.reload()

    def restart_postgres(self, downtime: float = 0) -> None:
        """Stop PostgreSQL (fast: connections are cut), wait `downtime` seconds, start it."""
        if self.postgres:
            self.postgres.restart(downtime)

    def psql(self, query: str, params: Params = ()) -> list[Any]:
        """Run one statement on the stack's database and return its rows (PostgreSQL or SQLite)."""
        if self.postgres:
            return self.postgres.query(query, params, DB_NAME)
        with contextlib.closing(sqlite3.connect(self.sqlite_path, timeout=5)) as conn:
            with conn:
                return list(conn.execute(query.replace("%s", "?"), params))

    # --- stop ---
    def down(self, keep: bool = False, timeout: float = 15) -> None:
        """Stop nginx, the nodes (SIGTERM, SIGKILL after `timeout`) and PostgreSQL; remove the
        folder unless `keep`. Safe to call twice."""
        self.nginx.stop()
        notifier = self.notifier if self.notifier and self.notifier.alive() else None
        if notifier:
            send(notifier.pid, signal.SIGTERM)  # the call in flight finishes and is recorded
        for node in self.nodes:
            node.terminate()  # all at once: each finishes its requests meanwhile
        for node in self.nodes:
            node.stop(timeout)
        if notifier:
            notifier.stop(signal.SIGTERM, timeout)
        if self.postgres:
            self.postgres.stop("fast")
        if keep:
            self._save(stopped=True)
        elif (self.dir / STATE_FILE).exists():
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    # --- state ---
    def running(self) -> list[str]:
        """What still runs, as `name pid` strings."""
        found = [f"nginx {self.nginx.pid}"] if self.nginx.alive() else []
        found += [f"node{n.index} {n.pid}" for n in self.nodes if n.alive()]
        if self.notifier and self.notifier.alive():
            found.append(f"notifier {self.notifier.pid}")
        pg_pid = self.postgres.pid() if self.postgres else None
        if pg_pid:
            found.append(f"postgres {pg_pid}")
        return found

    def status(self) -> dict[str, Any]:
        return {
            "dir": str(self.dir), "url": self.url, "https_url": self.https_url,
            "db": self.config.db, "database_url": self.database_url,
            "nginx": {"pid": self.nginx.pid, "alive": self.nginx.alive()},
            "postgres": {"port": self.postgres.port, "pid": self.postgres.pid()}
            if self.postgres else None,
            "nodes": [{"index": n.index, "address": n.address, "pid": n.pid, "alive": n.alive(),
                       "workers": n.worker_pids(), "log": str(n.log)} for n in self.nodes],
            "notifier": {"pid": self.notifier.pid if self.notifier else None,
                         "alive": bool(self.notifier and self.notifier.alive()),
                         "log": str(self.notifier_log)},
        }  # fmt: skip

    def _save(self, stopped: bool = False) -> None:
        def proc(p: Proc | None) -> dict[str, int] | None:
            return asdict(p) if p and not stopped else None

        state = {
            "config": asdict(self.config), "secret_key": self.secret_key,
            "ports": asdict(self.ports),
            "nginx": proc(self.nginx.proc), "nodes": [proc(n.proc) for n in self.nodes],
            "notifier": proc(self.notifier),
        }  # fmt: skip
        path = self.dir / STATE_FILE
        temporary = path.with_suffix(".tmp")
        # It holds the stack's SECRET_KEY.
        temporary.touch(mode=0o600)
        temporary.write_text(json.dumps(state, indent=2))
        temporary.replace(path)

    @classmethod
    def load(cls, folder: str | Path = DEFAULT_DIR) -> Stack | None:
        """The stack recorded in `folder`, or None when there is none."""
        path = Path(folder).resolve() / STATE_FILE
        try:
            state = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            raise StackError(f"unreadable {path}: {error}") from None
        config = StackConfig.from_state(state["config"])
        stack = cls(path.parent, config, state["secret_key"], Ports(**state["ports"]))
        stack.nginx.proc = Proc(**state["nginx"]) if state["nginx"] else None
        for node, recorded in zip(stack.nodes, state["nodes"], strict=True):
            node.proc = Proc(**recorded) if recorded else None
        notifier = state.get("notifier")  # absent in a state file of an older devstack
        stack.notifier = Proc(**notifier) if notifier else None
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
