"""Reminders and their outbox on SQL (store.outbox_base.Reminders), mixed into SqlStore.

Every change is one transaction with conditional updates: a batch moves on only from the state
(and attempt) the caller saw, so a second notifier, a restarted one or a late answer cannot move
it twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from surveybot import audit
from surveybot.audit import Action, Event, Target
from surveybot.domain import SurveyDraft
from surveybot.reminders.model import (
    Claimed,
    Delivery,
    OutboxState,
    Queued,
    QueueOutcome,
    ReminderKind,
    ReminderLine,
    ReminderPreview,
    ReminderStatus,
    TaskCheck,
    TaskResult,
)
from surveybot.store import outbox_sql as o
from surveybot.store.audit_sql import append
from surveybot.store.dialect import Dialect, Params, Tx
from surveybot.store.rows import SURVEY_COLUMNS, survey_from_row
from surveybot.store.sealing import Sealing

NOBODY = -1  # a user id no one has: "exclude nobody" without a NULL parameter
SURVEY_GET = f"SELECT {SURVEY_COLUMNS} FROM surveys s WHERE s.id = :survey_id"


def queue_people(d: Dialect, tx: Tx, reminder_id: int, survey_id: int, now: datetime,
                 exclude: int = NOBODY) -> int:  # fmt: skip
    """Write the outbox of a reminder: everyone it goes to now, once each."""
    params = {"reminder_id": reminder_id, "survey_id": survey_id, "now": d.time(now),
              "exclude": exclude}  # fmt: skip
    return tx.run(o.QUEUE_OUTBOX, params)


def schedule_new_survey(
    d: Dialect, tx: Tx, survey_id: int, draft: SurveyDraft, created_by: int, now: datetime
) -> None:
    """In the publishing transaction: the survey's auto reminders, and its notice with outbox."""
    for minutes in draft.reminders:
        _schedule_auto(d, tx, survey_id, minutes, draft.deadline, created_by, now)
    if draft.notice:
        params = {"survey_id": survey_id, "kind": ReminderKind.NOTICE.value, "seq": 0,
                  "now": d.time(now), "created_by": created_by}  # fmt: skip
        row = tx.one(o.QUEUE_REMINDER, params)
        if row is not None:  # the author knows already
            queue_people(d, tx, int(row[0]), survey_id, now, exclude=created_by)


def _schedule_auto(d: Dialect, tx: Tx, survey_id: int, minutes: int, deadline: datetime | None,
                   created_by: int, now: datetime) -> None:  # fmt: skip
    if deadline is None:
        return
    due = deadline - timedelta(minutes=minutes)
    if due <= now:
        return  # its time has passed already: sending it now would not be "24 hours before"
    params = {"survey_id": survey_id, "seq": minutes, "due_at": d.time(due),
              "created_by": created_by, "now": d.time(now)}  # fmt: skip
    tx.run(o.SCHEDULE_AUTO, params)


