"""Latency at a fixed request rate, without coordinated omission (an open-loop generator).

    python -m loadtest.openloop --url http://127.0.0.1:8080/skill --rate 500 --duration 30 \\
        --warmup 5 --json var/load/openloop-500.json

Request i is due at start + i/rate, whatever happened before: a slow reply does not hold the next
requests back (as it does in locust and wrk, which wait for each reply and so measure less of a
stall than users live through). Latency is counted from the moment a request was due, not from
when it could be sent, so time spent queued behind a stalled server (or for a free connection)
is part of it, as in wrk2. The service time (from the actual send) is reported beside it.

A pool of --connections keep-alive connections carries the requests; give it enough for
rate x worst expected latency. Bodies are Open Builder requests of the seeded members
(loadtest/kakao.py), rotating user keys; only HTTP 200 counts as success (locust checks replies).
Runs with .venv or .venv-load (no locust needed). Loopback targets only; it stops by itself after
--duration (+ at most --timeout for the last replies).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from loadtest.kakao import check_loopback, encode, member_key, payload


@dataclass
class Results:
    latency: list[float] = field(default_factory=list)  # from due time, seconds
    service: list[float] = field(default_factory=list)  # from actual send
    queued: list[float] = field(default_factory=list)  # due -> sent
    statuses: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    first_due: float = math.inf
    last_done: float = 0.0

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


def build_requests(
    url: str, members: int, utterance: str, secret: str | None, secret_header: str
) -> list[bytes]:
    parts = urlsplit(url)
    path = parts.path or "/"
    host = parts.netloc
    extra = f"{secret_header}: {secret}\r\n" if secret else ""
    requests = []
    for n in range(1, members + 1):
        body = encode(payload(member_key(n), utterance))
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Type: application/json;charset=UTF-8\r\nContent-Length: {len(body)}\r\n"
            f"{extra}\r\n"
        )
        requests.append(head.encode() + body)
    return requests


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """(status, keep-alive) after reading one whole response."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length: int | None = None
    chunked = False
    keep_alive = True
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif name == b"connection" and b"close" in value.lower():
            keep_alive = False
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)  # the chunk, CRLF; the last one is just CRLF
            if size == 0:
                break
    elif length is not None:
        await reader.readexactly(length)
    else:
        await reader.read()  # body until the server closes
        keep_alive = False
    return status, keep_alive


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def exchange(self, request: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(request)
        status, keep_alive = await read_response(self.reader)
        if not keep_alive:
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class OpenLoop:
    """One fixed-rate run: a dispatcher puts each request on a queue when it is due, and a pool
    of connections takes them off as fast as the server lets it."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.parts = urlsplit(args.url)
        self.requests = build_requests(
            args.url, args.members, args.utterance, args.secret, args.secret_header
        )
        self.results = Results()
        self.queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
        self.start = 0.0
        self.warm_until = 0.0
        self.lag = 0.0

    async def run(self) -> Results:
        loop = asyncio.get_running_loop()
        self.start = loop.time() + 0.1
        self.warm_until = self.start + self.args.warmup
        workers = [asyncio.create_task(self.work()) for _ in range(self.args.connections)]
        await self.dispatch()
        try:
            await asyncio.wait_for(asyncio.gather(*workers), self.args.timeout + 5)
        except TimeoutError:
            self.results.error("unfinished at the end")
        return self.results

    async def dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        rate = self.args.rate
        for i in range(int(rate * self.args.duration)):
            due = self.start + i / rate
            delay = due - loop.time()
            if delay > 0.0005:  # the loop's timers are good to about a millisecond
                await asyncio.sleep(delay)
            self.lag = max(self.lag, loop.time() - due)
            self.queue.put_nowait((i, due))
        for _ in range(self.args.connections):
            self.queue.put_nowait(None)

    async def work(self) -> None:
        loop = asyncio.get_running_loop()
        connection = Connection(self.parts.hostname or "127.0.0.1", self.parts.port or 80)
        while (item := await self.queue.get()) is not None:
            i, due = item
            sent = loop.time()
            try:
                status = await asyncio.wait_for(
                    connection.exchange(self.requests[i % len(self.requests)]), self.args.timeout
                )
            except TimeoutError:
                connection.close()
                self.results.error("timeout")
                continue
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                connection.close()
                self.results.error("connection")
                continue
            self.record(status, due, sent, loop.time())
        connection.close()

    def record(self, status: int, due: float, sent: float, done: float) -> None:
        results = self.results
        results.statuses[status] = results.statuses.get(status, 0) + 1
        if status != 200:
            results.error(f"http {status}")
        if due >= self.warm_until:
            results.first_due = min(results.first_due, due)
            results.last_done = max(results.last_done, done)
            results.latency.append(done - due)
            results.service.append(done - sent)
            results.queued.append(sent - due)


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(int(q * len(ordered)), len(ordered) - 1)] * 1000, 3)

    return {
        "p50": at(0.50),
        "p90": at(0.90),
        "p99": at(0.99),
        "p99.9": at(0.999),
        "max": round(ordered[-1] * 1000, 3),
        "mean": round(sum(ordered) / len(ordered) * 1000, 3),
    }


def summary(args: argparse.Namespace, results: Results, lag: float) -> dict[str, Any]:
    measured = len(results.latency)
    span = results.last_done - results.first_due if measured else 0.0
    return {
        "url": args.url,
        "target_rate": args.rate,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "connections": args.connections,
        "measured_requests": measured,
        "achieved_rate": round(measured / span, 1) if span > 0 else 0.0,
        "statuses": {str(k): v for k, v in sorted(results.statuses.items())},
        "errors": results.errors,
        "latency_ms": percentiles(results.latency),
        "service_time_ms": percentiles(results.service),
        "queued_ms": percentiles(results.queued),
        "generator_max_lag_ms": round(lag * 1000, 1),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="fixed-rate latency, open loop")
    parser.add_argument("--url", required=True, help="http://127.0.0.1:PORT/skill (loopback only)")
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--duration", type=float, default=30, help="seconds of schedule (30)")
    parser.add_argument("--warmup", type=float, default=0, help="seconds left out of the figures")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections (64)")
    parser.add_argument("--timeout", type=float, default=5, help="per request, s (5, Kakao's)")
    parser.add_argument("--members", type=int, default=1000, help="seeded keys to rotate (1000)")
    parser.add_argument("--utterance", default="메뉴", help="what the users say (메뉴)")
    parser.add_argument("--secret", default=os.environ.get("SKILL_SECRET"))
    parser.add_argument(
        "--secret-header", default=os.environ.get("SKILL_SECRET_HEADER", "X-Skill-Secret")
    )
    parser.add_argument("--json", metavar="PATH", help="also write the summary here")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.duration <= 0 or args.connections < 1 or args.members < 1:
        parser.error("--rate, --duration, --connections and --members must be positive")
    if args.warmup >= args.duration:
        parser.error("--warmup must be shorter than --duration")
    if urlsplit(args.url).scheme != "http":
        parser.error("--url must be http://")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    check_loopback(args.url)
    began = time.perf_counter()
    generator = OpenLoop(args)
    result = summary(args, asyncio.run(generator.run()), generator.lag)
    result["wall_s"] = round(time.perf_counter() - began, 2)
    text = json.dumps(result, ensure_ascii=False, indent=2)
    print(text)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text + "\n")
    if result["generator_max_lag_ms"] > 50:
        print(
            f"openloop: the generator ran up to {result['generator_max_lag_ms']} ms behind its "
            "schedule (short of CPU); those delays are counted in the latency",
            file=sys.stderr,
        )
    return 0 if result["measured_requests"] and not result["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
