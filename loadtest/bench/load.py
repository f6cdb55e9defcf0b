"""scripts/bench's load generators: wrk (raw throughput), locust (conversations and shapes) and
loadtest/openloop.py (latency at a fixed rate), each run to its end as a child process whose CPU
comes from wait4() (measure.run_generator); their figures as one dict per window.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loadtest.bench.measure import LOAD_BIN, LOAD_PY, ROOT, Finished, clean_env, run_generator

SKILL_LUA = ROOT / "loadtest" / "wrk" / "skill.lua"

WRK_WRAPPER = """dofile({lua!r})
local skill_done = done
function done(summary, latency, requests)
  skill_done(summary, latency, requests)
  io.write(string.format('WRK_EXTRA {{"p95":%.3f}}\\n', latency:percentile(95) / 1000))
end
"""


def wrk(
    url: str, seconds: int, log: Path, connections: int = 50, utterance: str = "메뉴"
) -> tuple[dict[str, Any], Finished]:
    """wrk with loadtest/wrk/skill.lua (plus p95, which skill.lua does not print)."""
    wrapper = log.parent / "skill_p95.lua"
    log.parent.mkdir(parents=True, exist_ok=True)
    wrapper.write_text(WRK_WRAPPER.format(lua=str(SKILL_LUA)))
    argv = [
        shutil.which("wrk") or "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(wrapper),
        url,
    ]
    done = run_generator(argv, clean_env({"WRK_UTTERANCE": utterance}), seconds + 30, log)
    found = re.search(r"^WRK_JSON (\{.*\})$", done.output, re.MULTILINE)
    extra = re.search(r"^WRK_EXTRA (\{.*\})$", done.output, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"wrk gave no WRK_JSON line ({log}):\n{done.output[-1500:]}")
    data = json.loads(found[1])
    latency = data["latency_ms"]
    latency["p95"] = json.loads(extra[1])["p95"] if extra else None
    errors = data["errors"]
    return {
        "tool": "wrk",
        "requests": data["requests"],
        "rps": data["requests_per_second"],
        "p50": latency["p50"],
        "p95": latency["p95"],
        "p99": latency["p99"],
        "max": latency["max"],
        "errors": sum(errors.values()),
        "error_detail": {k: v for k, v in errors.items() if v},
        "connections": connections,
    }, done


def locust(
    host: str,
    prefix: Path,
    seconds: float,
    *,
    users: int = 50,
    processes: int = 1,
    shape: str | None = None,
    env: Mapping[str, str] | None = None,
    classes: tuple[str, ...] = (),
) -> tuple[dict[str, Any], Finished]:
    """A headless locust run (a shape when `shape`; only `classes` of users when given); the
    LOAD_SUMMARY figures and per-name stats."""
    prefix.parent.mkdir(parents=True, exist_ok=True)
    summary_path = prefix.with_name(prefix.name + "_summary.json")
    files = "loadtest/locustfile.py" + (",loadtest/shapes.py" if shape else "")
    argv = [
        str(LOAD_BIN / "locust"),
        "-f",
        files,
        "--headless",
        "--host",
        host,
        "--only-summary",
        "--csv",
        str(prefix),
        "--html",
        f"{prefix}.html",
        "--loglevel",
        "WARNING",
    ]
    extra = {"LOAD_SUMMARY": str(summary_path), **(env or {})}
    if shape:
        extra.update(LOAD_SHAPE=shape, LOAD_DURATION=f"{seconds:g}s")
        argv.append("--csv-full-history")
    else:
        argv += ["-u", str(users), "-r", str(users), "-t", f"{seconds:g}s"]
    if processes > 1:
        argv += ["--processes", str(processes)]
    argv += classes
    summary_path.unlink(missing_ok=True)
    done = run_generator(argv, clean_env(extra), seconds + 60, prefix.with_suffix(".log"))
    if not summary_path.exists():
        raise RuntimeError(f"locust wrote no summary ({prefix}.log):\n{done.output[-2000:]}")
    summary = json.loads(summary_path.read_text())
    row = {
        "tool": "locust" + (f" {shape}" if shape else ""),
        "requests": summary["requests"],
        "rps": summary["requests_per_second"],
        "p50": summary["p50_ms"],
        "p95": summary["p95_ms"],
        "p99": summary["p99_ms"],
        "max": summary["max_ms"],
        "errors": summary["failures"],
        # Apart from the failures above: no HTTP reply at all, a reply after Kakao's 5 s (both
        # failures too), and the app's busy replies (valid, so not failures; the person resends).
        "connection_errors": summary.get("connection_errors", 0),
        "over_deadline": summary.get("over_deadline", 0),
        "shed": summary.get("shed", 0),
        "processes": summary["locust_processes"],
        "locust_cpu_over_90": summary["locust_cpu_over_90_percent"],
        "names": _names(prefix),
        "failure_samples": _failures(prefix),
    }
    if shape:
        row["history"] = _history(prefix)
    return row, done


def _names(prefix: Path) -> dict[str, dict[str, float]]:
    path = Path(f"{prefix}_stats.csv")
    if not path.exists():
        return {}
    names = {}
    with path.open(encoding="utf-8") as stats:
        for row in csv.DictReader(stats):
            if row["Name"] != "Aggregated" and row["Type"] != "CHECK":
                names[row["Name"]] = {
                    "count": int(row["Request Count"]),
                    "failures": int(row["Failure Count"]),
                    "p50": float(row["50%"] or 0),
                    "p95": float(row["95%"] or 0),
                    "p99": float(row["99%"] or 0),
                }
    return names


def _failures(prefix: Path) -> list[str]:
    path = Path(f"{prefix}_failures.csv")
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as failures:
        rows = sorted(csv.DictReader(failures), key=lambda r: -int(r["Occurrences"]))
    return [f"{r['Occurrences']}x {r['Name']}: {r['Error'][:160]}" for r in rows[:5]]


def _history(prefix: Path, points: int = 240) -> list[list[float]]:
    """[seconds, users, req/s, p50, p95, p99, failures/s] per second (Aggregated, windowed)."""
    path = Path(f"{prefix}_stats_history.csv")
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as history:
        rows = [r for r in csv.DictReader(history) if r["Name"] == "Aggregated"]
    if not rows:
        return []
    start = int(rows[0]["Timestamp"])

    def number(text: str) -> float:
        try:
            return float(text)
        except ValueError:  # "N/A" before the first request
            return 0.0

    step = max(len(rows) // points, 1)
    return [
        [
            int(r["Timestamp"]) - start,
            number(r["User Count"]),
            number(r["Requests/s"]),
            number(r["50%"]),
            number(r["95%"]),
            number(r["99%"]),
            number(r["Failures/s"]),
        ]
        for r in rows[::step]
    ]


# openloop.py plus p95. `python -c` imports from the working directory first, and run_generator
# starts every generator in the repository root: `loadtest` imports as a package, as it does for
# `python -m loadtest.openloop`.
OPENLOOP_RUNNER = """import sys
from loadtest import openloop
plain = openloop.percentiles
def with_p95(values):
    found = plain(values)
    if values:
        ordered = sorted(values)
        found["p95"] = round(ordered[min(int(0.95 * len(ordered)), len(ordered) - 1)] * 1000, 3)
    return found
