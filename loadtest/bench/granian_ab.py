"""Scratch driver: gunicorn gthread (2 workers x 4 threads) vs granian (2 workers x 4 blocking
threads) on the native stack with nginx and PostgreSQL, interleaved A/B/B/A (docs/granian.md).

    .venv-load/bin/python -m loadtest.bench.granian_ab var/bench/granian      # ABBA, then ramps
    .venv-load/bin/python -m loadtest.bench.granian_ab var/bench/granian abba # ABBA only
    .venv-load/bin/python -m loadtest.bench.granian_ab var/bench/granian ramp # ramps B, A only
    .venv-load/bin/python -m loadtest.bench.granian_ab var/bench/granian-spike spike  # spikes B, A

Each A/B round is loadtest.bench.baselines on a fresh stack of that configuration: Go echo and
Flask echo through the same nginx (the targets' references), raw `메뉴` (wrk -c50) and member
conversations (locust, no think time). Then the short ramp to 1,000 users (60 s) on each server
(or, with `spike`, 100 -> 1,000 -> 100 users in 60 s).
Results: OUT/results.md and results.json (rows tagged `server` and `round`), OUT/summary.tsv.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import devstack.config
from loadtest.bench import baselines, phases, report
from loadtest.bench import measure as m
from loadtest.bench.__main__ import draw, finish, prepare_out
from loadtest.bench.phases import DEFAULT, Config, Mode, Run

GRANIAN = Config(worker_class="granian")  # devstack's Node runs `surveybot serve --server granian`
SERVERS = {"gunicorn": DEFAULT, "granian": GRANIAN}
MODE = Mode(
    "granian-ab", budget_s=30 * 60, warm_s=2, raw_s=6, conv_s=8, conv_users=50,
    fixed_s=0, fixed_warm_s=0, baselines=("go", "flask", "app"), fixed_rates="none",
    shapes=(("ramp", 60, {"LOAD_PEAK": "1000"}), ("spike", 60, {"LOAD_PEAK": "1000"})),
)  # fmt: skip


def tag(run: Run, first: int, **fields: Any) -> None:
    for row in run.rows[first:]:
        row.update(fields)
    run.save(run, False)


def abba(run: Run) -> None:
    for index, name in enumerate(("gunicorn", "granian", "granian", "gunicorn")):
        run.mode = replace(MODE, base=SERVERS[name])
        first = len(run.rows)
        baselines.baselines(run)
        tag(run, first, server=name, round=index)
        draw(run)


def ramps(run: Run, chosen: str = "ramp") -> None:
    for index, name in enumerate(("granian", "gunicorn")):
        config = SERVERS[name]
        run.mode = replace(MODE, base=config)
        first = len(run.rows)
        phases.shapes(run, tuple(s for s in MODE.shapes if s[0] == chosen))
        tag(run, first, server=name, round=index)
        for row in run.rows[first:]:
            row["config"] = f"{config.label}: {row['config']}"
            row["params"] = config.options()
        run.save(run, False)


COLUMNS = (
    "phase", "round", "server", "baseline", "tool", "rps", "p50", "p99", "errors",
    "connection_errors", "shed", "over_deadline", "nginx_failures", "server_cpu_ms_per_req",
)  # fmt: skip


def summary(run: Run) -> str:
    lines = ["\t".join((*COLUMNS, "cpu_pct"))]
    for row in run.rows:
        values = [str(row.get(name, "")) for name in COLUMNS]
        lines.append("\t".join((*values, str(row.get("cpu_pct", "")))))
    return "\n".join(lines) + "\n"


def main() -> None:
    # Away from other stacks on this machine (8080 and up).
    devstack.config.DEFAULT_PORT = 9600
    out = Path(sys.argv[1]).resolve()
    what = sys.argv[2] if len(sys.argv) > 2 else "all"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    work = out.parent / f"{out.name}-work-{stamp}"
    prepare_out(out)
    work.mkdir(parents=True, exist_ok=True)
    run = Run(MODE, out, work, report.save)
    run.meta.update(
        started=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), load_start=m.loadavg(),
        work=str(work), machine=m.machine(),
    )  # fmt: skip
    began = time.monotonic()
    finished = False
    try:
        if what in ("all", "abba"):
            abba(run)
        if what in ("all", "ramp", "spike"):
            ramps(run, "spike" if what == "spike" else "ramp")
        finished = True
    finally:
        finish(run, finished)
        (out / "summary.tsv").write_text(summary(run))
        m.say(f"done in {(time.monotonic() - began) / 60:.1f} min: {out / 'summary.tsv'}")


if __name__ == "__main__":
    main()
