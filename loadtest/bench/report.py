"""scripts/bench's record: results.json (everything) and results.md (tables, targets, the machine).

Both are rewritten after every measurement, so an interrupted run still leaves a valid record.
Targets and the study's claims are ratios of figures taken in this run, met or not.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from loadtest.bench.figures import COMMON, cpu_text, fmt
from loadtest.bench.targets import claims, default_spread, encryption_summary, targets

PHASES = {
    "baselines": "Baselines through the same nginx (raw wrk, `메뉴`-sized replies)",
    "fixed rate": "Latency at a fixed rate (openloop.py, from each request's due time)",
    "workers": "Workers per node (1 node, granian, PostgreSQL)",
    "nodes": "Nodes at equal total workers (the study's load-balancing experiment)",
    "classes": "Worker classes (1 node × 2 workers, PostgreSQL)",
    "threads": "threads per worker running the app (= DB pool size)",
    "db": "PostgreSQL vs SQLite",
    "encryption": "Encryption at rest (issue 13): member conversations, plaintext and sealed, "
    "in alternating windows",
    "shapes": "locust shapes (think time 0.5-1.5 s, default configuration)",
    "growth": "Growth with data: latency at N stored answers (paper shape)",
    "export": "Growth with data: exporting a survey with N respondents",
    "export_xlsx": "Growth with data: the same survey as an .xlsx workbook (constant memory)",
    "profile": "Where the CPU goes: the windows profiled with py-spy",
}


def table_head(*columns: str) -> list[str]:
    """A markdown table's two head lines; a column ending in ':' is right-aligned (numbers)."""
    names = [c.removesuffix(":") for c in columns]
    aligns = ["--:" if c.endswith(":") else "---" for c in columns]
    return ["| " + " | ".join(names) + " |", "|" + "|".join(aligns) + "|"]


def load_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = table_head(
        "configuration", "tool", "req/s:", "p50:", "p95:", "p99:", "max (ms):", "errors:",
        "conn. errors / > 5 s / busy:", "CPU % gen / nginx / app / pg / other",
        "server CPU ms/req:", "locust procs:", "note",
    )  # fmt: skip
    for r in rows:
        note = r.get("note") or ""
        if r.get("failure_samples") and r.get("errors"):
            note = (note + "; " if note else "") + r["failure_samples"][0].replace("|", "/")[:120]
        lines.append(
            f"| {r['config']} | {r['tool']} | {fmt(r.get('rps'))} | {fmt(r.get('p50'), 1)} | "
            f"{fmt(r.get('p95'), 1)} | {fmt(r.get('p99'), 1)} | {fmt(r.get('max'), 0)} | "
            f"{fmt(r.get('errors'))} of {fmt(r.get('requests'))} | {_apart(r)} | {cpu_text(r)} | "
            f"{fmt(r.get('server_cpu_ms_per_req'), 2)} | {fmt(r.get('processes'))} | {note} |"
        )
    return lines


def _apart(row: dict[str, Any]) -> str:
    """locust's connection errors, replies over 5 s and busy replies; wrk's socket errors."""
    if "connection_errors" in row:
        return " / ".join(
            fmt(row.get(k, 0)) for k in ("connection_errors", "over_deadline", "shed")
        )
    detail = row.get("error_detail") or {}
    sockets = sum(v for k, v in detail.items() if k in ("connect", "read", "write", "timeout"))
    return f"{fmt(sockets)} / – / –" if row.get("tool") == "wrk" else "–"


def export_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = table_head(
        "respondents:", "seed (s):", "`다운로드` reply (ms):", "export GET (s):", "file size (MB):",
        "worker RSS before (MB):", "worker peak (MB):", "peak growth (MB):", "note",
    )  # fmt: skip
    for r in rows:
        lines.append(
            f"| {r['respondents']:,} | {fmt(r.get('seed_s'), 1)} | {fmt(r.get('ask_ms'), 0)} | "
            f"{fmt(r.get('export_s'), 2)} | {fmt((r.get('bytes') or 0) / 1e6, 1)} | {fmt(r.get('rss_before_mb'), 1)} | "
            f"{fmt(r.get('peak_mb'), 1)} | {fmt(r.get('growth_mb'), 1)} | {r.get('error', '')} |"
        )
    return lines


def names_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| stored answers | " + " | ".join(f"`{n}` p50 / p95" for n in COMMON) + " |",
        "|--:|" + "--:|" * len(COMMON),
    ]
    for r in rows:
        names = r.get("names") or {}
        cells = [
            f"{fmt(names[n]['p50'])} / {fmt(names[n]['p95'])}" if n in names else "–"
            for n in COMMON
        ]
        lines.append(f"| {r['answers']:,} | " + " | ".join(cells) + " |")
    return lines


