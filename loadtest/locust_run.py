"""The run-level part of loadtest/locustfile.py: the loopback guard, the counts kept apart from
locust's statistics (busy replies, connection errors, replies after Kakao's 5 s), and the summary
file (LOAD_SUMMARY) that scripts/bench reads. Importing it registers its locust event listeners.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from locust import events
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner

from loadtest.kakao import check_loopback

log = logging.getLogger("surveybot.load")
DEFAULT_HOST = os.environ.get("LOAD_HOST", "http://127.0.0.1:8000")
_cpu_warning = False
_checked_targets: set[str] = set()
# Busy replies, connection errors and late replies: counted in each process, sent to the master
# with locust's own reports (report_to_master, worker_report) and added up there.
_counts: Counter[str] = Counter()
_totals: Counter[str] = Counter()
_counts_lock = threading.Lock()
BUSY_REPLY: dict[str, Any] = {}  # the marker say() returns for the busy reply
COUNTED = ("shed", "connection_errors", "over_deadline")


def count(what: str) -> None:
    with _counts_lock:
        _counts[what] += 1


@events.report_to_master.add_listener
def _send_counts(client_id: str, data: dict[str, Any], **_: Any) -> None:
    with _counts_lock:
        data["surveybot_counts"] = dict(_counts)
        _counts.clear()


@events.worker_report.add_listener
def _add_counts(client_id: str, data: dict[str, Any], **_: Any) -> None:
    _totals.update(data.get("surveybot_counts") or {})


def check_target(host: str | None) -> None:
    """Load goes to this machine only (the workplace's rule, and a guard against typos)."""
    host = host or DEFAULT_HOST
    if host not in _checked_targets:
        try:
            check_loopback(host)
        except SystemExit as refusal:
            log.error("%s", refusal)
            raise StopUser() from None
        _checked_targets.add(host)


@events.init.add_listener
def _loopback_only(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        return  # the master checked; each user checks again before its first request
    try:
        check_loopback(environment.host or DEFAULT_HOST)
    except SystemExit as refusal:
        log.error("%s", refusal)
        sys.exit(2)


@events.cpu_warning.add_listener
def _note_cpu_warning(**_: Any) -> None:
    global _cpu_warning
    _cpu_warning = True


@events.quitting.add_listener
def _summary(environment: Environment, **_: Any) -> None:
    runner = environment.runner
    if runner is None or isinstance(runner, WorkerRunner):
        return
    saturated = bool(
        _cpu_warning
        or runner.cpu_warning_emitted
        or getattr(runner, "worker_cpu_warning_emitted", False)
    )
    total = runner.stats.total
    options = environment.parsed_options
    processes = 1
    if isinstance(runner, MasterRunner):
        processes = getattr(options, "processes", None) or getattr(options, "expect_workers", 1)
    summary = {
        "shape": type(environment.shape_class).__name__ if environment.shape_class else None,
        "locust_processes": processes,
        "locust_cpu_over_90_percent": saturated,
        "requests": total.num_requests,
        "failures": total.num_failures,
        "requests_per_second": round(total.total_rps, 1),
        "p50_ms": total.get_response_time_percentile(0.5),
        "p95_ms": total.get_response_time_percentile(0.95),
        "p99_ms": total.get_response_time_percentile(0.99),
        "max_ms": total.max_response_time,
        **{name: _totals[name] + _counts[name] for name in COUNTED},
    }
    if saturated:
        log.warning(
            "locust itself used more than 90%% CPU in at least one process: the figures are "
            "limited by the load generator; rerun with more --processes"
        )
    path = os.environ.get("LOAD_SUMMARY")
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(summary, ensure_ascii=False, indent=2) + "\n")
