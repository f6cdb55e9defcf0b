"""scripts/bench's runs on the native stack: configuration sweeps and locust shapes (growth: growth.py).

Each configuration gets a fresh stack (devstack.stack), seeded before anything is measured,
and is stopped (stack.down, also on errors and Ctrl-C) before the next one starts.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from devstack.settings import derived_keys
from devstack.stack import Stack, StackConfig
from loadtest.bench import load
from loadtest.bench import measure as m


@dataclass(frozen=True)
class Config:
    """One stack configuration; the default is what compose ships (1 node shown, 2 workers)."""

    nodes: int = 1
    workers: int = 2
    worker_class: str = "granian"
    db: str = "postgres"
    threads: int | None = None  # GUNICORN_THREADS = DB_POOL_MAX; None: the app's 4
    pool: int | None = None  # DB_POOL_MAX alone (gevent)

    @property
    def label(self) -> str:
        text = f"{self.nodes}×{self.workers} {self.worker_class}"
        if self.threads:
            text += f" {self.threads} threads"
        if self.pool:
            text += f" pool {self.pool}"
        return f"{text}, {'PostgreSQL' if self.db == 'postgres' else 'SQLite'}"

    def options(self) -> dict[str, Any]:
        env = {"DB_POOL_MAX": str(self.pool)} if self.pool else {}
        return {
            "nodes": self.nodes,
            "workers": self.workers,
            "worker_class": self.worker_class,
            "db": self.db,
            "threads": self.threads,
            "env": env,
        }


DEFAULT = Config()


@dataclass(frozen=True)
class Mode:
    name: str
    budget_s: float
    warm_s: int
    raw_s: int
    conv_s: int
    conv_users: int
    fixed_s: float
    fixed_warm_s: float
    workers: tuple[int, ...] = ()
    nodes: tuple[tuple[int, int], ...] = ()
    classes: tuple[Config, ...] = ()
    threads: tuple[int, ...] = ()
    db_workers: tuple[int, ...] = ()
    baselines: tuple[str, ...] = ()
    fixed_rates: str = "none"  # none | app100 | full
    growth: tuple[int, ...] = ()
    growth_s: int = 0
    shapes: tuple[tuple[str, int, dict[str, str]], ...] = ()
    # the configuration of the baselines, growth, shapes and encryption phases
    base: Config = DEFAULT
    remeasure_default: bool = False  # measure DEFAULT again in each sweep: the run's own noise
    profile: tuple[Config, ...] = ()  # configurations profiled with py-spy (loadtest.bench.profile)
    # Pairs of conversation windows with encryption at rest off and on (loadtest.bench.encryption)
    encryption_pairs: int = 0


@dataclass
class Run:
    """One bench run: its rows, written out after every measurement (a partial run is valid)."""

    mode: Mode
    out: Path
    work: Path
    save: Callable[[Run, bool], None]
    meta: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    measured: dict[Config, list[dict[str, Any]]] = field(default_factory=dict)
    began: float = field(default_factory=time.monotonic)
    has_wrk: bool = True
    stacks: int = 0

    def add(self, row: dict[str, Any]) -> None:
        self.rows.append(row)
        shown = f"{row['rps']:.0f} req/s" if row.get("rps") is not None else ""
        if row.get("p99") is not None:
            shown += f", p99 {row['p99']:.0f} ms"
        m.say(f"[{self.elapsed():4.0f} s] {row['phase']}: {row['config']} ({row['tool']}) {shown}")
        self.save(self, False)

    def note(self, text: str) -> None:
        self.notes.append(text)
        m.say(text)
        self.save(self, False)

    def elapsed(self) -> float:
        return time.monotonic() - self.began

    def remaining(self) -> float:
        return self.mode.budget_s - self.elapsed()

    def path(self, *parts: str) -> Path:
        path = self.work.joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path


@contextlib.contextmanager
def stack_up(
    run: Run, config: Config, *, folder_name: str = "stack", **more: Any
) -> Iterator[Stack]:
    """A fresh stack in run.work/`folder_name` (two at once need two names); stack.down() however
    the block ends. A stack that fails to start raises. `more`: StackConfig fields (env, ...)."""
    folder = run.work / folder_name
    if folder.exists() and not (folder / "stack.json").exists():
        shutil.rmtree(folder)
    stack = Stack.up(StackConfig(**{**config.options(), **more}), folder)
    try:
        yield stack
    finally:
        keep_logs(run, stack)
        stack.down()


def keep_logs(run: Run, stack: Stack) -> None:
    """The tails of nginx's error log, the nodes' and PostgreSQL's logs, before the stack goes."""
    run.stacks += 1
    logs = [stack.nginx_dir / "error.log", *(node.log for node in stack.nodes)]
    if stack.postgres:
        logs.append(stack.postgres.log)
    for log in logs:
        with contextlib.suppress(OSError):
            text = log.read_bytes()[-200_000:]
            if text:
                name = f"{run.stacks:02d}-{log.parent.name}-{log.name}"
                run.path("stack-logs", name).write_bytes(text)