def encryption_table(summary: dict[str, Any] | None) -> list[str]:
    """Both sides of the encryption phase and their ratio (targets.encryption_summary)."""
    if summary is None:
        return []
    lines = [
        "",
        "Side by side (req/s: mean of the windows; CPU per step: all of a side's windows pooled; "
        "on / off per pair: neighbouring windows):",
        "",
        *table_head(
            "encryption", "windows:", "req/s:", "each window (req/s)", "errors:", "p50 / p99 (ms):",
            "server CPU ms/step:", "app:", "PostgreSQL:", "CPU % generator / other:",
        ),
    ]  # fmt: skip
    for state in ("off", "on"):
        side = summary.get(f"encryption-{state}")
        if not side:
            continue
        lines.append(
            f"| {state} | {side['windows']} | {fmt(side['rps'])} | "
            f"{', '.join(fmt(v) for v in side['rps_each'])} | {fmt(side['errors'])} | "
            f"{fmt(side['p50'], 1)} / {fmt(side['p99'], 1)} | "
            f"{fmt(side['server_cpu_ms_per_step'], 2)} | {fmt(side['app_cpu_ms_per_step'], 2)} | "
            f"{fmt(side['postgres_cpu_ms_per_step'], 2)} | "
            f"{fmt(side['generator_pct'], 0)} / {fmt(side['other_pct'], 0)} |"
        )
    pairs = ", ".join(f"{v:.2f}x" for v in summary["pair_ratios"]) or "–"

    def x(value: float | None) -> str:
        return "–" if value is None else f"{value:.2f}x"

    lines.append(
        f"| **on / off** | | **{x(summary['ratio'])}** (target ≥ {summary['target']:.2f}x) | "
        f"pairs: {pairs} | | | {x(summary['server_cpu_ratio'])} | {x(summary['app_cpu_ratio'])} | "
        f"{x(summary['postgres_cpu_ratio'])} | |"
    )
    if summary.get("excluded"):
        left_out = ", ".join(map(str, summary["excluded"]))
        lines += ["", f"Left out (failures over 1% of requests): {left_out}"]
    return lines


def phase_tables(phase: str, chosen: list[dict[str, Any]], rows: list[dict[str, Any]]) -> list[str]:
    """A phase's section: its rows, and the tables some phases add beneath them."""
    out = export_table(chosen) if phase in ("export", "export_xlsx") else load_table(chosen)
    if phase == "growth":
        out += ["", "Per request (ms, locust):", ""] + names_table(chosen)
    if phase == "encryption":
        out += encryption_table(encryption_summary(rows))
    if phase == "profile":
        from loadtest.bench.profile import profile_table  # it needs the stack's modules

        out += [
            "",
            "CPU ms per request by part: the workers' CPU per request (/proc) split by the "
            "shares of py-spy `--gil` samples, each sorted by its innermost frame of a known "
            "part (loadtest/bench/profile.py); nginx and PostgreSQL from their own processes:",
            "",
        ]
        out += profile_table(chosen)
    return out


def markdown(run: Any, finished: bool) -> str:
    meta, rows = run.meta, run.rows
    out = [f"# surveybot benchmark: `{run.mode.name}` run", ""]
    state = (
        "complete"
        if finished
        else "**partial** (still running or interrupted: these are the figures so far)"
    )
    out += [
        f"- started {meta.get('started')}, {run.elapsed() / 60:.1f} min so far, {state}",
        f"- load average (1/5/15 min) at start {meta.get('load_start')}, at end {meta.get('load_end', '–')}",
        "- raw data: `results.json`; charts: `*.png` beside this file",
        "",
    ]
    out += ["## Targets (ratios from this run)", "", "| target | measured | met |", "|---|---|---|"]
    for t in targets(rows):
        met = {True: "met", False: "**not met**", None: "–"}[t["met"]]
        out.append(f"| {t['target']} | {t['measured']} | {met} |")
    out += [
        "",
        "## The study's claims, side by side",
        "",
        "| claim | study | this run |",
        "|---|---|---|",
    ]
    out += [f"| {a} | {b} | {c} |" for a, b, c in claims(rows)]
    out += [
        "",
        "CPU columns: share of the whole machine (window × cores) used by the load generator, nginx, "
        "the app (gunicorn master + workers of every node, or the baseline server), PostgreSQL (all "
        "backends) and everything else (other work on the machine, the kernel). Errors include nginx's "
        "200 apologies for failed upstream requests (from its access log).",
    ]
    spread = default_spread(rows)
    if spread:
        out += ["", f"**Noise.** {spread}"]
    for phase, title in PHASES.items():
        chosen = [r for r in rows if r["phase"] == phase]
        if not chosen:
            continue
        out += ["", f"## {title}", ""]
        out += phase_tables(phase, chosen, rows)
    charts = sorted(p.name for p in run.out.glob("*.png"))
    if charts:
        out += ["", "## Charts", ""] + [f"![{name[:-4]}]({name})" for name in charts]
    if run.notes:
        out += ["", "## Notes", ""] + [f"- {note}" for note in run.notes]
    out += ["", "## Machine", ""] + machine_lines(meta.get("machine", {}))
    return "\n".join(out) + "\n"


def machine_lines(machine: dict[str, Any]) -> list[str]:
    if not machine:
        return ["(not recorded)"]
    lines = [
        f"- {machine['nproc']} CPUs: {machine['cpu_model']}; {machine['memory_gib']} GiB memory",
        f"- {machine['os']}, kernel {machine['kernel']}",
        f"- {machine['python']}; {', '.join(machine['packages'])}",
        f"- {machine['nginx']}; {machine['postgres']}; {machine['wrk']}; {machine['go']}",
    ]
    if machine.get("commit"):
        lines.append(f"- code: commit {machine['commit']}")
    if machine.get("pg_conf"):
        lines.append(f"- PostgreSQL settings: {machine['pg_conf']}")
    return lines


def save(run: Any, finished: bool) -> None:
    run.out.mkdir(parents=True, exist_ok=True)
    data = {
        "mode": run.mode.name,
        "finished": finished,
        "elapsed_s": round(run.elapsed(), 1),
        "meta": run.meta,
        "notes": run.notes,
        "targets": [{k: v for k, v in t.items() if k != "row"} for t in targets(run.rows)],
        "claims": claims(run.rows),
        "encryption": encryption_summary(run.rows),
        "rows": run.rows,
    }
    _write(run.out / "results.json", json.dumps(data, ensure_ascii=False, indent=1) + "\n")
    _write(run.out / "results.md", markdown(run, finished))


def _write(path: Path, text: str) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)