class OutboxStore:
    """The Reminders methods; SqlStore provides `_d` and `_seal`."""

    _d: Dialect
    _seal: Sealing

    def _locked(self, sql: str) -> str:
        return o.locked(sql, self._d.name)

    # --- what the conversation needs ----------------------------------------------------------
    def reminder_preview(self, survey_id: int, sample: int = 10) -> ReminderPreview | None:
        params = {"survey_id": survey_id, "sample": sample}
        with self._d.transaction(write=False) as tx:  # one snapshot for all the counts
            row = tx.one(SURVEY_GET, params)
            if row is None:
                return None
            recipients = int(tx.one(o.PREVIEW_COUNT, params)[0])
            names = sorted(
                self._seal.open_user(r[0], r[1], (r[2], None, None))[0]
                for r in tx.all(o.PREVIEW_SAMPLE, params)
            )
            unreachable = int(tx.one(o.UNREACHABLE_COUNT, params)[0])
            absent = sorted(
                self._seal.open_roster(r[0], r[1], (r[2], None, None))[0]
                for r in tx.all(o.UNREACHABLE_SAMPLE, params)
            )
            manual, last = tx.one(o.MANUAL_SO_FAR, params)
        survey = self._survey_row(row)
        return ReminderPreview(survey, recipients, names, unreachable, absent, int(manual),
                               self._d.read_time(last))  # fmt: skip

    def _survey_row(self, row: Any) -> Any:
        return survey_from_row(row, self._d.read_time, self._d.read_json)

    def queue_manual_reminder(
        self, survey_id: int, seq: int, created_by: int, now: datetime
    ) -> Queued:
        params = {"survey_id": survey_id, "kind": ReminderKind.MANUAL.value, "seq": seq,
                  "now": self._d.time(now), "created_by": created_by}  # fmt: skip
        with self._d.transaction(write=True) as tx:
            row = tx.one(o.QUEUE_REMINDER, params)
            if row is not None:
                people = queue_people(self._d, tx, int(row[0]), survey_id, now)
                sent = Event(Action.REMIND, Target.SURVEY, survey_id, f"#{seq} people={people}")
                append(self._d, tx, audit.by(created_by), sent, now)
                return Queued(QueueOutcome.OK, people)
            state = tx.one(o.SURVEY_OPEN, params)
        if state is None:
            return Queued(QueueOutcome.MISSING)
        # Refused while open means the reminder exists: another tap or admin made it first.
        return Queued(QueueOutcome.ALREADY if state[0] else QueueOutcome.CLOSED)

    def set_auto_reminders(
        self, survey_id: int, minutes: tuple[int, ...], created_by: int, now: datetime
    ) -> list[datetime] | None:
        params: Params = {"survey_id": survey_id}
        with self._d.transaction(write=True) as tx:
            found = tx.one(o.SURVEY_DEADLINE, params)
            deadline = None if found is None else self._d.read_time(found[0])
            if deadline is None:
                return None
            tx.run(o.UNSCHEDULE_AUTO, params)
            for offset in minutes:
                _schedule_auto(self._d, tx, survey_id, offset, deadline, created_by, now)
            rows = tx.all(o.SCHEDULED_AUTO, params)
            offsets = ",".join(str(m) for m in minutes) or "off"
            auto = Event(Action.REMIND_AUTO, Target.SURVEY, survey_id, f"minutes={offsets}")
            append(self._d, tx, audit.by(created_by), auto, now)
        return [t for t in (self._d.read_time(r[0]) for r in rows) if t is not None]

    def reminder_status(self, survey_id: int) -> ReminderStatus | None:
        params = {"survey_id": survey_id}
        with self._d.transaction(write=False) as tx:
            row = tx.one(SURVEY_GET, params)
            if row is None:
                return None
            rows = tx.all(o.STATUS, params)
            failures = [(str(r[0] or "?"), int(r[1])) for r in tx.all(o.FAILURES, params)]
        lines: list[ReminderLine] = []
        for kind, seq, due, queued, state, count in rows:
            if not lines or (lines[-1].kind, lines[-1].seq) != (kind, seq):
                due_at = self._d.read_time(due)
                assert due_at is not None
                lines.append(ReminderLine(ReminderKind(kind), int(seq), due_at,
                                          self._d.read_time(queued)))  # fmt: skip
            if state is not None:
                lines[-1].counts[OutboxState(state)] = int(count)
        return ReminderStatus(self._survey_row(row), lines, failures)

    def record_delivery(self, reminder_id: int, user_key: str, now: datetime) -> Delivery | None:
        params: Params = {
            "reminder_id": reminder_id,
            "user_key": user_key,
            "now": self._d.time(now),
        }
        with self._d.transaction(write=True) as tx:
            row = tx.one(o.DELIVERY, params)
            if row is None:
                return None
            show = bool(row[5])
            state = OutboxState.DELIVERED if show else OutboxState.SKIPPED
            # Another call for this person got here first: it showed the reminder, or not.
            first = tx.run(o.MARK_DELIVERED, {**params, "id": row[0], "state": state.value}) == 1
        return Delivery(show and first, ReminderKind(row[1]), int(row[2]), str(row[3]),
                        self._d.read_time(row[4]))  # fmt: skip

    # --- what the notifier needs --------------------------------------------------------------
    def queue_due_reminders(self, now: datetime) -> int:
        with self._d.statement() as tx:
            due = tx.all(o.DUE, {"now": self._d.time(now)})
        for reminder_id, survey_id in due:
            with self._d.transaction(write=True) as tx:
                # The outbox and the mark in one transaction: due once, queued once.
                if tx.run(o.MARK_QUEUED, {"id": reminder_id, "now": self._d.time(now)}) == 1:
                    queue_people(self._d, tx, int(reminder_id), int(survey_id), now)
        return len(due)

    def expire_leases(self, now: datetime, decide_at: datetime) -> int:
        params = {"now": self._d.time(now), "decide_at": self._d.time(decide_at)}
        with self._d.statement() as tx:
            return tx.run(o.EXPIRE, params)

    def form_batch(self, now: datetime, size: int) -> bool:
        with self._d.transaction(write=True) as tx:
            lock = o.FORM_LOCK[self._d.name]
            if lock is not None:
                tx.one(lock)
            row = tx.one(o.OLDEST_PENDING)
            if row is None:
                return False
            params: Params = {"reminder_id": row[0], "now": self._d.time(now), "size": size}
            batch = tx.one(o.NEW_BATCH, params)[0]
            tx.run(o.FILL_BATCH, {**params, "batch_id": batch})
        return True

    def claim_batch(self, now: datetime, lease_until: datetime, worker: str) -> Claimed | None:
        params: Params = {"now": self._d.time(now), "until": self._d.time(lease_until),
                          "worker": worker}  # fmt: skip
        with self._d.transaction(write=True) as tx:
            row = tx.one(self._locked(o.CLAIM), params)
            if row is None:
                return None
            batch_id, reminder_id, attempt = (int(v) for v in row)
            survey_id = int(tx.one(o.REMINDER_SURVEY, {"reminder_id": reminder_id})[0])
            mine = {**params, "batch_id": batch_id, "survey_id": survey_id}
            tx.run(o.SKIP_CLOSED, mine)
            tx.run(o.SKIP_ANSWERED, mine)
            keys = [str(r[0]) for r in tx.all(o.BATCH_KEYS, mine)]
            if not keys:
                tx.run(o.BATCH_EMPTY, mine)
        return Claimed(batch_id, reminder_id, survey_id, attempt, keys)

    def _batch_step(self, sql: str, params: Params, people: str | None = None) -> bool:
        with self._d.transaction(write=True) as tx:
            if tx.run(sql, params) != 1:
                return False  # moved on already (another notifier, or a late answer)
            if people is not None:
                tx.run(people, params)
        return True

    def record_accepted(
        self, batch_id: int, attempt: int, task_id: str, check_at: datetime
    ) -> bool:
        params = {"batch_id": batch_id, "attempt": attempt, "task_id": task_id,
                  "check_at": self._d.time(check_at)}  # fmt: skip
        return self._batch_step(o.ACCEPTED, params, o.PEOPLE_SENT)

    def record_retry(self, batch_id: int, attempt: int, error: str, retry_at: datetime) -> bool:
        params = {"batch_id": batch_id, "attempt": attempt, "error": error,
                  "retry_at": self._d.time(retry_at)}  # fmt: skip
        return self._batch_step(o.RETRY, params)

    def record_unknown(self, batch_id: int, attempt: int, error: str, decide_at: datetime) -> bool:
        params = {"batch_id": batch_id, "attempt": attempt, "error": error,
                  "decide_at": self._d.time(decide_at)}  # fmt: skip
        return self._batch_step(o.UNKNOWN, params)

    def record_failed(self, batch_id: int, attempt: int, error: str) -> bool:
        params = {"batch_id": batch_id, "attempt": attempt, "error": error}
        return self._batch_step(o.FAILED, params, o.PEOPLE_FAILED)

    def resolve_unknown(self, now: datetime, max_attempts: int) -> str | None:
        with self._d.transaction(write=True) as tx:
            row = tx.one(self._locked(o.UNKNOWN_DUE), {"now": self._d.time(now)})
            if row is None:
                return None
            params: Params = {"batch_id": int(row[0]), "attempt": int(row[1]),
                              "now": self._d.time(now)}  # fmt: skip
            # Kakao runs our skill for every person it delivers to: one delivery seen proves
            # the call was accepted (a call is accepted whole), none means it was not, or that
            # it reached nobody, and a second call can then show nobody anything twice.
            if int(tx.one(o.SEEN, params)[0]) > 0:
                tx.run(o.UNKNOWN_ACCEPTED, params)
                tx.run(o.PEOPLE_SENT, params)
                return "accepted"
            if int(row[1]) < max_attempts:
                tx.run(o.UNKNOWN_RETRY, params)
                return "retry"
            params["error"] = f"no answer from Kakao and no delivery seen after {row[1]} attempts"
            tx.run(o.FAILED, params)
            tx.run(o.PEOPLE_FAILED, params)
            return "failed"

    def claim_task_check(self, now: datetime, until: datetime) -> TaskCheck | None:
        params = {"now": self._d.time(now), "until": self._d.time(until)}
        with self._d.statement() as tx:
            row = tx.one(self._locked(o.CLAIM_CHECK), params)
        return None if row is None else TaskCheck(int(row[0]), str(row[1]), int(row[2]))

    def record_task(self, batch_id: int, result: TaskResult | None, note: str | None) -> bool:
        params: Params = {"batch_id": batch_id, "note": note}
        with self._d.transaction(write=True) as tx:
            if result is not None:
                for user_key, why in result.failed.items():
                    tx.run(o.PERSON_FAILED, {**params, "user_key": user_key, "error": why})
                left = int(tx.one(o.UNSETTLED, params)[0])
                if result.complete and result.unattributed == 0:
                    tx.run(o.PEOPLE_DELIVERED, params)
                elif result.complete and result.unattributed >= left:
                    why = f"Kakao: {result.status or 'failed'} (without naming who)"
                    tx.run(o.PEOPLE_FAILED, {**params, "error": why})
                # Otherwise some of them failed and Kakao does not say who: they stay 'sent'.
            return tx.run(o.TASK_DONE, params) == 1

    def postpone_task_check(self, batch_id: int, check_at: datetime) -> bool:
        params = {"batch_id": batch_id, "check_at": self._d.time(check_at)}
        with self._d.statement() as tx:
            return tx.run(o.TASK_LATER, params) == 1

    def next_work_at(self) -> datetime | None:
        with self._d.transaction(write=False) as tx:
            pending = bool(tx.one(o.ANY_PENDING)[0])
            batch = self._d.read_time(tx.one(o.NEXT_BATCH_AT)[0])
        return _EPOCH if pending else batch  # pending people: at once


_EPOCH = datetime.fromisoformat("1970-01-01T00:00:00+00:00")
