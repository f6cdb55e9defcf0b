"""The reminders part of the storage contract (issue 10); store.base.Store includes it.

A reminder's outbox rows are written in the transaction that makes the reminder, one per person,
under UNIQUE (reminder, person). The notifier's methods move batches through their states with
conditional updates, so two notifiers, or one restarted, never act twice on the same step.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from surveybot.reminders.model import (
    Claimed,
    Delivery,
    Queued,
    ReminderPreview,
    ReminderStatus,
    TaskCheck,
    TaskResult,
)


class Reminders(Protocol):
    # --- what the conversation needs ----------------------------------------------------------
    def reminder_preview(self, survey_id: int, sample: int = 10) -> ReminderPreview | None:
        """Who a reminder would reach now and who cannot be reached; None without the survey."""
        ...

    def queue_manual_reminder(
        self, survey_id: int, seq: int, created_by: int, now: datetime
    ) -> Queued:
        """Make manual reminder number `seq` and its outbox in one transaction, if still open.

        The same `seq` again (a double tap, a second admin's copy of the same preview) is
        ALREADY and queues nobody.
        """
        ...

    def set_auto_reminders(
        self, survey_id: int, minutes: tuple[int, ...], created_by: int, now: datetime
    ) -> list[datetime] | None:
        """Replace the survey's auto reminders not yet due with these (minutes before the
        deadline); return the due times kept. None when the survey has no deadline or is gone.
        An offset that fired already never fires again."""
        ...

    def reminder_status(self, survey_id: int) -> ReminderStatus | None: ...

    def record_delivery(self, reminder_id: int, user_key: str, now: datetime) -> Delivery | None:
        """Kakao runs the reminder block for this person: decide, once, whether to show it.

        None when the person is not in that reminder. A second call for the same person and
        reminder gets show=False: each reminder is shown at most once.
        """
        ...

    # --- what the notifier needs --------------------------------------------------------------
    def queue_due_reminders(self, now: datetime) -> int:
        """Write the outbox of every auto reminder that is due, once each; return how many."""
        ...

    def expire_leases(self, now: datetime, decide_at: datetime) -> int:
        """Batches whose sender's lease ran out mid-call become unknown, decided at decide_at."""
        ...

    def form_batch(self, now: datetime, size: int) -> bool:
        """Put up to `size` pending people of one reminder into a new batch; False: none left."""
        ...

    def claim_batch(self, now: datetime, lease_until: datetime, worker: str) -> Claimed | None:
        """Take a batch due for a try and record the attempt (state sending) before any call."""
        ...

    def record_accepted(
        self, batch_id: int, attempt: int, task_id: str, check_at: datetime
    ) -> bool: ...

    def record_retry(self, batch_id: int, attempt: int, error: str, retry_at: datetime) -> bool: ...

    def record_unknown(
        self, batch_id: int, attempt: int, error: str, decide_at: datetime
    ) -> bool: ...

    def record_failed(self, batch_id: int, attempt: int, error: str) -> bool: ...

    def resolve_unknown(self, now: datetime, max_attempts: int) -> str | None:
        """Decide one unknown batch whose time has come: 'accepted' when a delivery of it was
        seen, else 'retry' or, after max_attempts, 'failed'. None when none is due."""
        ...

    def claim_task_check(self, now: datetime, until: datetime) -> TaskCheck | None: ...

    def record_task(self, batch_id: int, result: TaskResult | None, note: str | None) -> bool:
        """Record the per-person outcome of an accepted batch and close it."""
        ...

    def postpone_task_check(self, batch_id: int, check_at: datetime) -> bool: ...

    def next_work_at(self) -> datetime | None:
        """When the notifier next has something to do (a past time: now); None: nothing left."""
        ...