def seed(run: Run, stack: Stack, slug: str, members: int = 1000, answers: int = 0) -> float:
    """Seed the stack's database (not measured). On PostgreSQL then VACUUM ANALYZE, as autovacuum
    would have done long before a real database held that much: fresh bulk-loaded tables without
    statistics or a visibility map get plans no running database would."""
    target = seed_target(stack)
    log = run.path(slug, "seed.log")
    seconds = m.seed(target, log, members=members, answers=answers, keys=seed_keys(stack))
    if stack.database_url:
        stack.psql("VACUUM ANALYZE")
    return seconds


def seed_keys(stack: Stack) -> dict[str, str]:
    """The DATA_KEYS and INDEX_KEY the stack's nodes seal with (devstack derives them from its
    SECRET_KEY; its env may give its own): seeded rows are sealed as those nodes write theirs, and
    read as in production. None with ENCRYPTION_DISABLED in the env: plaintext, as those nodes."""
    if "ENCRYPTION_DISABLED" in stack.config.env:
        return {}
    return {name: stack.config.env.get(name, value)
            for name, value in derived_keys(stack.secret_key).items()}  # fmt: skip


def seed_target(stack: Stack) -> list[str]:
    if stack.database_url:
        return ["--database-url", stack.database_url]
    return ["--sqlite", str(stack.sqlite_path)]


def stack_roots(stack: Stack, app: Callable[[], list[int]] | None = None) -> m.Roots:
    def roots() -> dict[str, list[int]]:
        pg = stack.postgres.pid() if stack.postgres else None
        return {
            "nginx": [stack.nginx.pid] if stack.nginx.pid else [],
            "app": app() if app else [n.pid for n in stack.nodes if n.pid],
            "postgres": [pg] if pg else [],
        }

    return roots


def measure(
    run: Run,
    roots: m.Roots,
    access: m.AccessLog,
    go: Callable[[], tuple[dict[str, Any], m.Finished]],
    **fields: Any,
) -> dict[str, Any]:
    """One window: the generator's figures, each component's CPU, nginx's apologies."""
    access.mark()
    with m.Window(roots).from_first_request(access.grew) as window:
        row, done = go()
    row.update(window.shares(done.cpu_s))
    seen, failed = access.failures()
    row["nginx_logged"] = seen
    row["nginx_failures"] = failed
    if row["tool"] in ("wrk", "openloop"):
        row["errors"] += failed  # 200 apologies from nginx are failures Kakao users would see
    busy = sum(row["cpu_s"].get(k, 0.0) for k in ("nginx", "app", "postgres"))
    row["server_cpu_ms_per_req"] = (
        round(1000 * busy / row["requests"], 3) if row["requests"] else None
    )
    row.update(fields)
    run.add(row)
    return row


def raw(
    run: Run, roots: m.Roots, access: m.AccessLog, url: str, **fields: Any
) -> dict[str, Any] | None:
    """wrk warm-up (discarded), then the measured wrk window."""
    if not run.has_wrk:
        return None
    connections = fields.pop("connections", 50)
    name = fields.get("slug", "raw")
    load.wrk(url, run.mode.warm_s, run.path(name, "warm.log"), connections)
    return measure(
        run,
        roots,
        access,
        lambda: load.wrk(url, run.mode.raw_s, run.path(name, "wrk.log"), connections),
        **fields,
    )


