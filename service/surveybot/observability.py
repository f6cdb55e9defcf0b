"""Structured logs and Prometheus metrics.

Metrics work across all workers of a node (granian or gunicorn) in prometheus_client's
multiprocess mode: each worker writes its samples to files in PROMETHEUS_MULTIPROC_DIR and /metrics
(on any worker) adds them up. Without that variable the metrics are per process, which is what tests see.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from typing import Any

import falcon
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess

from surveybot.log_redaction import RedactExportTokens
from surveybot.store.base import Store

log = logging.getLogger(__name__)
# Attributes every LogRecord has; anything else was passed in `extra` and goes into the JSON.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
# Kakao's deadline is 5 s: the buckets are finest where replies should be, and end past it.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
POOL_FIGURES = ("pool_size", "pool_available", "requests_waiting")


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the request id and other `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        entry.update(_extra(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:  # set already when log_redaction has cleaned it
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


JsonFormatter.converter = time.gmtime


class TextFormatter(logging.Formatter):
    """Plain lines for development, with the `extra` fields (the request id) appended."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        fields = "".join(f" {key}={value}" for key, value in _extra(record))
        return super().formatMessage(record) + fields


def _extra(record: logging.LogRecord) -> list[tuple[str, Any]]:
    return [(k, v) for k, v in record.__dict__.items() if k not in _STANDARD]


def configure_logging(level: str, fmt: str) -> None:
    """Send the app's logs to stderr, as JSON lines (`json`) or plain text (`text`)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    # On the handler, so records of every logger that reaches it are covered.
    handler.addFilter(RedactExportTokens())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


class Metrics:
    """The app's metrics, registered in their own registry (one per app, so tests can build many)."""

    def __init__(self, multiprocess_dir: str | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry()
        if multiprocess_dir:
            forget_dead_workers(multiprocess_dir)
        # In multiprocess mode samples go to files, and /metrics reads every worker's files.
        registry = None if multiprocess_dir else self.registry
        self.latency = Histogram(
            "surveybot_request_duration_seconds",
            "Time to answer a request, by route.",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.replies = Counter(
            "surveybot_replies",
            "Replies by outcome: ok, apology (database down or failure), or the HTTP error.",
            ["outcome"],
            registry=registry,
        )
        self.pool = Gauge(
            "surveybot_db_pool",
            "Database pool figures of the live workers, added up.",
            ["figure"],
            multiprocess_mode="livesum",
            registry=registry,
        )

    def render(self) -> bytes:
        if self.multiprocess_dir:
            registry = CollectorRegistry()
            prometheus_multiprocess.MultiProcessCollector(registry, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)


def forget_dead_workers(folder: str) -> None:
    """Drop the live gauges (the pool figures) of workers that are gone, as a new worker starts.

    gunicorn's master does it as a worker exits (gunicorn_conf.child_exit); granian has no such
    hook, but starts a new worker in place of a dead one, and this runs in that worker. What
    prometheus_client's mark_process_dead removes, removed here so that two workers starting at
    once cannot fail on a file the other removed first (a failed start would stop the node).
    """
    try:
        names = os.listdir(folder)
    except OSError:
        return  # no folder yet: prometheus_client will say so where it matters
    for name in names:
        pid = name.removesuffix(".db").rpartition("_")[2]
        if name.startswith("gauge_live") and pid.isdigit() and not _alive(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(folder, name))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process under that number: not ours to drop
        return True
    return True


class MetricsMiddleware:
    """Time every request; count replies by outcome; sample the pool at most once a second."""

    def __init__(
        self, metrics: Metrics, store: Store, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self._metrics = metrics
        self._store = store
        self._clock = clock
        self._pool_sampled = 0.0
        # Labelled children by label values: labels() takes a lock and builds a key each time,
        # which in multiprocess mode doubled the cost of recording a request.
        self._latency: dict[tuple[str, str], Any] = {}
        self._replies: dict[str, Any] = {}

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.context.started = self._clock()

    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, req_succeeded: bool
    ) -> None:
        now = self._clock()
        route = req.uri_template or "unmatched"
        key = (route, req.method)
        latency = self._latency.get(key)
        if latency is None:
            latency = self._latency[key] = self._metrics.latency.labels(*key)
        latency.observe(now - req.context.started)
        if route == "/skill":
            outcome = req.context.get("outcome") or str(resp.status).split()[0]
            replies = self._replies.get(outcome)
            if replies is None:
                replies = self._replies[outcome] = self._metrics.replies.labels(outcome)
            replies.inc()
        if now - self._pool_sampled >= 1.0:
            self._pool_sampled = now
            self._sample_pool()

    def _sample_pool(self) -> None:
        try:
            stats = self._store.pool_stats()
        except Exception:  # metrics must never cost a user their reply
            log.debug("could not read pool statistics", exc_info=True)
            return
        for figure in POOL_FIGURES:
            if figure in stats:
                self._metrics.pool.labels(figure).set(stats[figure])


class MetricsResource:
    """GET /metrics in Prometheus' text format; nginx does not route it, so it stays internal."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.data = self._metrics.render()
        resp.content_type = CONTENT_TYPE_LATEST


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
