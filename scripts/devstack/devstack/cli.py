"""`scripts/stack up|status|down` (`python -m devstack`): the stack from the shell."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from devstack.config import DEFAULT_PORT, StackConfig
from devstack.paths import DEFAULT_DIR, TUNED_PG_CONF, existing
from devstack.procs import StackError, forget_children
from devstack.stack import Stack


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripts/stack", description="The surveybot deployment on loopback, without Docker."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start a stack and wait until nginx serves every node")
    down = commands.add_parser("down", help="stop the stack and remove its folder")
    status = commands.add_parser("status", help="show what runs")
    reload = commands.add_parser(
        "reload-nginx", help="render nginx's files again from the nodes' addresses and reload it"
    )
    for command in (up, down, status, reload):
        command.add_argument("--dir", default=str(DEFAULT_DIR), help="stack folder (%(default)s)")
    up.add_argument("--nodes", type=int, default=1, help="app nodes (%(default)s)")
    up.add_argument(
        "--workers", type=int, default=2, help="gunicorn workers per node (%(default)s)"
    )
    up.add_argument(
        "--worker-class", default="granian",
        help="granian (the default server) or a gunicorn worker class: gthread, sync, gevent, meinheld",
    )
    up.add_argument("--threads", type=int, help="GUNICORN_THREADS and DB_POOL_MAX")
    up.add_argument("--db", choices=("postgres", "sqlite"), default="postgres")
    up.add_argument(
        "--port", type=int, help=f"nginx port (default {DEFAULT_PORT} or the next free)"
    )
    up.add_argument("--tls-dir", help="folder with fullchain.pem and privkey.pem: adds HTTPS")
    up.add_argument("--https-port", type=int)
    up.add_argument(
        "--pg-conf", default=existing(TUNED_PG_CONF),
        help="PostgreSQL settings file to include (%(default)s)",
    )  # fmt: skip
    up.add_argument(
        "--no-pg-conf", dest="pg_conf", action="store_const", const=None,
        help="PostgreSQL's built-in settings instead",
    )  # fmt: skip
    up.add_argument("--pg-fast", action="store_true", help="fsync off: throwaway data only")
    up.add_argument(
        "--nginx-workers", default="auto", help="nginx worker_processes: auto (one per core) or N"
    )
    up.add_argument("--log-level", default="INFO")
    up.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE",
        help="another app setting for every node, e.g. SKILL_SECRET=... (repeatable)",
    )  # fmt: skip
    down.add_argument("--keep", action="store_true", help="keep the folder (logs, data)")
    status.add_argument("--json", action="store_true")
    return parser


def _up(args: argparse.Namespace) -> int:
    config = StackConfig(
        nodes=args.nodes, workers=args.workers, worker_class=args.worker_class,
        threads=args.threads, db=args.db, port=args.port, tls_dir=args.tls_dir,
        https_port=args.https_port, pg_conf=args.pg_conf, pg_fast=args.pg_fast,
        nginx_workers=args.nginx_workers, log_level=args.log_level,
        env=dict(item.split("=", 1) for item in args.env if "=" in item),
    )  # fmt: skip
    stack = Stack.up(config, args.dir)
    forget_children()  # this process exits; the stack keeps running
    shape = f"{args.nodes} node(s) x {args.workers} {args.worker_class} worker(s), {args.db}"
    print(f"surveybot stack up in {stack.dir}")
    print(f"  {stack.url}/skill  ({shape})")
    if stack.https_url:
        print(f"  {stack.https_url}/skill")
    if stack.database_url:
        print(f"  database {stack.database_url}")
    print(f"  try: .venv/bin/surveybot chat --url {stack.url}/skill")
    print(f"  stop: scripts/stack down --dir {stack.dir}")
    return 0


def _status(args: argparse.Namespace) -> int:
    stack = Stack.load(args.dir)
    if stack is None:
        print(f"no stack in {args.dir}")
        return 1
    info = stack.status()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0 if stack.running() else 1
    print(f"stack in {info['dir']}: {info['url']} ({info['db']})")
    nginx = "running" if info["nginx"]["alive"] else "stopped"
    print(f"  nginx     pid {info['nginx']['pid']} {nginx}")
    if info["postgres"]:
        pg = info["postgres"]
        print(
            f"  postgres  port {pg['port']} {'pid ' + str(pg['pid']) if pg['pid'] else 'stopped'}"
        )
    for node in info["nodes"]:
        state = f"pid {node['pid']}, workers {node['workers']}" if node["alive"] else "stopped"
        print(f"  node{node['index']}     {node['address']} {state}")
    notifier = info["notifier"]
    state = f"pid {notifier['pid']}" if notifier["alive"] else "stopped"
    print(f"  notifier  {state}, log {notifier['log']}")
    return 0 if stack.running() else 1


def _down(args: argparse.Namespace) -> int:
    stack = Stack.load(args.dir)
    if stack is None:
        print(f"no stack in {args.dir}")
        return 0
    stack.down(keep=args.keep)
    print(f"stack in {stack.dir} stopped" + (" (folder kept)" if args.keep else " and removed"))
    return 0


def _reload_nginx(args: argparse.Namespace) -> int:
    stack = Stack.load(args.dir)
    if stack is None or not stack.nginx.alive():
        print(f"no running stack in {args.dir}")
        return 1
    stack.reload_nginx()
    print(f"nginx of {stack.dir} reloaded")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handlers = {"up": _up, "down": _down, "status": _status, "reload-nginx": _reload_nginx}
    try:
        return handlers[args.command](args)
    except StackError as error:
        print(f"scripts/stack {args.command}: {error}", file=sys.stderr)
        return 1