def conversation(
    run: Run,
    roots: m.Roots,
    access: m.AccessLog,
    url: str,
    slug: str,
    env: dict[str, str] | None = None,
    classes: tuple[str, ...] = (),
    **fields: Any,
) -> dict[str, Any]:
    """Whole conversations, no think time; a second locust process if the first one saturated."""
    env = {"LOAD_WAIT": "0", "LOAD_MEMBERS": "1000", **(env or {})}
    mode = run.mode

    def go(processes: int) -> Callable[[], tuple[dict[str, Any], m.Finished]]:
        prefix = run.path(slug, f"locust-{processes}p")
        return lambda: load.locust(
            url,
            prefix,
            mode.conv_s,
            users=mode.conv_users,
            processes=processes,
            env=env,
            classes=classes,
        )

    row = measure(run, roots, access, go(1), slug=slug, **fields)
    if row["locust_cpu_over_90"] and mode.name != "smoke":
        run.rows.remove(row)
        note = "locust saturated one process: rerun with 2"
        return measure(run, roots, access, go(2), slug=slug, note=note, **fields)
    return row


def measure_config(run: Run, phase: str, config: Config) -> None:
    """Raw wrk and locust conversations on one stack configuration."""
    if config in run.measured and not (config == DEFAULT and run.mode.remeasure_default):
        for row in run.measured[config]:
            run.add({**row, "phase": phase, "note": f"same measurement as in '{row['phase']}'"})
        return
    slug = f"{phase}-{config.nodes}x{config.workers}-{config.worker_class}-{config.db}-{config.threads}-{config.pool}"
    fields = {"phase": phase, "config": config.label, "params": config.options()}
    with stack_up(run, config) as stack:
        seed(run, stack, slug)
        roots, access = stack_roots(stack), m.AccessLog(stack.nginx_dir / "access.log")
        rows = [raw(run, roots, access, f"{stack.url}/skill", slug=slug, **fields)]
        rows.append(conversation(run, roots, access, stack.url, f"{slug}-conversations", **fields))
    run.measured[config] = [r for r in rows if r]


# --- shapes ---------------------------------------------------------------------------------------
def shapes(run: Run, chosen: tuple[tuple[str, int, dict[str, str]], ...]) -> None:
    """The locust shapes with think time, on the default configuration, one stack for all."""
    members = 1200
    with stack_up(run, run.mode.base) as stack:
        seed(run, stack, "shapes", members=members)
        roots, access = stack_roots(stack), m.AccessLog(stack.nginx_dir / "access.log")
        for index, (shape, seconds, env) in enumerate(chosen):
            if run.remaining() < seconds + 20:
                run.note(f"skipped: the {shape} shape ({seconds} s) does not fit the time left")
                continue
            if index:
                # locust stopped the last shape's people mid-conversation: their open questions
                # would take the next run's first "메뉴" as an answer. Each shape starts clean.
                stack.psql("DELETE FROM sessions")
            measure(
                run,
                roots,
                access,
                lambda shape=shape, seconds=seconds, env=env: load.locust(
                    stack.url,
                    run.path("shapes", shape),
                    seconds,
                    shape=shape,
                    env={"LOAD_MEMBERS": str(members), **env},
                    processes=shape_processes(shape, env),
                ),
                phase="shapes",
                config=f"{shape} ({_shape_text(shape, seconds, env)})",
                shape=shape,
                slug=f"shape-{shape}",
            )


def shape_processes(shape: str, env: dict[str, str]) -> int:
    """locust processes for a shape: one serves a few hundred users with think time; past that,
    one process near a full core delays its own requests and understates the latency."""
    users = int(env.get("LOAD_PEAK", "1000")) if shape in ("ramp", "spike") else 200
    return 2 if users > 300 else 1


def _shape_text(shape: str, seconds: int, env: dict[str, str]) -> str:
    users = env.get("LOAD_USERS", "200" if shape == "soak" else "100")
    peak = env.get("LOAD_PEAK", "1000")
    what = {
        "paper": f"{users} users",
        "ramp": f"0→{peak} users",
        "spike": f"{users}→{peak}→{users} users",
        "soak": f"{users} users",
    }[shape]
    return f"{what}, {seconds} s, think time 0.5-1.5 s"


def with_threads(threads: int) -> Config:
    """The default server with `threads` threads per worker and as many pooled connections (4:
    the default)."""
    return DEFAULT if threads == 4 else replace(DEFAULT, threads=threads)
