"""An app node: `surveybot serve` (granian, or a gunicorn master, and its workers) on a loopback port.

    with Node(folder, free_port(), {"SQLITE_PATH": "bot.sqlite3", ...}, workers=2) as node:
        node.url; node.worker_pids(); node.kill_worker(); node.hup(); node.read_log()

It gets the app settings it is given and none from the caller's environment (devstack.settings).
The stack's nodes are these, and so is every real server the tests start.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping, Sequence
from pathlib import Path

from devstack.paths import app_python
from devstack.ports import http_get
from devstack.procs import StackError, children, send, wait_for
from devstack.services import Service
from devstack.settings import app_env


def serve_command(
    host: str, port: int, workers: int | None = None, worker_class: str | None = None
) -> list[str]:
    """`surveybot serve`: migrate, then the default server, granian (surveybot.granian_serve).
    worker_class "granian" names it; any other worker class (gthread, sync, gevent, meinheld) is
    gunicorn's, with surveybot.gunicorn_conf; so is SURVEYBOT_SERVER=gunicorn among the node's
    settings."""
    command = [app_python(), "-m", "surveybot.cli", "serve", "--host", host, "--port", str(port)]
    if workers is not None:
        command += ["--workers", str(workers)]
    if worker_class == "granian":
        command += ["--server", "granian"]
    elif worker_class is not None:
        command += ["--worker-class", worker_class]
    return command


def notifier_command() -> list[str]:
    """`surveybot notifier`: sends the queued reminders (migrating first); idles when they are off."""
    return [app_python(), "-m", "surveybot.cli", "notifier"]


class Node(Service):
    """A server (granian or a gunicorn master) in `folder` (server.log, its working folder) on host:port; ready when
    /readyz says 200 and, if `workers` is given, that many workers run. `command` replaces
    `surveybot serve` (a raw gunicorn, another app) and then names the port itself."""

    def __init__(
        self,
        folder: Path,
        port: int,
        settings: Mapping[str, str],
        *,
        workers: int | None = None,
        worker_class: str | None = None,
        host: str = "127.0.0.1",
        index: int = 0,
        command: Sequence[str] | None = None,
        ready_path: str = "/readyz",
    ) -> None:
        super().__init__(
            command or serve_command(host, port, workers, worker_class), port,
            folder / "server.log", host=host, env=app_env(settings), cwd=folder,
            ready_path=ready_path,
        )  # fmt: skip
        self.folder = folder
        self.index = index
        self.workers = workers

    @property
    def metrics_dir(self) -> Path:
        """Where a stack points its PROMETHEUS_MULTIPROC_DIR."""
        return self.folder / "metrics"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        super().start()

    def worker_pids(self) -> list[int]:
        return children(self.proc.pid) if self.proc and self.alive() else []

    def ready(self) -> bool:
        status, _ = http_get(self.host, self.port, self.ready_path)
        if status != 200:
            return False
        return self.workers is None or len(self.worker_pids()) == self.workers

    def kill_worker(self) -> int:
        """SIGKILL one worker (as the OOM killer would); return its pid."""
        workers = self.worker_pids()
        if not workers:
            raise StackError(f"node {self.index} has no workers")
        send(workers[0], signal.SIGKILL)
        return workers[0]

    def hup(self, timeout: float = 30) -> list[int]:
        """Graceful reload (SIGHUP): new workers start, old ones finish; return the new pids."""
        old = set(self.worker_pids())
        send(self.pid, signal.SIGHUP)

        def replaced() -> bool:
            now = set(self.worker_pids())
            return len(now) == (self.workers or len(old)) and not now & old

        wait_for(replaced, timeout, f"node {self.index} to replace its workers")
        return self.worker_pids()

    def __enter__(self) -> Node:
        super().__enter__()
        return self
