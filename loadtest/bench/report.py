"""scripts/bench's record: results.json (everything) and results.md (tables, targets, the machine).

Both are rewritten after every measurement, so an interrupted run still leaves a valid record.
Targets and the study's claims are ratios of figures taken in this run, met or not.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PHASES = {
    "baselines": "Baselines through the same nginx (raw wrk, `메뉴`-sized replies)",
    "fixed rate": "Latency at a fixed rate (openloop.py, from each request's due time)",
    "workers": "Workers per node (1 node, gthread, PostgreSQL)",
    "nodes": "Nodes at equal total workers (the study's load-balancing experiment)",
    "classes": "Worker classes (1 node × 2 workers, PostgreSQL)",
    "threads": "gthread threads per worker (= DB pool size)",
    "db": "PostgreSQL vs SQLite",
    "shapes": "locust shapes (think time 0.5-1.5 s, default configuration)",
    "growth": "Growth with data: latency at N stored answers (paper shape)",
    "export": "Growth with data: exporting a survey with N respondents",
    "profile": "Where the CPU goes: the windows profiled with py-spy",
}
COMMON = ("메뉴", "설문목록", "참여", "답(하나)", "제출", "내응답", "결과")
CPU_KEYS = ("generator", "nginx", "app", "postgres", "other")


def fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def cpu_text(row: dict[str, Any]) -> str:
    pct = row.get("cpu_pct") or {}
    return " / ".join(fmt(pct.get(k), 0) for k in CPU_KEYS)


def find(rows: list[dict[str, Any]], **where: Any) -> dict[str, Any] | None:
    for row in rows:
        if all(row.get(k) == v for k, v in where.items()):
            return row
    return None


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
        "respondents:", "seed (s):", "`다운로드` reply (ms):", "export GET (s):", "CSV size (MB):",
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


def common_latency(row: dict[str, Any], key: str = "p50") -> float | None:
    names = row.get("names") or {}
    values = [names[n][key] for n in COMMON if n in names and names[n]["count"]]
    return sum(values) / len(values) if values else None


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _shape_target(rows: list[dict[str, Any]], shape: str, limit_ms: float) -> dict[str, Any]:
    """Zero failures (every reply valid, within 5 s), zero connection errors, p99 under a limit.
    Busy replies (shed, valid) are not failures; they are shown beside them."""
    row = find(rows, phase="shapes", shape=shape)
    goal = f"`{shape}`: zero failures, zero connection errors, p99 < {limit_ms:g} ms"
    if row is None:
        return {"target": goal, "measured": "not run", "met": None}
    connection_errors = row.get("connection_errors", 0)
    met = (
        row["errors"] == 0
        and not connection_errors
        and row["p99"] is not None
        and row["p99"] < limit_ms
    )
    return {
        "target": goal,
        "met": met,
        "row": row,
        "measured": f"p99 {fmt(row['p99'])} ms, {row['errors']} failures of {row['requests']:,} "
        f"requests ({connection_errors} connection errors, {row.get('over_deadline', 0)} over 5 s), "
        f"{row.get('shed', 0)} busy replies, {fmt(row['rps'])} req/s",
    }


def _gen(row: dict[str, Any] | None) -> str:
    """The load generator's share of the machine in a row's window."""
    share = ((row or {}).get("cpu_pct") or {}).get("generator")
    return "–" if share is None else f"{share:.0f}%"


def _cpu_target(row: dict[str, Any] | None, goal: str, most_ms: float) -> dict[str, Any]:
    value = row.get("server_cpu_ms_per_req") if row else None
    if value is None:
        return {"target": goal, "measured": "not measured in this run", "met": None}
    cpu = row.get("cpu_pct") if row else None
    share = f"; generator {cpu.get('generator', 0):.0f}% of the machine" if cpu else ""
    return {"target": goal, "measured": f"{value:.2f} ms{share}", "met": value <= most_ms}


def _ratio_target(
    goal: str, value: float | None, want: float, text: str, at_most: bool = False
) -> dict[str, Any]:
    if value is None:
        return {"target": goal, "measured": "not measured in this run", "met": None}
    met = value <= want if at_most else value >= want
    return {"target": goal, "measured": f"{value:.2f}x ({text})", "met": met, "value": value}


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    app = find(rows, phase="baselines", baseline="app")
    go = find(rows, phase="baselines", baseline="go")
    flask = find(rows, phase="baselines", baseline="flask")
    talk = find(rows, phase="baselines", baseline="conversation")
    found = [
        _shape_target(rows, "paper", 100),
        _shape_target(rows, "ramp", 1000),
        _shape_target(rows, "spike", 5000),
    ]
    found.append(
        _ratio_target(
            "cheapest path (`메뉴`) through nginx >= 0.35x Go echo through the same nginx",
            ratio(app and app["rps"], go and go["rps"]),
            0.35,
            f"{fmt(app and app['rps'])} vs {fmt(go and go['rps'])} req/s; generator "
            f"{_gen(app)} / {_gen(go)} of the machine",
        )
    )
    found.append(
        _ratio_target(
            "member conversations on PostgreSQL through nginx >= 1.5x Flask echo throughput",
            ratio(talk and talk["rps"], flask and flask["rps"]),
            1.5,
            f"{fmt(talk and talk['rps'])} vs {fmt(flask and flask['rps'])} req/s; generator "
            f"{_gen(talk)} / {_gen(flask)} of the machine",
        )
    )
    found.append(
        _cpu_target(app, "server CPU (nginx + app + PostgreSQL) per `메뉴` <= 0.6 ms", 0.6)
    )
    found.append(_cpu_target(talk, "server CPU per member conversation step <= 1.2 ms", 1.2))
    growth = sorted((r for r in rows if r["phase"] == "growth"), key=lambda r: r["answers"])
    small, big = (growth[0], growth[-1]) if len(growth) > 1 else (None, None)
    found.append(
        _ratio_target(
            f"common requests at the largest size ({big['answers']:,} answers) within 1.2x of 1k"
            if big
            else "common requests at 1M answers within 1.2x of 1k",
            ratio(big and common_latency(big), small and common_latency(small)),
            1.2,
            f"mean p50 of {', '.join(COMMON)}: {fmt(big and common_latency(big), 1)} vs "
            f"{fmt(small and common_latency(small), 1)} ms",
            at_most=True,
        )
    )
    export = sorted(
        (r for r in rows if r["phase"] == "export" and r.get("peak_mb")),
        key=lambda r: r["respondents"],
    )
    first, last = (export[0], export[-1]) if len(export) > 1 else (None, None)
    found.append(
        _ratio_target(
            "export memory flat in the number of respondents (peak RSS within 1.2x)",
            ratio(last and last["peak_mb"], first and first["peak_mb"]),
            1.2,
            f"worker peak {fmt(last and last['peak_mb'], 1)} MB at {fmt(last and last['respondents'])} vs "
            f"{fmt(first and first['peak_mb'], 1)} MB at {fmt(first and first['respondents'])}",
            at_most=True,
        )
    )
    broken = [r for r in rows if r["phase"] == "export" and r.get("error")]
    if broken:
        target = found[-1]
        sizes = ", ".join(f"{r['respondents']:,}" for r in broken)
        target["measured"] += (
            f"; the export of {sizes} respondents did not complete (see the export table)"
        )
        target["met"] = False
    return found


def default_spread(rows: list[dict[str, Any]]) -> str | None:
    """How much the same (default) configuration varied within this run: the noise floor."""
    label = "1×2 gthread, PostgreSQL"

    def fresh(tool: str) -> list[float]:
        return [
            r["rps"]
            for r in rows
            if r["tool"] == tool
            and str(r["config"]).endswith(label)
            and not str(r.get("note", "")).startswith("same")
            and r["phase"] in ("baselines", "workers", "classes", "threads", "db")
            and (r["phase"] != "baselines" or r.get("baseline") == "app")
        ]

    raw, talk = fresh("wrk"), fresh("locust")
    if len(raw) + len(talk) < 3:
        return None
    span = [f"{label} was measured {len(raw)} times in this run"]
    if raw:
        span.append(f"raw wrk {min(raw):,.0f}-{max(raw):,.0f} req/s")
    if talk:
        span.append(f"conversations {min(talk):,.0f}-{max(talk):,.0f} req/s")
    return ", ".join(span) + ": differences smaller than that spread are noise."


def claims(rows: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    def get(**where: Any) -> dict[str, Any] | None:
        return find(rows, **where)

    go, flask = get(phase="baselines", baseline="go"), get(phase="baselines", baseline="flask")
    excel, sqlite = (
        get(phase="baselines", baseline="excel"),
        get(phase="baselines", baseline="sqlite"),
    )
    go100 = get(phase="fixed rate", baseline="go", target_rate=100.0)
    flask100 = get(phase="fixed rate", baseline="flask", target_rate=100.0)
    excel_lat = get(phase="fixed rate", baseline="excel")
    sqlite_lat = get(phase="fixed rate", baseline="sqlite")
    nodes = [r for r in rows if r["phase"] == "nodes" and r["tool"] == "wrk"]
    one = next((r for r in nodes if r["params"]["nodes"] == 1), None)
    best = max((r for r in nodes if r["params"]["nodes"] > 1), key=lambda r: r["rps"], default=None)

    def x(value: float | None, what: str) -> str:
        return "not measured" if value is None else f"{value:.1f}x ({what})"

    return [
        (
            "Go net/http vs Flask echo: throughput",
            "> 2x",
            x(ratio(go and go["rps"], flask and flask["rps"]), "raw wrk through nginx"),
        ),
        (
            "Go vs Flask: latency (Flask / Go)",
            "up to 4x lower",
            x(ratio(flask100 and flask100["p50"], go100 and go100["p50"]), "p50 at 100 req/s")
            + "; "
            + x(ratio(flask and flask["p50"], go and go["p50"]), "p50 under wrk -c50"),
        ),
        (
            "SQLite vs Excel: throughput",
            "40x",
            x(ratio(sqlite and sqlite["rps"], excel and excel["rps"]), "raw wrk"),
        ),
        (
            "SQLite vs Excel: reply time (Excel / SQLite)",
            "100x faster",
            x(
                ratio(excel_lat and excel_lat["p50"], sqlite_lat and sqlite_lat["p50"]),
                "p50 at 2 req/s",
            ),
        ),
        (
            "several nodes on one server (best multi-node / 1 node)",
            "no large gain",
            x(
                ratio(best and best["rps"], one and one["rps"]),
                f"{best['config'] if best else '–'}, raw wrk",
            ),
        ),
    ]


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
        if phase == "export":
            out += export_table(chosen)
        else:
            out += load_table(chosen)
        if phase == "growth":
            out += ["", "Per request (ms, locust):", ""] + names_table(chosen)
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
        "rows": run.rows,
    }
    _write(run.out / "results.json", json.dumps(data, ensure_ascii=False, indent=1) + "\n")
    _write(run.out / "results.md", markdown(run, finished))


def _write(path: Path, text: str) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)
