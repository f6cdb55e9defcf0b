"""A server process: a command that listens on a loopback port, started, waited for and stopped.

    with Service([go, "-addr", "127.0.0.1:8091"], 8091, Path("go.log"), ready_path="/healthz") as go:
        ...  # go.url answers; stopped (SIGTERM, SIGKILL after 15 s) with the rest of its group

The base of the app node (devstack.nodes) and what the benchmark runs its baselines with.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path

from devstack.ports import http_get
from devstack.procs import Proc, StackError, send, tail, wait_for


class Service:
    """`command` run with `env` (default: this environment) in `cwd`, logging to `log`; ready
    when GET `ready_path` on host:port answers (any status below 500)."""

    def __init__(
        self,
        command: Sequence[str],
        port: int,
        log: Path,
        *,
        host: str = "127.0.0.1",
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        ready_path: str = "/",
    ) -> None:
        self.command = list(command)
        self.host = host
        self.port = port
        self.log = log
        self.env = dict(os.environ if env is None else env)
        self.cwd = cwd
        self.ready_path = ready_path
        self.proc: Proc | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    def read_log(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    # --- start ---
    def start(self) -> None:
        self.proc = Proc.spawn(self.command, self.log, self.env, self.cwd)

    def ready(self) -> bool:
        status, _ = http_get(self.host, self.port, self.ready_path)
        return 0 < status < 500

    def wait_ready(self, timeout: float = 30) -> None:
        """Wait until it is ready; StackError with the end of its log if it exits or times out."""

        def ready() -> bool:
            if not self.alive():
                raise StackError(f"{self.command[0]} on {self.address} exited:\n{tail(self.log)}")
            return self.ready()

        try:
            wait_for(ready, timeout, f"{self.command[0]} on {self.address}", interval=0.1)
        except StackError as error:
            if "exited" in str(error):
                raise
            raise StackError(f"{error}\n{tail(self.log)}") from None

    # --- stop ---
    def terminate(self) -> None:
        """Ask it to stop (SIGTERM) without waiting: several can then stop at once."""
        if self.alive():
            send(self.pid, signal.SIGTERM)

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM (requests in flight finish), SIGKILL after `timeout` seconds; then SIGKILL
        whatever is left of its process group (a hung worker, an orphan of a dead master)."""
        if self.proc is None:
            return
        left = self.proc.group()
        self.proc.stop(signal.SIGTERM, timeout)
        for pid in {*left, *self.proc.group()}:
            send(pid, signal.SIGKILL)

    def kill(self) -> None:
        """SIGKILL it and its whole group at once, as a crashed host."""
        if self.proc is None:
            return
        for pid in [self.proc.pid, *self.proc.group()]:
            send(pid, signal.SIGKILL)
        self.proc.wait_gone(5)

    def __enter__(self) -> Service:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
