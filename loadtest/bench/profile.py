"""scripts/bench --profile: where each request's CPU goes, on the real path under load.

For each profiled configuration the stack is started and seeded as for any measurement; then, while
wrk sends `메뉴` (and again while locust runs member conversations), py-spy samples two workers
of the node: one into a flame graph (`profile-<slug>.svg`), the other into collapsed stacks
that `breakdown` sorts into the parts of a request (HTTP server, Falcon, decoding, the bot, reply
building, the store's client side, crypto: sealing and opening personal data (issue 13), metrics,
logging). py-spy runs with `--gil`: only the thread holding the GIL is sampled, which is the
Python CPU of a worker whatever its threads or greenlets wait for. A part's CPU per request is
its share of those samples times the workers' measured CPU per request (/proc): what a worker
spends without the GIL (system calls, libpq, C code) is spread in the same proportions.
(Counting each sample as 1/RATE s and calling the rest "outside the GIL" was tried: on a loaded
machine a GIL holder waiting for a core is sampled too, so it overstated Python's part.) nginx
and PostgreSQL come from their own process trees, as in every window.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loadtest.bench import load
from loadtest.bench import measure as m
from loadtest.bench.figures import fmt
from loadtest.bench.phases import Config, Run, measure, seed, stack_roots, stack_up

PY_SPY = m.LOAD_BIN / "py-spy"
RATE = 200  # samples a second per worker: enough for shares of a few percent, light on the worker
# First match wins, from the innermost frame outwards: a psycopg call made by the bot is the
# store's, a log line written by gunicorn is logging's, the JSON of a value being sealed is
# crypto's (encryption at rest, issue 13: sealing, opening, the blind index).
PARTS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("logging", re.compile(r"\blogging/|glogging\.py|log_redaction\.py|Formatter\.")),
    ("metrics", re.compile(r"prometheus_client/|surveybot/observability\.py")),
    ("crypto", re.compile(r"surveybot/crypto\.py|surveybot/store/sealing\.py|cryptography/")),
    ("store", re.compile(r"surveybot/store/|psycopg|sqlite3/")),
    ("decode", re.compile(r"surveybot/kakao/request\.py|\bread_body\b|\b_read_up_to\b")),
    ("reply", re.compile(r"surveybot/kakao/(reply|limits|pages)\.py")),
    ("bot", re.compile(r"surveybot/(conversation/|domain|korean|names|tokens)")),
    ("falcon", re.compile(r"falcon/|surveybot/(resources|app|shedding)\.py")),
    ("http server", re.compile(r"gunicorn/|granian/|meinheld|gevent/|surveybot/workers\.py")),
)
# Only when no frame above matched: the machinery the HTTP servers run requests on.
GENERIC = re.compile(
    r"threading\.py|concurrent/futures/|selectors\.py|socket\.py|queue\.py|ssl\.py"
)
PART_NAMES = (*(name for name, _ in PARTS), "other")
COLUMNS = (
    "http server",
    "falcon",
    "decode",
    "bot",
    "reply",
    "store",
    "crypto",
    "metrics",
    "logging",
    "other",
)


def classify(stack: str) -> str:
    """The part of a request one collapsed py-spy stack belongs to."""
    frames = stack.split(";")
    for frame in reversed(frames):
        for name, pattern in PARTS:
            if pattern.search(frame):
                return name
    if any(GENERIC.search(frame) for frame in frames):
        return "http server"
    return "other"


def breakdown(collapsed: str) -> tuple[dict[str, float], int]:
    """(share of the samples per part, number of samples) of py-spy's raw output."""
    counts: Counter[str] = Counter()
    for line in collapsed.splitlines():
        stack, _, number = line.rstrip().rpartition(" ")
        if stack and number.isdigit():
            counts[classify(stack)] += int(number)
    total = sum(counts.values())
    if not total:
        return {}, 0
    return {name: counts[name] / total for name in PART_NAMES}, total


def top_frames(collapsed: str, limit: int = 8) -> list[str]:
    """The innermost frames with the most samples, for the report's notes."""
    counts: Counter[str] = Counter()
    for line in collapsed.splitlines():
        stack, _, number = line.rstrip().rpartition(" ")
        if stack and number.isdigit():
            counts[stack.split(";")[-1]] += int(number)
    total = sum(counts.values()) or 1
    return [f"{100 * n / total:.1f}% {frame}" for frame, n in counts.most_common(limit)]


