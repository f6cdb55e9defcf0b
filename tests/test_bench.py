"""scripts/bench: the smoke run end to end (seconds), and the pieces that turn windows into figures.

No performance figure is asserted anywhere: only that every measurement happened, was recorded,
and that the stacks are gone afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from loadtest.bench import measure as bench_measure
from loadtest.bench import report as bench_report
from loadtest.bench import targets as bench_targets

ROOT = Path(__file__).resolve().parent.parent

PNG = b"\x89PNG\r\n\x1a\n"


def _needs(binary: str, *extra: str) -> None:
    if not shutil.which(binary) and not any(Path(d, binary).exists() for d in extra):
        pytest.skip(f"{binary} is not installed (apt-get install {binary}); scripts/bench needs it")


@pytest.mark.system
@pytest.mark.timeout(400)
def test_smoke_run_records_every_window_and_leaves_nothing_running(tmp_path: Path) -> None:
    _needs("nginx", "/usr/sbin")
    out, work = tmp_path / "out", tmp_path / "work"
    done = subprocess.run(
        [str(ROOT / "scripts" / "bench"), "--smoke", "--out", str(out), "--work", str(work)],
        capture_output=True, text=True, timeout=380, cwd=ROOT, check=False,
    )  # fmt: skip
    if done.returncode != 0 and "loadtest/setup" in done.stderr and not (ROOT / ".venv-load").exists():
        pytest.skip(f"cannot create .venv-load: {done.stderr[-500:]}")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    data = json.loads((out / "results.json").read_text())
    assert data["finished"] and data["mode"] == "smoke"
    rows = data["rows"]
    phases = {row["phase"] for row in rows}
    assert {"baselines", "fixed rate", "export", "growth", "encryption"} <= phases, phases
    tools = {row["tool"] for row in rows}
    assert {"locust", "openloop", "export", "locust paper"} <= tools, tools
    if shutil.which("wrk"):
        assert "wrk" in tools
    for row in rows:
        if row["tool"] in ("export", "export-xlsx"):  # the CSV and the .xlsx (issue 11)
            assert row["status"] == 200 and row["bytes"] > 0 and row["peak_mb"] > 0, row
            continue
        assert row["requests"] > 0, row
        assert set(row["cpu_pct"]) == {"generator", "nginx", "app", "postgres", "other"}, row
        assert row["cpu_s"]["generator"] > 0, row  # the generator's own CPU, from wait4()
        assert row["nginx_logged"] > 0, row  # every request went through the stack's nginx
    baselines = {row.get("baseline") for row in rows if row["phase"] == "baselines"}
    assert {"app", "conversation"} <= baselines
    # Issue 13: a window with encryption off and one with it on, and the stacks did as told.
    assert {row.get("encryption") for row in rows if row["phase"] == "encryption"} == {"off", "on"}
    assert data["encryption"]["encryption-off"] and data["encryption"]["encryption-on"]
    sealed = data["meta"]["encryption_check"]
    assert sealed["on"]["users_sealed"] == sealed["on"]["users"] > 0, sealed
    assert sealed["off"]["users_sealed"] == 0 and sealed["off"]["named_responses_sealed"] == 0, sealed

    report = (out / "results.md").read_text()
    for heading in ("## Targets", "## The study's claims", "## Machine", "## Charts"):
        assert heading in report
    assert "load average" in report
    charts = sorted(out.glob("*.png"))
    assert charts and all(chart.read_bytes().startswith(PNG) for chart in charts)
    assert f"]({charts[0].name})" in report

    # Every stack was stopped and its folder removed; nothing of ours listens or runs.
    left = [work / "stack", *work.glob("stack-encryption-*")]
    assert not [folder for folder in left if folder.exists()], left
    assert not _processes_under(work)


def _processes_under(folder: Path) -> list[str]:
    """Command lines of live processes that mention `folder` (a stack's nginx, gunicorn, ...)."""
    time.sleep(0.5)
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(folder) in command:
                found.append(command)
    return found


def test_access_log_counts_apologies_but_not_hang_ups(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text(json.dumps({"status": 200, "upstream_status": "200"}) + "\n")
    access = bench_measure.AccessLog(log)  # marks the end: the line above is not counted
    lines = [
        {"status": 200, "upstream_status": "200"},
        {"status": 200, "upstream_status": "502"},  # nginx's apology: a failure users would see
        {"status": 200, "upstream_status": "502, 200"},  # retried on another node: fine
        {"status": 499, "upstream_status": ""},  # the generator hung up at the end of its window
        {"status": 404, "upstream_status": ""},
    ]
    with log.open("a") as out:
        out.writelines(json.dumps(line) + "\n" for line in lines)
        out.write('{"status": 20')  # a line nginx is still writing
    assert access.failures() == (5, 2)


def test_cpu_of_a_process_tree_counts_children() -> None:
    table = {1: (0, 5.0), 10: (1, 1.0), 11: (10, 2.0), 12: (10, 0.5), 20: (1, 7.0)}
    assert bench_measure.tree_cpu([10], table) == pytest.approx(3.5)
    assert bench_measure.tree_cpu([10, 20], table) == pytest.approx(10.5)
    assert bench_measure.tree_cpu([99], table) == 0
    assert bench_measure.tree_cpu([os.getpid()], bench_measure._proc_table()) > 0


def _row(phase: str, tool: str = "wrk", **fields: Any) -> dict[str, Any]:
    return {"phase": phase, "tool": tool, "config": phase, "requests": 100, "errors": 0, **fields}


def test_targets_and_claims_are_ratios_of_the_same_run() -> None:
    rows = [
        _row("baselines", baseline="app", rps=900.0, p50=2.0, server_cpu_ms_per_req=0.5),
        _row("baselines", baseline="go", rps=1000.0, p50=1.0),
        _row("baselines", baseline="flask", rps=250.0, p50=4.0),
        _row("baselines", "locust", baseline="conversation", rps=300.0, server_cpu_ms_per_req=2.0),
        _row("shapes", "locust paper", shape="paper", p99=50.0, rps=99.0),
        _row("shapes", "locust ramp", shape="ramp", p99=500.0, rps=400.0, connection_errors=3),
        _row("shapes", "locust spike", shape="spike", p99=4000.0, rps=400.0, shed=40),
        _row("growth", "locust paper", answers=1000, names={"메뉴": {"p50": 10.0, "count": 5}}),
        _row("growth", "locust paper", answers=100_000, names={"메뉴": {"p50": 11.0, "count": 5}}),
        _row("export", "export", respondents=1000, peak_mb=50.0),
        _row("export", "export", respondents=100_000, peak_mb=80.0),
    ]
    # paper, ramp (connection errors fail it), spike (busy replies do not), cheapest path / Go,
    # conversations / Flask, CPU per 메뉴, CPU per conversation step, encryption (not run here),
    # growth latency, export memory
    met = [t["met"] for t in bench_targets.targets(rows)]
    assert met == [True, False, True, True, False, True, False, None, True, False]
    flat = [_row("export", "export", respondents=n, peak_mb=50.0) for n in (1000, 100_000)]
    assert bench_targets.targets(flat)[-1]["met"] is True
    broken = _row("export", "export", respondents=1_000_000, peak_mb=None, error="broke")
    assert bench_targets.targets([*flat, broken])[-1]["met"] is False  # a failed export is no pass
    found = {claim: ours for claim, _, ours in bench_targets.claims(rows)}
    assert found["Go net/http vs Flask echo: throughput"].startswith("4.0x")
    assert found["SQLite vs Excel: throughput"] == "not measured"


def _window(state: str, pair: int, rps: float, app_s: float) -> dict[str, Any]:
    cpu = {"generator": 1.0, "nginx": 0.2, "app": app_s, "postgres": 0.5}
    return _row("encryption", "locust", encryption=state, pair=pair, rps=rps, requests=1000,
                cpu_s=cpu, cpu_pct={"generator": 15.0, "other": 5.0}, processes=1)  # fmt: skip


def test_encryption_cost_is_the_ratio_of_alternating_windows(tmp_path: Path) -> None:
    rows = [
        _window("off", 1, 500.0, 1.0), _window("on", 1, 450.0, 1.1),
        _window("on", 2, 480.0, 1.1), _window("off", 2, 500.0, 1.0),
    ]  # fmt: skip
    summary = bench_targets.encryption_summary(rows)
    assert summary is not None
    assert summary["encryption-off"]["rps"] == 500.0 and summary["encryption-on"]["rps"] == 465.0
    assert summary["ratio"] == pytest.approx(0.93) and summary["met"] is True
    assert summary["pair_ratios"] == [0.9, 0.96]
    assert summary["encryption-on"]["app_cpu_ms_per_step"] == pytest.approx(1.1)
    assert summary["app_cpu_ratio"] == pytest.approx(1.1)
    target = next(t for t in bench_targets.targets(rows) if "encryption" in t["target"])
    assert target["met"] is True and "465 vs 500 req/s" in target["measured"]

    slower = [*rows[:2], _window("on", 2, 400.0, 1.1), rows[3]]
    assert bench_targets.encryption_summary(slower)["met"] is False  # 425 / 500 = 0.85
    assert bench_targets.encryption_summary([rows[0]])["ratio"] is None  # one side only
    # A window of apologies (the app gone) is no throughput: left out, and said so.
    broken = {**_window("on", 3, 3000.0, 0.0), "errors": 990, "slug": "encryption-on-3"}
    summary = bench_targets.encryption_summary([*rows, broken])
    assert summary["encryption-on"]["rps"] == 465.0 and summary["excluded"] == ["encryption-on-3"]
    assert bench_targets.encryption_summary(rows[:0]) is None

    run = SimpleNamespace(mode=SimpleNamespace(name="quick"), out=tmp_path, meta={}, rows=rows,
                          notes=[], elapsed=lambda: 60.0)  # fmt: skip
    bench_report.save(run, True)
    report = (tmp_path / "results.md").read_text()
    assert "| **on / off** | | **0.93x** (target ≥ 0.90x) | pairs: 0.90x, 0.96x |" in report
    assert json.loads((tmp_path / "results.json").read_text())["encryption"]["ratio"] == 0.93


def test_report_of_a_partial_run_is_valid(tmp_path: Path) -> None:
    run = SimpleNamespace(
        mode=SimpleNamespace(name="full"), out=tmp_path, meta={"started": "now", "load_start": "1 1 1"},
        rows=[
            _row("workers", rps=10.0, p50=1.0, p95=2.0, p99=3.0, max=4.0, cpu_pct={"app": 50.0}),
            _row("profile", workload="menu", profile={
                "samples": 10, "ms_per_request": {"store": 0.25, "nginx": 0.1},
                "flamegraph": "profile-x.svg"}),
        ],
        notes=["skipped: something, saying why"], elapsed=lambda: 60.0,
    )  # fmt: skip
    bench_report.save(run, False)
    report = (tmp_path / "results.md").read_text()
    assert "**partial**" in report and "skipped: something" in report and "| workers | wrk | 10 |" in report
    assert "| profile | menu | – | – | – | – | – | 0.250 |" in report
    assert "[svg](profile-x.svg)" in report
    assert json.loads((tmp_path / "results.json").read_text())["finished"] is False


def test_profile_sorts_stacks_into_the_parts_of_a_request() -> None:
    from loadtest.bench import profile

    gunicorn = "run (gunicorn/workers/gthread.py:1);handle (gunicorn/workers/gthread.py:2)"
    falcon = f"{gunicorn};__call__ (falcon/app.py:3);on_post (surveybot/resources.py:4)"
    stacks = {
        f"{falcon};handle (surveybot/conversation/bot.py:5);one (surveybot/store/sql.py:6);"
        "wait (psycopg/connection.py:7);acquire (threading.py:8)": "store",
        f"{falcon};handle (surveybot/conversation/bot.py:5);warning (logging/__init__.py:9)": "logging",
        f"{falcon};process_response (surveybot/observability.py:10);inc (prometheus_client/values.py:11)": "metrics",
        f"{falcon};decode_request (surveybot/kakao/request.py:12)": "decode",
        f"{falcon};load (surveybot/store/sql.py:6);open_state (surveybot/store/sealing.py:20);"
        "open (surveybot/crypto.py:21);decrypt (cryptography/hazmat/primitives/ciphers/aead.py:22)": "crypto",
        f"{falcon};to_json (surveybot/kakao/reply.py:13);text_len (surveybot/kakao/limits.py:14)": "reply",
        f"{falcon};handle (surveybot/conversation/bot.py:5);<lambda> (<string>:1)": "bot",
        falcon: "falcon",
        f"{gunicorn};access (gunicorn/glogging.py:15)": "logging",
        f"{gunicorn};select (selectors.py:16)": "http server",
        "_bootstrap (threading.py:1);_worker (concurrent/futures/thread.py:2)": "http server",
        "<module> (tool.py:1)": "other",
    }
    for stack, part in stacks.items():
        assert profile.classify(stack) == part, stack
    shares, samples = profile.breakdown("".join(f"{s} 2\n" for s in stacks) + "garbage\n")
    assert samples == 2 * len(stacks) and abs(sum(shares.values()) - 1) < 1e-9
    assert shares["logging"] == 2 / len(stacks)
    row = {"requests": 100, "cpu_s": {"app": 0.2, "nginx": 0.05, "postgres": 0.1, "generator": 0.01}}
    ms = profile.parts_ms(row, {"store": 0.25, "bot": 0.75})
    assert ms == {"store": 0.5, "bot": 1.5, "nginx": 0.5, "postgres": 1.0, "generator": 0.1}
