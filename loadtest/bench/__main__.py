"""scripts/bench's entry (`python -m loadtest.bench`): the benchmark of issue 4 in one command.

    scripts/bench               # full run (<= 35 min) into docs/bench-results/
    scripts/bench --quick       # a small subset, about 5 minutes, into var/bench/quick/
    scripts/bench --smoke       # seconds: one tiny configuration, the pipeline end to end
    scripts/bench --profile     # py-spy flame graphs and the CPU breakdown, docs/bench-results/profile/
    scripts/bench --only encryption --out docs/bench-results/encryption
                                # issue 13: conversations with encryption at rest off and on (~4 min)

For each configuration: start the stack (devstack.stack), seed it (loadtest/seed.py), load
it (wrk, locust, openloop.py; loopback only, every run bounded in time), record throughput,
latency percentiles, errors and each component's CPU share, stop it. Results: results.md (tables,
targets, the study's claims, the machine), results.json (raw), *.png (charts), rewritten after
every measurement so an interrupted run leaves a valid record. The durations are scaled down from
the first plan to fit the time limits of a 2-core machine (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from loadtest.bench import baselines, charts, encryption, growth, phases, profile, report
from loadtest.bench import measure as m
from loadtest.bench.phases import DEFAULT, Config, Mode, Run, measure_config, with_threads

ALL_BASELINES = ("fixed", "go", "flask", "app", "excel", "sqlite", "postgres")
# gunicorn's plain worker, one request per process: it needs more processes than gthread's 2 x 4
# threads to overlap database waits (docs/worker-classes.md). DB_POOL_MAX is 2 by gunicorn_conf.
SYNC4 = Config(workers=4, worker_class="sync")
SYNC6 = Config(workers=6, worker_class="sync")
# gunicorn's gthread, the default before granian (issue 9): every comparison keeps it.
GTHREAD = Config(worker_class="gthread")
SMOKE = Mode(
    "smoke",
    # seconds of: the whole run, warm-up, raw wrk, conversations; conversation users; fixed rate
    budget_s=150, warm_s=1, raw_s=1, conv_s=3, conv_users=5,
    fixed_s=2, fixed_warm_s=0.5,
    baselines=("fixed", "app", "flask"),
    fixed_rates="app100",
    growth=(1000,),
    growth_s=3,
    encryption_pairs=1,
    base=Config(workers=1, db="sqlite"),
)  # fmt: skip
QUICK = Mode(
    "quick",
    # seconds of: the whole run, warm-up, raw wrk, conversations; conversation users; fixed rate
    budget_s=12 * 60, warm_s=2, raw_s=5, conv_s=8, conv_users=50,
    fixed_s=5, fixed_warm_s=1,
    workers=(1, 2),
    nodes=((1, 2), (2, 1)),
    classes=(
        DEFAULT,
        GTHREAD,
        SYNC4,
        Config(worker_class="gevent", pool=16),
        Config(worker_class="meinheld"),
    ),
    db_workers=(2,),
    baselines=ALL_BASELINES,
    fixed_rates="app100",
    growth=(1000, 100_000),
    growth_s=10,
    encryption_pairs=6,
    # A short ramp to 1,000 users: what a spike of the study's users does to connections and tails.
    shapes=(("paper", 30, {}), ("ramp", 60, {"LOAD_PEAK": "1000"})),
)  # fmt: skip
FULL = Mode(
    "full",
    # seconds of: the whole run, warm-up, raw wrk, conversations; conversation users; fixed rate
    budget_s=34 * 60, warm_s=3, raw_s=8, conv_s=15, conv_users=50,
    fixed_s=8, fixed_warm_s=2,
    workers=(1, 2, 4, 8),
    nodes=((1, 6), (2, 3), (3, 2)),
    classes=(
        SYNC4,
        SYNC6,
        DEFAULT,
        GTHREAD,
        Config(worker_class="gevent", pool=16),
        Config(worker_class="meinheld"),
    ),
    threads=(2, 4, 8),
    db_workers=(1, 2, 4),
    baselines=ALL_BASELINES,
    fixed_rates="full",
    growth=(1000, 100_000, 1_000_000),
    growth_s=30,
    encryption_pairs=6,
    remeasure_default=True,
    shapes=(
        ("paper", 60, {}),
        ("ramp", 180, {"LOAD_PEAK": "1000"}),
        ("spike", 60, {"LOAD_PEAK": "1000"}),
        ("soak", 120, {}),
    ),
)  # fmt: skip
# The worker classes worth explaining: the default and the alternatives docs/worker-classes.md weighs.
PROFILED = (
    DEFAULT,
    GTHREAD,
    SYNC4,
    Config(worker_class="gevent", pool=16),
    Config(worker_class="meinheld"),
)
PROFILE = Mode(
    "profile",
    # seconds of: the whole run, warm-up, raw wrk, conversations; conversation users; fixed rate
    budget_s=6 * 60, warm_s=2, raw_s=6, conv_s=8, conv_users=50,
    fixed_s=0, fixed_warm_s=0,
    profile=PROFILED,
)  # fmt: skip
MODES = {"smoke": SMOKE, "quick": QUICK, "full": FULL, "profile": PROFILE}
GROWTH_FALLBACK = 300_000


def config_seconds(mode: Mode) -> float:
    return 12 + mode.warm_s + mode.raw_s + mode.conv_s + 5


def sweep(phase: str, configs: list[Config]) -> Callable[[Run], None]:
    def step(run: Run) -> None:
        for config in configs:
            if config in run.measured or run.remaining() > config_seconds(run.mode):
                available = worker_class_missing(config.worker_class)
                if available:
                    run.note(f"skipped: {config.label} ({available})")
                else:
                    measure_config(run, phase, config)
            else:
                run.note(f"skipped: {phase} {config.label} (does not fit the time left)")

    return step


def worker_class_missing(worker_class: str) -> str | None:
    module = {"gevent": "gevent", "meinheld": "meinheld"}.get(worker_class)
    if module is None:
        return None
    done = subprocess.run(
        [str(m.APP_PY), "-c", f"import {module}"], capture_output=True, check=False
    )
    return (
        None
        if done.returncode == 0
        else f"{module} is not installed in .venv: run scripts/install-workers"
    )


def growth_step(run: Run) -> None:
    sizes = list(run.mode.growth)
    need = sum(growth_seconds(run.mode, n) for n in sizes)
    if sizes and sizes[-1] >= 1_000_000 and run.remaining() < need:
        sizes[-1] = GROWTH_FALLBACK
        run.note(
            f"growth: {run.mode.growth[-1]:,} answers did not fit the time left "
            f"({run.remaining():.0f} s for ~{need:.0f} s); measured {GROWTH_FALLBACK:,} instead"
        )
    growth.growth(run, tuple(sizes))


def growth_seconds(mode: Mode, answers: int) -> float:
    # stack, seeding (~40-60 s a million), VACUUM ANALYZE, the export (~45 s a million), the load
    return 15 + (60 + 20 + 50) * answers / 1e6 + mode.growth_s + 8


Step = tuple[str, float, Callable[[Run], None]]


def steps(mode: Mode) -> list[Step]:
    """The mode's phases in order: (name, seconds it needs at least, what runs it)."""
    found: list[Step] = []
    if mode.baselines:
        found.append(
            (
                "baselines",
                60 + len(mode.baselines) * (mode.warm_s + mode.raw_s + 1),
                baselines.baselines,
            )
        )
    found += sweeps(mode)
    if mode.encryption_pairs:
        found.append(("encryption", encryption.phase_seconds(mode), encryption.encryption))
    if mode.shapes:
        found.append(
            (
                "shapes",
                mode.shapes[0][1] + 20,
                lambda run: phases.shapes(run, run.mode.shapes),
            )
        )
    if mode.growth:
        found.append(("growth", growth_seconds(mode, mode.growth[0]), growth_step))
    if mode.profile:
        found.append(("profile", 25 + mode.raw_s + mode.conv_s, profile.profile))
    return found


