"""scripts/bench's charts (matplotlib, .venv-load): one PNG per sweep, drawn from the result rows.

Labels are in English: the default fonts have no Hangul.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from loadtest.bench.figures import COMMON, CPU_KEYS, common_latency  # noqa: E402

Rows = list[dict[str, Any]]
ENGLISH = {
    "메뉴": "menu",
    "설문목록": "list",
    "참여": "join",
    "답(하나)": "answer",
    "제출": "submit",
    "내응답": "my answer",
    "결과": "results",
}
BASELINES = {
    "fixed": "nginx fixed reply",
    "go": "Go net/http echo",
    "flask": "Flask echo (sync x2)",
    "app": "surveybot 'menu' (1x2 granian, PG)",
    "excel": "name: Excel (openpyxl)",
    "sqlite": "name: SQLite",
    "postgres": "name: PostgreSQL",
    "conversation": "surveybot member conversations",
}
COLORS = {
    "generator": "#999999",
    "nginx": "#4c72b0",
    "app": "#dd8452",
    "postgres": "#55a868",
    "other": "#dddddd",
}


def _short(row: dict[str, Any]) -> str:
    text = str(row["config"]).replace(", PostgreSQL", " PG").replace(", SQLite", " SQLite")
    if row["phase"] == "threads" and "threads" not in text:
        text = text.replace("granian", "granian 4 threads")  # the default, unnamed in the label
    return text


def _by(rows: Rows, phase: str, tool: str) -> Rows:
    return [r for r in rows if r["phase"] == phase and r["tool"] == tool]


def _save(fig: Any, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _bars(ax: Any, labels: list[str], series: dict[str, list[float]], ylabel: str) -> None:
    width = 0.8 / max(len(series), 1)
    for i, (name, values) in enumerate(series.items()):
        xs = [j + i * width for j in range(len(labels))]
        bars = ax.bar(xs, values, width, label=name)
        ax.bar_label(bars, fmt="%.0f", fontsize=7)
    ax.set_xticks(
        [j + width * (len(series) - 1) / 2 for j in range(len(labels))], labels, fontsize=8
    )
    ax.set_ylabel(ylabel)
    top = max((v for values in series.values() for v in values), default=0)
    ax.set_ylim(0, top * 1.3 or 1)  # headroom: the legend above the bars, not on them
    ax.legend(fontsize=8, loc="upper left", ncol=len(series))


def sweep(rows: Rows, phase: str, title: str, path: Path) -> bool:
    raw = {_short(r): r for r in _by(rows, phase, "wrk")}
    talk = {_short(r): r for r in _by(rows, phase, "locust")}
    labels = list(dict.fromkeys([*raw, *talk]))
    if not labels:
        return False
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 7))
    rps: dict[str, list[float]] = {}
    p99: dict[str, list[float]] = {}
    for name, found in (("raw wrk (menu)", raw), ("locust conversations", talk)):
        if found:
            rps[name] = [found[k]["rps"] if k in found else 0 for k in labels]
            p99[f"{name} p99"] = [(found[k]["p99"] or 0) if k in found else 0 for k in labels]
    _bars(top, labels, rps, "requests/s")
    top.set_title(title)
    _bars(bottom, labels, p99, "p99 latency (ms)")
    _save(fig, path)
    return True


def db(rows: Rows, path: Path) -> bool:
    chosen = of_phase(rows, "db")
    if not chosen:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, tool, what in (
        (axes[0], "wrk", "raw wrk (menu)"),
        (axes[1], "locust", "locust conversations"),
    ):
        for store, name in (("postgres", "PostgreSQL"), ("sqlite", "SQLite")):
            points = sorted(
                (r["params"]["workers"], r["rps"])
                for r in chosen
                if r["tool"] == tool and r["params"]["db"] == store
            )
            if points:
                ax.plot(*zip(*points, strict=True), marker="o", label=name)
        ax.set_title(what)
        ax.set_xlabel("workers (1 node, granian)")
        ax.set_ylabel("requests/s")
        ax.legend()
    _save(fig, path)
    return True


def of_phase(rows: Rows, phase: str, needs: str | None = None) -> Rows:
    """The rows of one phase (with a value for `needs`, when given)."""
    return [r for r in rows if r["phase"] == phase and (needs is None or r.get(needs))]


def baselines(rows: Rows, path: Path) -> bool:
    chosen = of_phase(rows, "baselines", "rps")
    if not chosen:
        return False
    fig, ax = plt.subplots(figsize=(9, 0.5 * len(chosen) + 1.5))
    labels = [BASELINES.get(r.get("baseline", ""), r["config"]) for r in chosen]
    bars = ax.barh(labels, [r["rps"] for r in chosen], color="#4c72b0")
    ax.bar_label(bars, fmt="%.0f", fontsize=8)
    ax.set_xscale("log")
    ax.invert_yaxis()
    ax.set_xlabel("requests/s through the same nginx (log scale)")
    ax.set_title("Baselines: wrk -c50 (Excel -c4); conversations: locust")
    _save(fig, path)
    return True


def cpu(rows: Rows, path: Path) -> bool:
    chosen = [
        r
        for r in rows
        if r["tool"] == "wrk" and r.get("cpu_pct") and not r.get("note", "").startswith("same")
    ]
    if not chosen:
        return False
    fig, ax = plt.subplots(figsize=(10, 0.32 * len(chosen) + 1.5))
    labels = [f"{r['phase']}: {BASELINES.get(r.get('baseline', ''), _short(r))}" for r in chosen]
    left = [0.0] * len(chosen)
    for key in CPU_KEYS:
        values = [r["cpu_pct"].get(key, 0.0) for r in chosen]
        ax.barh(labels, values, left=left, color=COLORS[key], label=key)
        left = [a + b for a, b in zip(left, values, strict=True)]
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_xlabel("share of the machine's CPU during the raw wrk window (%)")
    ax.legend(ncol=5, fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    _save(fig, path)
    return True


def fixed_rate(rows: Rows, path: Path) -> bool:
    chosen = [
        r
        for r in rows
        if r["phase"] == "fixed rate" and r.get("baseline") in ("app", "go", "flask")
    ]
    if not chosen:
        return False
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, color in (("app", "#dd8452"), ("go", "#55a868"), ("flask", "#4c72b0")):
        points = sorted(
            (r["target_rate"], r["p50"], r["p99"]) for r in chosen if r["baseline"] == name
        )
        if points:
            rates = [p[0] for p in points]
            label = BASELINES[name]
            ax.plot(rates, [p[1] for p in points], marker="o", color=color, label=f"{label} p50")
            ax.plot(rates, [p[2] for p in points], "x--", color=color, label=f"{label} p99")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("fixed request rate (req/s)")
    ax.set_ylabel("latency from due time (ms)")
    ax.set_title("Open-loop latency through nginx (no coordinated omission)")
    ax.legend(fontsize=7)
    _save(fig, path)
    return True


def growth(rows: Rows, path: Path) -> bool:
    lat = sorted((r for r in rows if r["phase"] == "growth"), key=lambda r: r["answers"])
    exp = sorted(
        (r for r in rows if r["phase"] == "export" and r.get("peak_mb")),
        key=lambda r: r["respondents"],
    )
    if not lat and not exp:
        return False
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    if lat:
        names = [n for n in COMMON if any(n in (r.get("names") or {}) for r in lat)]
        series = {
            f"{r['answers']:,} answers": [
                (r.get("names") or {}).get(n, {}).get("p50", 0) for n in names
            ]
            for r in lat
        }
        _bars(axes[0], [ENGLISH[n] for n in names], series, "p50 latency (ms), paper shape")
        axes[0].set_title(
            "Common requests vs stored answers (mean p50: "
            + ", ".join(f"{common_latency(r) or 0:.1f}" for r in lat)
            + " ms)"
        )
    if exp:
        xs = [r["respondents"] for r in exp]
        axes[1].plot(xs, [r["peak_mb"] for r in exp], marker="o", label="worker peak RSS (MB)")
        axes[1].plot(xs, [r["export_s"] for r in exp], marker="s", label="export time (s)")
        for r in rows:
            if r["phase"] == "export" and r.get("error"):
                axes[1].plot([r["respondents"]], [0], "rx", markersize=12)
                axes[1].annotate(
                    f"{r['respondents']:,}: export failed",
                    (r["respondents"], 0),
                    xytext=(-110, 14),
                    textcoords="offset points",
                    color="#c44e52",
                    fontsize=8,
                )
        axes[1].set_xscale("log")
        axes[1].set_xlabel("respondents in the exported survey")
        axes[1].set_title("Export: time and the serving worker's peak memory")
        axes[1].legend()
    _save(fig, path)
    return True


def shapes(rows: Rows, path: Path) -> bool:
    chosen = of_phase(rows, "shapes", "history")
    if not chosen:
        return False
    fig, axes = plt.subplots(len(chosen), 1, figsize=(9, 2.8 * len(chosen)), squeeze=False)
    for ax, row in zip(axes[:, 0], chosen, strict=True):
        history = row["history"]
        t = [h[0] for h in history]
        ax.plot(t, [h[1] for h in history], color="#999999", label="users")
        ax.plot(t, [h[2] for h in history], color="#4c72b0", label="req/s")
        ax.set_ylabel("users, req/s")
        right = ax.twinx()
        right.plot(t, [h[5] for h in history], color="#c44e52", label="p99 (ms, 10 s window)")
        right.set_ylabel("p99 ms")
        ax.set_title(f"{row['config']}: p99 {row['p99']} ms, {row['errors']} failures", fontsize=9)
        ax.legend(loc="upper left", fontsize=7)
        right.legend(loc="upper right", fontsize=7)
    axes[-1, 0].set_xlabel("seconds")
    _save(fig, path)
    return True


CHARTS: dict[str, Callable[[Rows, Path], bool]] = {
    "baselines.png": baselines,
    "workers.png": lambda rows, p: sweep(
        rows, "workers", "Workers per node (1 node, granian, PostgreSQL)", p
    ),
    "nodes.png": lambda rows, p: sweep(rows, "nodes", "Nodes x workers at equal total workers", p),
    "classes.png": lambda rows, p: sweep(
        rows, "classes", "Worker classes, 1 node x 2 workers, PostgreSQL", p
    ),
    "threads.png": lambda rows, p: sweep(rows, "threads", "threads per worker (= DB pool)", p),
    "db.png": db,
    "cpu.png": cpu,
    "fixed_rate.png": fixed_rate,
    "growth.png": growth,
    "shapes.png": shapes,
}


def draw(rows: Rows, out: Path) -> list[str]:
    """Every chart the rows allow; the file names drawn."""
    drawn = []
    for name, chart in CHARTS.items():
        if chart(rows, out / name):
            drawn.append(name)
    return drawn


def main(argv: list[str] | None = None) -> int:
    """Draw the charts again from a results folder's results.json (after changing a chart)."""
    import json
    import sys

    folder = Path((argv if argv is not None else sys.argv[1:])[0])
    rows = json.loads((folder / "results.json").read_text())["rows"]
    print(", ".join(draw(rows, folder)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
