"""`surveybot notifier`: the sender as a process, stopped gracefully by SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import signal
import threading

from prometheus_client import CollectorRegistry, Counter, start_http_server

from surveybot.config import Config
from surveybot.observability import configure_logging
from surveybot.reminders.event_api import EventApi
from surveybot.reminders.notifier import Notifier, NotifierSettings
from surveybot.store import open_store
from surveybot.store.base import Store, StoreUnavailable

log = logging.getLogger("surveybot.notifier")
RETRY_DATABASE_S = 5.0


class NotifierMetrics:
    """Event API calls by outcome, served at /metrics on --metrics-port (the web app's /metrics
    counts requests; this process makes the calls)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._calls = Counter(
            "surveybot_reminder_calls",
            "Event API calls for reminders, by outcome (accepted, retry, unknown, failed)",
            ["outcome"],
            registry=registry,
        )

    def call(self, outcome: str) -> None:
        self._calls.labels(outcome).inc()


def settings_from(config: Config) -> NotifierSettings:
    return NotifierSettings(
        rate_per_second=config.reminder_rate_per_second,
        max_attempts=config.reminder_max_attempts,
        timeout=float(config.reminder_timeout_seconds),
        unknown_grace=float(config.reminder_unknown_grace_seconds),
    )


def run_notifier(config: Config, *, once: bool = False, metrics_port: int | None = None) -> int:
    """Send reminders until stopped; with `once`, until nothing is left to send."""
    configure_logging(config.log_level, config.log_format)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        # Finish the call in flight and record its answer, then leave.
        signal.signal(sig, lambda *_: stop.set())
    if not config.reminders_enabled:
        log.warning("reminders are off (KAKAO_REST_API_KEY, KAKAO_BOT_ID): nothing to send")
        if not once:
            stop.wait()  # one process to run in every deployment, configured or not
        return 0
    assert config.kakao_rest_api_key is not None and config.kakao_bot_id is not None
    metrics = None
    if metrics_port:
        registry = CollectorRegistry()
        metrics = NotifierMetrics(registry)
        start_http_server(metrics_port, registry=registry)
    api = EventApi(config.kakao_event_api_url, config.kakao_rest_api_key, config.kakao_bot_id,
                   config.kakao_event_name, timeout=float(config.reminder_timeout_seconds))  # fmt: skip
    store = open_store(
        config.database_url,
        config.sqlite_path,
        pool_min=0,
        pool_max=2,
        connect_timeout=config.db_connect_timeout,
        statement_timeout_ms=config.db_statement_timeout_ms,
    )
    try:
        notifier = Notifier(store, api, settings_from(config), wait=stop.wait, metrics=metrics)
        log.info("notifier started: %s calls/s, event %r", config.reminder_rate_per_second,
                 config.kakao_event_name)  # fmt: skip
        _run(store, notifier, stop, once)
    finally:
        store.close()
    log.info("notifier stopped")
    return 0


def _run(store: Store, notifier: Notifier, stop: threading.Event, once: bool) -> None:
    migrated = False
    while not stop.is_set():
        try:
            if not migrated:
                store.migrate()  # like `surveybot serve`: safe when several start at once
                migrated = True
            notifier.run(once=once)
            return
        except StoreUnavailable as error:
            # What was recorded stays recorded; the next look starts from the database again.
            log.warning("database unavailable, trying again in %.0f s: %s", RETRY_DATABASE_S, error)
            stop.wait(RETRY_DATABASE_S)