def _spy(pid: int, seconds: float, out: Path, fmt: str) -> subprocess.Popen[bytes]:
    argv = [str(PY_SPY), "record", "--pid", str(pid), "--duration", f"{max(seconds, 1):.0f}"]
    argv += ["--rate", str(RATE), "--gil", "--format", fmt, "--output", str(out)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def spied(
    run: Run, workers: list[int], seconds: float, slug: str, go: Callable[[], Any]
) -> Callable[[], Any]:
    """`go`, with py-spy on the first two workers while it runs (flame graph, collapsed stacks)."""

    def wrapped() -> Any:
        raw = run.path("profile", f"{slug}.txt")
        svg = run.out / f"profile-{slug}.svg"
        spies = [_spy(workers[0], seconds, raw, "raw")]
        if len(workers) > 1:
            spies.append(_spy(workers[1], seconds, svg, "flamegraph"))
        try:
            return go()
        finally:
            for spy in spies:
                try:
                    spy.wait(timeout=seconds + 20)
                except subprocess.TimeoutExpired:
                    spy.kill()
                    spy.wait()

    return wrapped


def parts_ms(row: dict[str, Any], shares: dict[str, float]) -> dict[str, float]:
    """CPU ms per request of each part of the app, and of nginx, PostgreSQL and the generator."""
    requests = row.get("requests") or 0
    cpu = row.get("cpu_s") or {}
    if not requests:
        return {}
    app_ms = 1000 * cpu.get("app", 0.0) / requests
    found = {name: round(app_ms * share, 3) for name, share in shares.items()}
    for component in ("nginx", "postgres", "generator"):
        found[component] = round(1000 * cpu.get(component, 0.0) / requests, 3)
    return found


def profile_config(run: Run, config: Config) -> None:
    """Raw `메뉴` and member conversations on one configuration, each window profiled."""
    base = f"{config.worker_class}-{config.workers}w"
    fields = {"phase": "profile", "config": config.label, "params": config.options()}
    with stack_up(run, config) as stack:
        seed(run, stack, f"profile-{base}")
        roots, access = stack_roots(stack), m.AccessLog(stack.nginx_dir / "access.log")
        workers = stack.nodes[0].worker_pids()
        url = f"{stack.url}/skill"
        windows: list[tuple[str, Callable[[], Any], float]] = []
        if run.has_wrk:
            load.wrk(url, run.mode.warm_s, run.path("profile", f"{base}-warm.log"))
            windows.append(("menu", lambda: load.wrk(
                url, run.mode.raw_s, run.path("profile", f"{base}-menu-wrk.log")), run.mode.raw_s))  # fmt: skip
        env = {"LOAD_WAIT": "0", "LOAD_MEMBERS": "1000", "LOAD_ADMIN_USERS": "0"}
        prefix = run.path("profile", f"{base}-conversation")
        windows.append(("conversation", lambda: load.locust(
            stack.url, prefix, run.mode.conv_s, users=run.mode.conv_users, env=env,
            classes=("Member",)), run.mode.conv_s))  # fmt: skip
        for what, go, seconds in windows:
            slug = f"{base}-{what}"
            row = measure(run, roots, access, spied(run, workers, seconds, slug, go),
                          workload=what, slug=f"profile-{slug}", **fields)  # fmt: skip
            _attach(run, row, slug)


def _attach(run: Run, row: dict[str, Any], slug: str) -> None:
    raw = run.path("profile", f"{slug}.txt")
    text = raw.read_text(errors="replace") if raw.exists() else ""
    shares, samples = breakdown(text)
    if not samples:
        run.note(f"profile {slug}: py-spy recorded nothing (see {raw})")
        return
    row["profile"] = {
        "samples": samples,
        "shares": {k: round(v, 4) for k, v in shares.items()},
        "ms_per_request": parts_ms(row, shares),
        "top_frames": top_frames(text),
        "flamegraph": f"profile-{slug}.svg" if (run.out / f"profile-{slug}.svg").exists() else None,
    }
    run.save(run, False)


def profile(run: Run) -> None:
    """The profile phase: every configuration of the mode's `profile` list."""
    if not PY_SPY.exists():
        run.note("skipped: the profile phase (py-spy is not in .venv-load: run loadtest/setup)")
        return
    for config in run.mode.profile:
        if run.remaining() < 25 + run.mode.raw_s + run.mode.conv_s:
            run.note(f"skipped: profile of {config.label} (does not fit the time left)")
            continue
        profile_config(run, config)


def profile_table(rows: list[dict[str, Any]]) -> list[str]:
    """CPU ms per request by part (loadtest.bench.profile), with the flame graph of each window."""
    head = " | ".join(COLUMNS)
    lines = [
        f"| configuration | workload | {head} | app | nginx | PostgreSQL | server | generator "
        "| samples | flame graph |",
        "|---|---|" + "--:|" * (len(COLUMNS) + 6) + "---|",
    ]
    for r in rows:
        found = r.get("profile")
        if not found:
            continue
        ms = found["ms_per_request"]
        app = sum(ms.get(p, 0.0) for p in COLUMNS)
        server = app + ms.get("nginx", 0.0) + ms.get("postgres", 0.0)
        cells = " | ".join(fmt(ms.get(p), 3) for p in COLUMNS)
        graph = f"[svg]({found['flamegraph']})" if found.get("flamegraph") else "–"
        lines.append(
            f"| {r['config']} | {r.get('workload', '')} | {cells} | {fmt(app, 3)} | "
            f"{fmt(ms.get('nginx'), 3)} | {fmt(ms.get('postgres'), 3)} | {fmt(server, 3)} | "
            f"{fmt(ms.get('generator'), 3)} | {found['samples']:,} | {graph} |"
        )
    return lines
