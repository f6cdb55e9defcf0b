"""The sender: turns the outbox into Event API calls, at most one person once per reminder.

One step at a time, each recorded before the next: due auto reminders are queued, pending people
are put in batches of at most 100, a batch is claimed and its attempt recorded (`sending`, with a
lease) before Kakao is called, and Kakao's answer is recorded after. A sender that dies between
the two leaves the batch `sending`; when its lease runs out the batch is `unknown`, like a call
whose answer never came.

An unknown batch is never sent again blindly. Kakao runs our skill for every person it delivers
a reminder to (the text is built then), and the skill records it. After `unknown_grace` seconds:
- a delivery of the batch was seen: Kakao accepted the call (a call is accepted whole); nothing
  is resent, the rest of the batch stays `sent`;
- none was seen: Kakao did not accept it, or accepted it and reached nobody; it is sent again
  (counted as an attempt). Even if Kakao did accept it and delivers very late, nobody sees the
  reminder twice: the skill shows each person a reminder only the first time it runs for them.
With a recorded taskId the task endpoint says what happened, per person.
"""

from __future__ import annotations

import logging
import os
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from surveybot.domain import utcnow
from surveybot.reminders.event_api import Accepted, Refused, Retry, SendResult, Unknown
from surveybot.reminders.model import BATCH_MAX, Claimed, TaskResult
from surveybot.store.base import Store

log = logging.getLogger("surveybot.notifier")


class Api(Protocol):
    def send(self, reminder_id: int, survey_id: int, user_keys: list[str]) -> SendResult: ...

    def task(self, task_id: str) -> TaskResult | None: ...


class Metrics(Protocol):
    def call(self, outcome: str) -> None: ...


