"""The benchmark's targets (issue 9) and the study's claims: ratios of figures from one run."""

from __future__ import annotations

from typing import Any

from loadtest.bench.figures import COMMON, common_latency, find, fmt, ratio


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
