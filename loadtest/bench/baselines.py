"""scripts/bench's baselines: the study's programs measured through the stack's own nginx.

The default stack is started and seeded; then each baseline (loadtest/baselines/) runs on its own
loopback port and gets a server block in that same nginx (same process, same worker, same access
log, same proxy settings: its locations are a copy of nginx/surveybot-locations.conf pointing at
the baseline's upstream, whose block is copied from the rendered surveybot upstream). nginx
reloads (SIGHUP) to pick them up. Every baseline then takes the same wrk command.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable

from devstack.ports import free_ports, http_get
from devstack.procs import wait_for
from devstack.services import Service
from devstack.settings import without_app_settings
from devstack.stack import Stack
from loadtest.baselines import tools
from loadtest.bench import load
from loadtest.bench import measure as m
from loadtest.bench.phases import (
    Run,
    conversation,
    measure,
    raw,
    seed,
    stack_roots,
    stack_up,
)

LABELS = {
    "fixed": "nginx fixed reply (the box's ceiling)",
    "go": "Go net/http echo",
    "flask": "Flask echo, gunicorn sync ×2",
    "app": "surveybot 메뉴",
    "excel": "name lookup: Excel workbook (openpyxl), Flask ×2",
    "sqlite": "name lookup: SQLite, Flask ×2",
    "postgres": "name lookup: PostgreSQL, Flask ×2",
}
OPENLOOP_CEILING = 2000  # req/s: openloop.py's own limit on one shared core
DATA_STORE_RATE = 2.0  # req/s: Excel answers a few requests per second


def label(run: Run, name: str) -> str:
    return f"{LABELS[name]}, {run.mode.base.label}" if name == "app" else LABELS[name]


def add_servers(stack: Stack, upstreams: dict[str, str]) -> dict[str, int]:
    """Give each baseline (name -> host:port) a server in the stack's nginx; reload; their ports."""
    folder = stack.nginx_dir
    rendered = (folder / "conf.d" / "surveybot.conf").read_text()
    found = re.search(r"^upstream surveybot_app \{.*?^\}", rendered, re.MULTILINE | re.DOTALL)
    if found is None:
        raise RuntimeError(f"no surveybot_app upstream in {folder / 'conf.d' / 'surveybot.conf'}")
    locations = (folder / "surveybot-locations.conf").read_text()
    ports = dict(zip(upstreams, free_ports(len(upstreams), stack.port + 200), strict=True))
    blocks = ["# scripts/bench: the baselines, behind the same nginx as the app"]
    for name, address in upstreams.items():
        upstream = re.sub(r"^\s*server .*;\n", "", found[0], flags=re.MULTILINE)
        upstream = upstream.replace("surveybot_app", f"bench_{name}", 2).replace(
            "{\n", f"{{\n    server {address} max_fails=3 fail_timeout=10s;\n", 1
        )
        copy = folder / f"bench-{name}-locations.conf"
        copy.write_text(locations.replace("surveybot_app", f"bench_{name}"))
        fixed = f"\n    include {tools.FIXED_SNIPPET};" if name == "fixed" else ""
        blocks.append(
            f"{upstream}\nserver {{\n    listen 127.0.0.1:{ports[name]};\n    server_name _;\n"
            f"    include {copy};{fixed}\n}}\n"
        )
    # After surveybot.conf (conf.d/*.conf in order), which defines the log format they use.
    (folder / "conf.d" / "zz-bench-baselines.conf").write_text("\n".join(blocks))
    stack.nginx.check()  # with the baselines, before the reload
    stack.nginx.reload()
    for name, port in ports.items():
        path = "/fixed/skill" if name == "fixed" else "/healthz"
        wait_for(
            lambda p=port, q=path: http_get("127.0.0.1", p, q)[0] == 200,
            15,
            f"nginx serving {name}",
        )
    return ports


