"""The benchmark's targets (issue 9) and the study's claims: ratios of figures from one run."""

from __future__ import annotations

from typing import Any

from loadtest.bench.figures import COMMON, common_latency, find, fmt, ratio
from loadtest.bench.phases import DEFAULT


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
    found.append(_encryption_target(encryption_summary(rows)))
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


ENCRYPTION_TARGET = 0.90  # issue 13: conversations with encryption at most 10% slower


def encryption_summary(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The encryption phase's windows (loadtest.bench.encryption) as two figures and a ratio.

    Each side's throughput is the mean of its windows (equal lengths); `pair_ratios` are on / off
    within each pair of neighbouring windows, the spread the mean ratio should be read against.
    CPU per step is pooled: CPU seconds of all of a side's windows over all of their requests.
    A window with failures over 1% of its requests is left out (`excluded`): its req/s would
    count apologies (nginx answering for an app that is gone), not conversation steps.
    """
    measured = [r for r in rows if r["phase"] == "encryption" and r.get("rps") is not None]
    if not measured:
        return None
    chosen = [r for r in measured if (r.get("errors") or 0) <= 0.01 * (r.get("requests") or 0)]
    sides = {state: [r for r in chosen if r.get("encryption") == state] for state in ("off", "on")}
    found: dict[str, Any] = {
        f"encryption-{state}": _encryption_side(side) for state, side in sides.items()
    }
    found["excluded"] = [r.get("slug") for r in measured if r not in chosen]
    off, on = found["encryption-off"], found["encryption-on"]
    pairs: dict[Any, dict[str, float]] = {}
    for row in chosen:
        pairs.setdefault(row.get("pair"), {})[row["encryption"]] = row["rps"]
    found["pair_ratios"] = [
        round(p["on"] / p["off"], 3)
        for _, p in sorted(pairs.items())
        if p.get("off") and len(p) == 2
    ]
    value = ratio(on and on["rps"], off and off["rps"])
    found["ratio"] = None if value is None else round(value, 3)
    for key in ("server_cpu_ms_per_step", "app_cpu_ms_per_step", "postgres_cpu_ms_per_step"):
        cpu = ratio(on and on[key], off and off[key])
        found[key.replace("_ms_per_step", "_ratio")] = None if cpu is None else round(cpu, 3)
    found["target"] = ENCRYPTION_TARGET
    found["met"] = None if value is None else value >= ENCRYPTION_TARGET
    return found


def _encryption_side(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not rows:
        return None
    requests = sum(r.get("requests") or 0 for r in rows)

    def ms(*parts: str) -> float | None:
        seconds = sum((r.get("cpu_s") or {}).get(p, 0.0) for r in rows for p in parts)
        return round(1000 * seconds / requests, 3) if requests and seconds else None

    def mean(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return round(sum(known) / len(known), 1) if known else None

    return {
        "windows": len(rows),
        "rps": mean([r["rps"] for r in rows]),
        "rps_each": [round(r["rps"], 1) for r in rows],
        "requests": requests,
        "errors": sum(r.get("errors") or 0 for r in rows),
        "p50": mean([r.get("p50") for r in rows]),
        "p99": mean([r.get("p99") for r in rows]),
        "server_cpu_ms_per_step": ms("nginx", "app", "postgres"),
        "app_cpu_ms_per_step": ms("app"),
        "postgres_cpu_ms_per_step": ms("postgres"),
        "generator_pct": mean([(r.get("cpu_pct") or {}).get("generator") for r in rows]),
        "other_pct": mean([(r.get("cpu_pct") or {}).get("other") for r in rows]),
        "locust_processes": sorted({r.get("processes") for r in rows if r.get("processes")}),
    }


def _encryption_target(summary: dict[str, Any] | None) -> dict[str, Any]:
    goal = (
        f"member conversations with encryption at rest >= {ENCRYPTION_TARGET:.2f}x the "
        "throughput without (issue 13)"
    )
    if summary is None or summary["ratio"] is None:
        return {"target": goal, "measured": "not measured in this run", "met": None}
    off, on = summary["encryption-off"], summary["encryption-on"]
    spread = summary["pair_ratios"]
    text = (
        f"{fmt(on['rps'])} vs {fmt(off['rps'])} req/s, mean of {on['windows']} / "
        f"{off['windows']} alternating windows"
    )
    if spread:
        text += f"; pairs {min(spread):.2f}-{max(spread):.2f}x"
    if on["server_cpu_ms_per_step"] and off["server_cpu_ms_per_step"]:
        text += (
            f"; server CPU per step {on['server_cpu_ms_per_step']:.2f} vs "
            f"{off['server_cpu_ms_per_step']:.2f} ms"
        )
    text += f"; generator {fmt(on['generator_pct'], 0)}% / {fmt(off['generator_pct'], 0)}% of the machine"
    if on["errors"] or off["errors"]:
        text += f"; errors {on['errors']} / {off['errors']}"
    if summary["excluded"]:
        text += f"; left out (failures): {', '.join(map(str, summary['excluded']))}"
    return _ratio_target(goal, summary["ratio"], ENCRYPTION_TARGET, text)


def default_spread(rows: list[dict[str, Any]]) -> str | None:
    """How much the same (default) configuration varied within this run: the noise floor."""
    label = DEFAULT.label

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