def sweeps(mode: Mode) -> list[Step]:
    """The configuration sweeps the mode asks for: a fresh stack per configuration."""
    each = config_seconds(mode)
    found: list[Step] = []
    if mode.workers:
        found.append(("workers", each, sweep("workers", [Config(workers=w) for w in mode.workers])))
    if mode.nodes:
        found.append(
            ("nodes", each, sweep("nodes", [Config(nodes=n, workers=w) for n, w in mode.nodes]))
        )
    if mode.classes:
        found.append(("classes", each, sweep("classes", list(mode.classes))))
    if mode.threads:
        found.append(("threads", each, sweep("threads", [with_threads(t) for t in mode.threads])))
    if mode.db_workers:
        configs = [
            Config(workers=w, db=db) for w in mode.db_workers for db in ("postgres", "sqlite")
        ]
        found.append(("db", each, sweep("db", configs)))
    return found


def prepare_out(out: Path) -> None:
    """A results folder holding only this run's record (older charts would mislead)."""
    out.mkdir(parents=True, exist_ok=True)
    for old in [
        *out.glob("*.png"),
        *out.glob("profile-*.svg"),
        out / "results.md",
        out / "results.json",
    ]:
        old.unlink(missing_ok=True)


def finish(run: Run, finished: bool) -> None:
    run.meta["load_end"] = m.loadavg()
    run.meta["elapsed_min"] = round(run.elapsed() / 60, 1)
    draw(run)
    report.save(run, finished)


