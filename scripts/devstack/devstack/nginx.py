"""nginx in front of the app nodes, configured from nginx/ (the template compose renders too)."""

from __future__ import annotations

import grp
import importlib.util
import os
import pwd
import shutil
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from devstack.binaries import binary
from devstack.paths import NGINX_SRC
from devstack.ports import http_get
from devstack.procs import Proc, StackError, run, send, tail, wait_for

# The same passive health check as compose: one failed connect or 503 takes a node out for 1 s
# (nginx/surveybot-locations.conf).
UPSTREAM_PARAMS = "max_fails=1 fail_timeout=1s"
# nginx's `listen ... backlog=` (nginx/templates) and the kernel's cap on every listen backlog.
BACKLOG = 4096
SOMAXCONN = Path("/proc/sys/net/core/somaxconn")


def ensure_somaxconn(wanted: int = BACKLOG, path: Path = SOMAXCONN) -> str | None:
    """Raise the kernel's listen-backlog cap to `wanted` when it is lower and we may (root);
    return a line saying what was done or what is missing, None when it was already enough."""
    try:
        current = int(path.read_text())
    except (OSError, ValueError):
        return None  # not Linux, or not visible here: nothing to check
    if current >= wanted:
        return None
    try:
        path.write_text(str(wanted))
    except OSError:
        return (
            f"net.core.somaxconn is {current}: listen backlogs are cut to it; "
            f"as root: sysctl -w net.core.somaxconn={wanted}"
        )
    return f"raised net.core.somaxconn from {current} to {wanted} (listen backlogs)"


def load_render() -> ModuleType:
    """nginx/render.py, the template renderer compose's image and the stack share."""
    spec = importlib.util.spec_from_file_location("surveybot_nginx_render", NGINX_SRC / "render.py")
    if spec is None or spec.loader is None:
        raise StackError(f"cannot load {NGINX_SRC / 'render.py'}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def nginx_user() -> str:
    """nginx's `user` line: workers drop root to nobody; without root the line is meaningless."""
    if os.geteuid() != 0:
        return ""
    try:
        nobody = pwd.getpwnam("nobody")
        return f"user nobody {grp.getgrgid(nobody.pw_gid).gr_name};"
    except KeyError:
        return "user root;"


class Nginx:
    """nginx with its files in `folder`, balancing over `upstreams` (host:port of each node) on
    127.0.0.1:`port`, and on `https_port` with the certificate in `tls_dir` when there is one."""

    def __init__(
        self,
        folder: Path,
        port: int,
        upstreams: Sequence[str],
        https_port: int | None = None,
        tls_dir: str | None = None,
        workers: int | str = "auto",
    ) -> None:
        self.folder = folder
        self.port = port
        self.upstreams = list(upstreams)
        self.https_port = https_port
        self.tls_dir = tls_dir
        self.workers = workers
        self.proc: Proc | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def conf(self) -> Path:
        return self.folder / "nginx.conf"

    @property
    def access_log(self) -> Path:
        return self.folder / "access.log"  # JSON lines: request id, node, timings

    @property
    def error_log(self) -> Path:
        return self.folder / "error.log"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    def render(self) -> None:
        render = load_render()
        (self.folder / "temp").mkdir(parents=True, exist_ok=True)
        locations = "surveybot-locations.conf"
        shutil.copyfile(NGINX_SRC / locations, self.folder / locations)
        servers = "\n    ".join(f"server {a} {UPSTREAM_PARAMS};" for a in self.upstreams)
        variables = {
            "SURVEYBOT_UPSTREAM_SERVERS": servers, "SURVEYBOT_RESOLVER": "",
            "SURVEYBOT_HTTP_PORT": f"127.0.0.1:{self.port}",
            "SURVEYBOT_HTTPS_PORT": f"127.0.0.1:{self.https_port}",
            "SURVEYBOT_TLS_DIR": self.tls_dir or "",
        }  # fmt: skip
        render.render(NGINX_SRC / "templates", self.folder / "conf.d", variables)
        # The main configuration compose runs too (nginx/35-surveybot-main.sh), with our paths.
        main = (NGINX_SRC / "main.conf.template").read_text()
        self.conf.write_text(render.substitute(main, {
            "SURVEYBOT_NGINX_USER": nginx_user(), "SURVEYBOT_NGINX_WORKERS": str(self.workers),
            "SURVEYBOT_NGINX_PID": str(self.folder / "nginx.pid"),
            "SURVEYBOT_NGINX_ERROR_LOG": str(self.error_log),
            "SURVEYBOT_NGINX_TEMP": str(self.folder / "temp"),
        }))  # fmt: skip

    def command(self) -> list[str]:
        # In the foreground, as the image runs it: its pid is the one the stack records.
        return [binary("nginx"), "-e", "stderr", "-p", f"{self.folder}/", "-c", str(self.conf),
                "-g", "daemon off;"]  # fmt: skip

    def check(self) -> None:
        """`nginx -t` on the files as they are now (after render, or after adding to conf.d)."""
        run([*self.command(), "-t", "-q"], "nginx -t")

    def start(self) -> None:
        said = ensure_somaxconn()
        if said:
            print(f"devstack: {said}", file=sys.stderr)
        self.render()
        self.check()
        # stdout is the JSON access log (access_log /dev/stdout), stderr the early errors.
        self.proc = Proc.spawn(self.command(), self.access_log, os.environ, self.folder)
        wait_for(self._answers, 10, f"nginx on port {self.port}")

    def _answers(self) -> bool:
        if not self.alive():
            raise StackError(f"nginx exited:\n{tail(self.error_log)}")
        return http_get("127.0.0.1", self.port, "/healthz")[0] != 0

    def reload(self) -> None:
        """Read the configuration again (SIGHUP): new workers, no connection dropped."""
        send(self.pid, signal.SIGHUP)

    def stop(self) -> None:
        if self.proc:
            self.proc.stop(signal.SIGQUIT, 5)  # graceful: requests in flight finish

    def wait_balanced(self, addresses: Sequence[str], timeout: float = 20) -> None:
        """Wait until nginx has answered /readyz through each of `addresses`."""
        missing = set(addresses)

        def all_seen() -> bool:
            status, headers = http_get("127.0.0.1", self.port, "/readyz")
            if status == 200:
                missing.discard(headers.get("x-upstream", "").split(", ")[-1])
            return not missing

        wait_for(all_seen, timeout, "nginx to reach every node")