openloop.percentiles = with_p95
sys.exit(openloop.main(sys.argv[1:]))
"""


def openloop(
    url: str, rate: float, seconds: float, warmup: float, log: Path, connections: int = 64
) -> tuple[dict[str, Any], Finished]:
    """loadtest/openloop.py at a fixed rate (plus p95); latency counted from each due time."""
    report = log.with_suffix(".json")
    argv = [
        str(LOAD_PY),
        "-c",
        OPENLOOP_RUNNER,
        "--url",
        url,
        "--rate",
        f"{rate:g}",
        "--duration",
        f"{seconds + warmup:g}",
        "--warmup",
        f"{warmup:g}",
        "--connections",
        str(connections),
        "--json",
        str(report),
    ]
    report.unlink(missing_ok=True)
    done = run_generator(argv, clean_env(), seconds + warmup + 30, log)
    if not report.exists():
        raise RuntimeError(f"openloop wrote no report ({log}):\n{done.output[-1500:]}")
    data = json.loads(report.read_text())
    latency = data["latency_ms"]
    errors = data["errors"]
    return {
        "tool": "openloop",
        "target_rate": rate,
        "rps": data["achieved_rate"],
        "requests": data["measured_requests"],
        "p50": latency.get("p50"),
        "p95": latency.get("p95"),
        "p99": latency.get("p99"),
        "max": latency.get("max"),
        "errors": sum(errors.values()),
        "error_detail": errors,
        "service_p50": data["service_time_ms"].get("p50"),
        "generator_max_lag_ms": data["generator_max_lag_ms"],
    }, done