def start_services(
    run: Run, stack: Stack, wanted: tuple[str, ...], stop: contextlib.ExitStack
) -> dict[str, tuple[Service, str]]:
    """The baseline programs that are wanted and possible (a missing toolchain: a line saying so)."""
    names = [n for n in wanted if n not in ("fixed", "app")]
    ports = dict(zip(names, free_ports(len(names), stack.port + 300), strict=True))
    binds = {name: f"127.0.0.1:{port}" for name, port in ports.items()}
    argv: dict[str, list[str]] = {}
    env: dict[str, dict[str, str]] = {}
    if "go" in binds:
        binary_path = tools.build_go_echo(run.path("go_echo", "go_echo"))
        if binary_path is None:
            run.note(
                "skipped: the Go net/http echo baseline (no Go toolchain; see the lines above)"
            )
        else:
            argv["go"] = tools.go_echo_argv(binary_path, binds["go"])
    if "flask" in binds:
        argv["flask"] = tools.gunicorn_argv("flask_echo", binds["flask"], workers=2)
    if "excel" in binds:
        workbook = run.path("names", "members.xlsx")
        m.run_quiet(
            [
                str(m.LOAD_PY),
                "-m",
                "loadtest.baselines.excel_name",
                "--make",
                str(workbook),
                "--members",
                "1000",
            ],
            "making the Excel workbook",
        )
        argv["excel"] = tools.gunicorn_argv("excel_name", binds["excel"], workers=2)
        env["excel"] = {"BASELINE_EXCEL_PATH": str(workbook)}
    if "sqlite" in binds:
        database = run.path("names", "names.sqlite3")
        database.unlink(missing_ok=True)
        # The study's plain SQLite lookup: plaintext names, whatever keys this process has.
        m.run_quiet(
            [str(m.APP_PY), "-m", "loadtest.seed", "--sqlite", str(database), "--migrate"],
            "seeding SQLite",
            env=without_app_settings(),
        )
        argv["sqlite"] = tools.gunicorn_argv("sqlite_name", binds["sqlite"], workers=2)
        env["sqlite"] = {"BASELINE_SQLITE_PATH": str(database)}
    if "postgres" in binds:
        argv["postgres"] = tools.gunicorn_argv("postgres_name", binds["postgres"], workers=2)
        env["postgres"] = {"BASELINE_DATABASE_URL": str(stack.database_url)}
    services = {}
    for name, command in argv.items():
        service = Service(
            command,
            ports[name],
            run.path("baselines", f"{name}.log"),
            env={**os.environ, **env.get(name, {})},
            ready_path="/healthz",
        )
        services[name] = (stop.enter_context(service), binds[name])
    return services


def baselines(run: Run) -> None:
    wanted = run.mode.baselines
    with stack_up(run, run.mode.base) as stack, contextlib.ExitStack() as stop:
        seed(run, stack, "baselines")
        services = start_services(run, stack, wanted, stop)
        upstreams = {name: bind for name, (_, bind) in services.items()}
        if "fixed" in wanted:
            upstreams["fixed"] = stack.nodes[0].address
        ports = add_servers(stack, upstreams)
        access = m.AccessLog(stack.nginx_dir / "access.log")
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        if "app" in wanted:
            urls["app"] = stack.url
        roots = {name: _roots(stack, services.get(name, (None, ""))[0], name) for name in urls}
        rates = {}
        for name in [n for n in LABELS if n in urls]:
            path = "/fixed/skill" if name == "fixed" else "/skill"
            row = raw(
                run,
                roots[name],
                access,
                urls[name] + path,
                phase="baselines",
                config=label(run, name),
                baseline=name,
                slug=f"baseline-{name}",
                connections=4 if name == "excel" else 50,
            )
            rates[name] = row["rps"] if row else 0.0
        if "app" in urls:
            conversation(
                run,
                roots["app"],
                access,
                stack.url,
                "baseline-conversations",
                env={"LOAD_ADMIN_USERS": "0"},
                classes=("Member",),
                phase="baselines",
                config=f"surveybot member conversations (locust, no admins), {run.mode.base.label}",
                baseline="conversation",
            )
        fixed_rate(run, urls, roots, access, rates)


def fixed_rate(
    run: Run,
    urls: dict[str, str],
    roots: dict[str, m.Roots],
    access: m.AccessLog,
    rates: dict[str, float],
) -> None:
    """Latency at fixed rates with openloop.py (no coordinated omission)."""
    mode = run.mode
    plan: list[tuple[str, float]] = []
    if mode.fixed_rates in ("app100", "full") and "app" in urls:
        plan.append(("app", 100.0))
    if mode.fixed_rates == "full":
        plan = []
        for name in ("app", "go", "flask"):
            if name in urls:
                plan += [(name, r) for r in _rates(rates.get(name, 0.0))]
        plan += [
            (name, DATA_STORE_RATE) for name in ("excel", "sqlite", "postgres") if name in urls
        ]
    for name, rate in plan:
        capped = rate >= OPENLOOP_CEILING
        connections = 8 if rate <= DATA_STORE_RATE else 64
        slug = f"fixed-{name}-{rate:g}"
        measure(
            run,
            roots[name],
            access,
            lambda name=name, rate=rate, slug=slug, c=connections: load.openloop(
                urls[name] + "/skill",
                rate,
                mode.fixed_s,
                mode.fixed_warm_s,
                run.path(slug, "openloop.log"),
                c,
            ),
            phase="fixed rate",
            config=f"{label(run, name)} at {rate:g} req/s",
            baseline=name,
            note="capped at openloop's ceiling" if capped else "",
        )


def _rates(raw_rps: float) -> list[float]:
    """100 req/s (the study's requirement), 50% and 80% of the raw throughput (capped)."""
    found = [100.0]
    for share in (0.5, 0.8):
        rate = min(round(raw_rps * share / 10) * 10, OPENLOOP_CEILING)
        if rate > 100 and rate not in found:
            found.append(float(rate))
    return found


def _roots(stack: Stack, service: Service | None, name: str) -> m.Roots:
    app: Callable[[], list[int]] | None = None
    if name == "fixed":
        app = list
    elif service is not None and service.pid is not None:
        pid = service.pid
        app = lambda: [pid]  # noqa: E731
    return stack_roots(stack, app)