def draw(run: Run) -> None:
    try:
        charts.draw(run.rows, run.out)
    except Exception as error:  # noqa: BLE001 - a chart must not lose the measurements
        run.note(f"charts failed: {type(error).__name__}: {error}")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--quick", action="store_const", dest="mode", const="quick", help="a few minutes"
    )
    group.add_argument(
        "--smoke", action="store_const", dest="mode", const="smoke", help="seconds, no figures"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy flame graphs and CPU per part of a request (alone: only that, ~3 min)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="results folder (full: docs/bench-results, --profile alone: docs/bench-results/profile;"
        " else var/bench/MODE)",
    )
    parser.add_argument(
        "--work", type=Path, help="raw logs, CSV, HTML (default var/bench/MODE-TIME)"
    )
    parser.add_argument(
        "--only", help="comma-separated phases, e.g. baselines,workers (for debugging)"
    )
    parser.add_argument("--budget", type=float, help="minutes (full 34, quick 8, smoke 2.5)")
    parser.add_argument(
        "--growth",
        type=_sizes,
        help="stored answers the growth phase measures, e.g. 1000,10000000 (the 10M run: about"
        " 40 min; with --only growth)",
    )
    args = parser.parse_args(argv)
    args.mode = args.mode or ("profile" if args.profile else "full")
    return args


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part.replace("_", "")) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of whole numbers: {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("sizes must be positive")
    return sizes


def default_out(mode: Mode) -> Path:
    """Where a mode's record goes: the committed folders for full and profile runs only."""
    if mode.name == "full":
        return m.ROOT / "docs" / "bench-results"
    if mode.name == "profile":
        return m.ROOT / "docs" / "bench-results" / "profile"
    return m.ROOT / "var" / "bench" / mode.name


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    mode = MODES[args.mode]
    if args.budget:
        mode = replace(mode, budget_s=args.budget * 60)
    if args.growth:
        mode = replace(mode, growth=args.growth)
    if args.profile and not mode.profile:
        mode = replace(mode, profile=PROFILED, budget_s=mode.budget_s + 3 * 60)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = (args.out or default_out(mode)).resolve()
    work = (args.work or m.ROOT / "var" / "bench" / f"{mode.name}-{stamp}").resolve()
    prepare_out(out)
    work.mkdir(parents=True, exist_ok=True)
    run = Run(mode, out, work, report.save)
    run.meta.update(
        started=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        load_start=m.loadavg(),
        work=str(work),
    )
    run.has_wrk = shutil.which("wrk") is not None
    if not run.has_wrk:
        run.note("skipped: every raw wrk window (wrk is not installed: apt-get install wrk)")
    run.meta["machine"] = {
        **m.machine(),
        "pg_conf": "db/postgresql.conf (compose's settings; fsync on)",
    }
    m.say(
        f"{mode.name} run, up to {mode.budget_s / 60:.0f} min; results in {out}, raw files in {work}"
    )
    signal.signal(signal.SIGTERM, _interrupt)
    only = set(args.only.split(",")) if args.only else None
    finished = False
    try:
        for name, estimate, step in steps(mode):
            if only and name not in only:
                continue
            if run.remaining() < estimate:
                run.note(
                    f"skipped: phase {name} (needs ~{estimate:.0f} s, {run.remaining():.0f} s left)"
                )
                continue
            began = time.monotonic()
            step(run)
            run.meta.setdefault("phase_seconds", {})[name] = round(time.monotonic() - began)
            draw(run)
        finished = True
    except KeyboardInterrupt:
        run.note("interrupted: the results above are what was measured before")
        return 130
    finally:
        finish(run, finished)
        m.say(f"done in {run.elapsed() / 60:.1f} min: {out / 'results.md'}")
    return 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
