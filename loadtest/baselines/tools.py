"""Starting the baselines: toolchains (installed or skipped with a line saying so), commands, nginx.

For scripts/bench and for hand runs; standard library and devstack only.

    from loadtest.baselines import tools
    go = tools.build_go_echo(Path("var/load/go_echo"))      # None (and a printed reason) if no Go
    argv = tools.gunicorn_argv("loadtest.baselines.flask_echo:app", "127.0.0.1:8091", workers=2)
    with devstack.services.Service(argv, 8091, Path("flask.log"), ready_path="/healthz"):
        ...
    conf = tools.render_nginx(Path("var/load/nginx"), listen=8080, upstream="127.0.0.1:8091")
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from devstack.binaries import find_binary

ROOT = Path(__file__).resolve().parents[2]
LOAD_VENV = ROOT / ".venv-load"
GO_ECHO_DIR = ROOT / "loadtest" / "baselines" / "go_echo"
FIXED_SNIPPET = ROOT / "loadtest" / "baselines" / "nginx_fixed.conf"

# Baseline name -> WSGI app, for gunicorn from the repo root with the load venv.
WSGI_APPS = {
    "flask_echo": "loadtest.baselines.flask_echo:app",
    "excel_name": "loadtest.baselines.excel_name:app",
    "sqlite_name": "loadtest.baselines.sqlite_name:app",
    "postgres_name": "loadtest.baselines.postgres_name:app",
}


def say(message: str) -> None:
    print(f"baselines: {message}", file=sys.stderr, flush=True)


def ensure_binary(binary: str, apt_package: str, install: bool = True) -> str | None:
    """The path of `binary`; installs `apt_package` when missing and allowed; else None and why."""
    found = find_binary(binary)
    if found or not install:
        if not found:
            say(f"skipped: {binary} is not installed (apt-get install {apt_package})")
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        say(f"skipped: {binary} is missing and apt-get cannot install {apt_package} here")
        return None
    say(f"installing {apt_package} for {binary}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", apt_package]):
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            say(f"skipped: {' '.join(command)} failed: {done.stderr.strip()[-300:]}")
            return None
    return find_binary(binary)


def build_go_echo(output: Path, install: bool = True) -> Path | None:
    """`go build` the Go echo skill (Debian's golang-go when Go is missing); None if impossible."""
    go = ensure_binary("go", "golang-go", install)
    if go is None:
        say("skipped: the Go net/http echo baseline (no Go toolchain)")
        return None
    output.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
    env.setdefault("GOCACHE", str(ROOT / "var" / "go-cache"))
    done = subprocess.run(
        [go, "build", "-o", str(output.resolve()), "."],
        cwd=GO_ECHO_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        say(f"skipped: go build failed: {done.stderr.strip()[-500:]}")
        return None
    return output


def go_echo_argv(binary: Path, bind: str) -> list[str]:
    return [str(binary), "-addr", bind]


def gunicorn_argv(
    app: str, bind: str, workers: int = 2, worker_class: str = "sync", threads: int = 1
) -> list[str]:
    """gunicorn from .venv-load serving a baseline (`flask_echo` or a module:app path)."""
    return [
        str(LOAD_VENV / "bin" / "gunicorn"),
        "--chdir",
        str(ROOT),
        "--bind",
        bind,
        "--workers",
        str(workers),
        "--worker-class",
        worker_class,
        "--threads",
        str(threads),
        "--log-level",
        "warning",
        "--access-logfile",
        "-" if os.environ.get("BASELINE_ACCESS_LOG") else "/dev/null",
        WSGI_APPS.get(app, app),
    ]


def render_nginx(
    prefix: Path, listen: int, upstream: str | None = None, workers: int = 1, keepalive: int = 64
) -> Path:
    """A standalone nginx.conf: /fixed/skill answered by nginx itself, the rest proxied.

    Run it with `nginx -p PREFIX -c PREFIX/nginx.conf` (it stays in the foreground). The proxy
    settings are the usual ones for a skill server (HTTP/1.1 keepalive to the upstream); use the
    same nginx for every configuration compared.
    """
    prefix = prefix.resolve()
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    (prefix / "tmp").mkdir(exist_ok=True)
    user = "user root;\n" if os.geteuid() == 0 else ""
    proxy = ""
    if upstream:
        proxy = f"""
    upstream backend {{
        server {upstream};
        keepalive {keepalive};
    }}
"""
    location = (
        """
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Request-Id $request_id;
        }"""
        if upstream
        else ""
    )
    conf = f"""{user}worker_processes {workers};
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{
    worker_connections 4096;
}}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    keepalive_requests 100000;
{proxy}
    server {{
        listen 127.0.0.1:{listen};
        include {FIXED_SNIPPET};{location}
    }}
}}
"""
    path = prefix / "nginx.conf"
    path.write_text(conf)
    return path


def nginx_argv(conf: Path, install: bool = True) -> list[str] | None:
    nginx = ensure_binary("nginx", "nginx-light", install)
    return None if nginx is None else [nginx, "-p", str(conf.parent), "-c", str(conf)]
