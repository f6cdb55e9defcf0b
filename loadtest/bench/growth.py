"""scripts/bench's growth phase: latency with 1k to 1M stored answers, and exporting them.

Both results files are measured at every size: the CSV (phase `export`, streamed as it is read)
and the .xlsx (phase `export_xlsx`, written in XlsxWriter's constant-memory mode to a temporary
file, then streamed), each as the peak memory of the worker that served it.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from devstack.stack import Stack
from loadtest.bench import load
from loadtest.bench import measure as m
from loadtest.bench.phases import Run, measure, seed, stack_roots, stack_up
from loadtest.kakao import admin_key, encode, member_key, payload

# Above this the files are not exported (minutes each, and their memory is flat well before it).
EXPORT_MAX = 1_000_000


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
        if answers <= EXPORT_MAX:
            first = {"phase": "export", "config": f"{answers:,} respondents", "tool": "export"}
            run.add(
                {**first, "respondents": answers, "seed_s": round(seconds, 1), **export(stack)}
            )
            xlsx = {
                "phase": "export_xlsx", "config": f"{answers:,} respondents", "tool": "export-xlsx"
            }  # fmt: skip
            run.add({**xlsx, "respondents": answers, **export(stack, XLSX)})
        else:
            run.note(f"growth: {answers:,} answers seeded in {seconds:.0f} s; files not exported "
                     f"(flat memory is shown up to {EXPORT_MAX:,})")  # fmt: skip
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


CSV, XLSX = "CSV 내려받기", "엑셀 내려받기"  # the labels of the 다운로드 card's buttons


def export(stack: Stack, button: str = CSV) -> dict[str, Any]:
    """An admin asks for survey 1's file and downloads it; peak memory of the worker serving it."""
    for n in range(1, 21):  # both workers warm and at their resting size
        m.post_json(f"{stack.url}/skill", encode(payload(member_key(n), "메뉴")))
    workers = [pid for node in stack.nodes for pid in node.worker_pids()]
    if button != CSV:
        for pid in workers:  # the peak of this download, not of the CSV's before it
            reset_peak(pid)
    before = {pid: m.memory_kb(pid) for pid in workers}
    began = time.monotonic()
    reply = m.post_json(f"{stack.url}/skill", encode(payload(admin_key(1), "다운로드 1")))
    asked = time.monotonic() - began
    card = reply["template"]["outputs"][0].get("textCard", {})
    buttons = [b for b in card.get("buttons") or [] if b.get("label") == button]
    link = str((buttons or [{}])[0].get("webLinkUrl", ""))
    if not link:
        return {"error": f"no download link in {json.dumps(reply, ensure_ascii=False)[:200]}"}
    # The workbook's first byte comes only once it is written (a minute or two at 1M), past
    # nginx's 30 s for /exports/: it is fetched from the node itself, whose worker is measured.
    origin = stack.url if button == CSV else f"http://127.0.0.1:{stack.nodes[0].port}"
    began = time.monotonic()
    status, size, error = download(f"{origin}{urlsplit(link).path}")
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


def reset_peak(pid: int) -> None:
    """Set the process's peak RSS (VmHWM) back to its current RSS (Linux: clear_refs 5)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        pass  # not permitted: the peak then includes earlier ones, an upper bound


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
