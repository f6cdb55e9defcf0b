"""scripts/bench's growth phase: latency with 1k to 1M stored answers, and exporting them."""

from __future__ import annotations

import http.client
import json
import time
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from devstack.stack import Stack
from loadtest.bench import load
from loadtest.bench import measure as m
from loadtest.bench.phases import Run, measure, seed, stack_roots, stack_up
from loadtest.kakao import admin_key, encode, member_key, payload


# growth with data -----------------------------------------------------------------------------
def growth(run: Run, sizes: tuple[int, ...]) -> None:
    """Per N stored answers: export time and peak memory, then the common requests' latency."""
    for answers in sizes:
        growth_one(run, answers)


def growth_one(run: Run, answers: int) -> None:
    """A fresh stack (so the workers' peak memory starts low) with `answers` in survey 1."""
    with stack_up(run, run.mode.base) as stack:
        slug = f"growth-{answers}"
        seconds = seed(run, stack, slug, answers=answers)
        first = {"phase": "export", "config": f"{answers:,} respondents", "tool": "export"}
        run.add({**first, "respondents": answers, "seed_s": round(seconds, 1), **export(stack)})
        roots, access = stack_roots(stack), m.AccessLog(stack.nginx_dir / "access.log")
        env = {"LOAD_EXPORT": "0", "LOAD_MEMBERS": "1000"}
        prefix = run.path(slug, "paper")
        measure(
            run,
            roots,
            access,
            lambda: load.locust(stack.url, prefix, run.mode.growth_s, shape="paper", env=env),
            phase="growth",
            config=f"{answers:,} stored answers",
            answers=answers,
        )


def export(stack: Stack) -> dict[str, Any]:
    """An admin asks for survey 1's file and downloads it; peak memory of the worker serving it."""
    for n in range(1, 21):  # both workers warm and at their resting size
        m.post_json(f"{stack.url}/skill", encode(payload(member_key(n), "메뉴")))
    workers = [pid for node in stack.nodes for pid in node.worker_pids()]
    before = {pid: m.memory_kb(pid) for pid in workers}
    began = time.monotonic()
    reply = m.post_json(f"{stack.url}/skill", encode(payload(admin_key(1), "다운로드 1")))
    asked = time.monotonic() - began
    card = reply["template"]["outputs"][0].get("textCard", {})
    link = str((card.get("buttons") or [{}])[0].get("webLinkUrl", ""))
    if not link:
        return {"error": f"no download link in {json.dumps(reply, ensure_ascii=False)[:200]}"}
    began = time.monotonic()
    status, size, error = download(f"{stack.url}{urlsplit(link).path}")
    took = time.monotonic() - began
    after = {pid: m.memory_kb(pid) for pid in workers}
    growth_kb = max(after[p] - before[p] for p in workers)
    found = {
        "status": status,
        "bytes": size,
        "ask_ms": round(asked * 1000, 1),
        "export_s": round(took, 2),
        "rss_before_mb": round(max(before.values()) / 1024, 1),
        "peak_mb": round(max(after.values()) / 1024, 1),
        "growth_mb": round(growth_kb / 1024, 1),
    }
    if error:
        found["error"] = f"the download broke ({size:,} bytes read): {error}"
        found["peak_mb"] = None  # of a file that was not served: not a figure for the target
    return found


def download(url: str) -> tuple[int, int, str]:
    """(status, bytes read, error or ""): a broken transfer is a result, not a crash."""
    size, status = 0, 0
    try:
        with urllib.request.urlopen(url, timeout=300) as answer:  # noqa: S310 (loopback)
            status = answer.status
            while chunk := answer.read(1 << 16):
                size += len(chunk)
    except (OSError, http.client.HTTPException) as error:
        return status, size, f"{type(error).__name__}: {error}"[:200]
    return status, size, ""