@dataclass(frozen=True, slots=True)
class NotifierSettings:
    rate_per_second: float = 5.0  # Event API calls (sends and task reads) per second, at most
    max_attempts: int = 6  # tries of one batch before it is given up
    timeout: float = 10.0  # seconds for one call
    unknown_grace: float = 600.0  # seconds to wait for deliveries before deciding an unknown call
    batch_size: int = BATCH_MAX
    backoff_base: float = 2.0  # seconds before the second try; doubled each time
    backoff_cap: float = 300.0
    task_first_check: float = 5.0  # seconds after acceptance
    task_checks: int = 10  # reads of the task result before settling for what is known
    idle: float = 2.0  # seconds between looks when there is nothing to do

    @property
    def lease(self) -> float:
        """How long a claimed batch is its sender's: well past one call's timeout."""
        return 2 * self.timeout + 5


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Notifier:
    """Runs the steps; `wait(seconds)` sleeps and returns True when asked to stop."""

    def __init__(
        self,
        store: Store,
        api: Api,
        settings: NotifierSettings,
        *,
        wait: Callable[[float], bool],
        now: Callable[[], datetime] = utcnow,
        rand: Callable[[], float] = random.random,
        worker: str | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._store = store
        self._api = api
        self._s = settings
        self._wait = wait
        self._now = now
        self._rand = rand
        self._worker = worker or worker_name()
        self._metrics = metrics
        self._last_call: datetime | None = None

    def run(self, once: bool = False) -> None:
        """Work until `wait` says stop; with `once`, until nothing is left to do."""
        while True:
            if self.tick():
                if self._wait(0):  # asked to stop: the call made is recorded, stop here
                    return
                continue
            wake = self._store.next_work_at()
            if once and wake is None:
                return
            pause = self._s.idle
            if wake is not None:
                pause = min(pause, max((wake - self._now()).total_seconds(), 0.05))
            if self._wait(pause):
                return

    def tick(self) -> bool:
        """Housekeeping, then one call to Kakao (or one decision); True when one was made."""
        now = self._now()
        store = self._store
        if store.expire_leases(now, now + self._seconds(self._s.unknown_grace)):
            log.warning("a sender stopped mid-call: its batches wait for deliveries to decide")
        store.queue_due_reminders(now)
        while store.form_batch(now, self._s.batch_size):
            pass
        return self._send() or self._resolve() or self._check()

    # --- the steps ----------------------------------------------------------------------------
    def _send(self) -> bool:
        now = self._now()
        claimed = self._store.claim_batch(now, now + self._seconds(self._s.lease), self._worker)
        if claimed is None:
            return False
        if not claimed.user_keys:
            log.info("batch %d: everyone answered before it was sent", claimed.batch_id)
            return True
        self._pace()
        result = self._api.send(claimed.reminder_id, claimed.survey_id, claimed.user_keys)
        self._record(claimed, result)
        return True

    def _record(self, claimed: Claimed, result: SendResult) -> None:
        now, batch, attempt = self._now(), claimed.batch_id, claimed.attempt
        people = len(claimed.user_keys)
        outcome: str
        if isinstance(result, Accepted):
            outcome = "accepted"
            check_at = now + self._seconds(self._s.task_first_check)
            self._store.record_accepted(batch, attempt, result.task_id, check_at)
            log.info("batch %d: %d people accepted, task %s", batch, people, result.task_id)
        elif isinstance(result, Unknown):
            outcome = "unknown"
            decide_at = now + self._seconds(self._s.unknown_grace)
            self._store.record_unknown(batch, attempt, result.reason, decide_at)
            log.warning("batch %d: %s; deciding from deliveries at %s", batch, result.reason,
                        decide_at.isoformat())  # fmt: skip
        elif isinstance(result, Retry) and attempt < self._s.max_attempts:
            outcome = "retry"
            retry_at = now + self._seconds(self._backoff(attempt, result.retry_after))
            self._store.record_retry(batch, attempt, result.reason, retry_at)
            log.warning("batch %d try %d: %s; again at %s", batch, attempt, result.reason,
                        retry_at.isoformat())  # fmt: skip
        else:
            outcome = "failed"
            assert isinstance(result, Retry | Refused)
            why = result.reason
            if isinstance(result, Retry):
                why = f"gave up after {attempt} attempts: {why}"
            self._store.record_failed(batch, attempt, why)
            log.error("batch %d: %d people not reminded: %s", batch, people, why)
        if self._metrics is not None:
            self._metrics.call(outcome)

    def _resolve(self) -> bool:
        decided = self._store.resolve_unknown(self._now(), self._s.max_attempts)
        if decided is not None:
            log.warning("an unknown batch was decided: %s", decided)
        return decided is not None

    def _check(self) -> bool:
        now = self._now()
        check = self._store.claim_task_check(now, now + self._seconds(self._s.lease))
        if check is None:
            return False
        self._pace()
        result = self._api.task(check.task_id)
        if result is not None and result.complete:
            self._store.record_task(check.batch_id, result, None)
        elif check.checks >= self._s.task_checks:
            note = f"Kakao's task result was not final after {check.checks} reads"
            self._store.record_task(check.batch_id, result, note)
        else:
            later = self._now() + self._seconds(self._backoff(check.checks, None))
            self._store.postpone_task_check(check.batch_id, later)
        return True

    # --- pacing -------------------------------------------------------------------------------
    def _pace(self) -> None:
        """Keep to rate_per_second calls, however many batches wait."""
        gap = 1.0 / self._s.rate_per_second
        if self._last_call is not None:
            left = gap - (self._now() - self._last_call).total_seconds()
            if left > 0:
                self._wait(left)
        self._last_call = self._now()

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Exponential, with jitter so that senders do not come back in step; Retry-After wins."""
        ceiling = min(self._s.backoff_cap, self._s.backoff_base * 2.0 ** (attempt - 1))
        delay = ceiling * (0.5 + self._rand() / 2)
        return max(delay, retry_after or 0.0)

    @staticmethod
    def _seconds(value: float) -> timedelta:
        return timedelta(seconds=value)
