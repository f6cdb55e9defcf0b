"""Reminders in the store (issue 10), on both backends: exactly the right people, each once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from support.reminder_helpers import people
from support.store_helpers import LATER, NOW, person, publish, raw
from surveybot.domain import RosterEntry
from surveybot.reminders.model import OutboxState, Queued, QueueOutcome, ReminderKind
from surveybot.store.base import Store


def _outbox(store: Store) -> list[tuple[str, str]]:
    rows = raw(store, "SELECT user_key, state FROM reminder_outbox ORDER BY user_key")
    return [(str(key), str(state)) for key, state in rows]


def _roster_office(store: Store, anonymous: bool) -> int:
    """Ann (answered), Bob and Cid (registered, not answered), Dan and Eve (never registered),
    and Zed, registered before the roster existed, so outside its population."""
    zed = person(store, "zed", "Zed")
    store.import_roster([RosterEntry(n) for n in ("Ann", "Bob", "Cid", "Dan", "Eve")])
    ann, _, _ = (person(store, key, name) for key, name in (("ann", "Ann"), ("bob", "Bob"),
                                                           ("cid", "Cid")))  # fmt: skip
    survey = publish(store, anonymous=anonymous, by=ann)
    respondent = "a:ann-hash" if anonymous else f"u:{ann.id}"
    store.submit_response(survey, ann, respondent, (0, [1], ""), NOW)
    assert zed.roster_id is None
    return survey


@pytest.mark.parametrize("anonymous", [False, True], ids=["named", "anonymous"])
def test_a_reminder_reaches_exactly_the_registered_who_have_not_answered(
    store: Store, anonymous: bool
) -> None:
    # Participation is known for anonymous surveys too.
    survey = _roster_office(store, anonymous)
    preview = store.reminder_preview(survey)
    assert preview is not None
    assert (preview.recipients, preview.sample) == (2, ["Bob", "Cid"])
    assert (preview.unreachable, preview.unreachable_sample) == (2, ["Dan", "Eve"])
    assert store.queue_manual_reminder(survey, 1, 1, LATER) == Queued(QueueOutcome.OK, 2)
    assert _outbox(store) == [("bob", "pending"), ("cid", "pending")]


def test_without_a_roster_every_registered_person_is_asked(store: Store) -> None:
    crowd = people(store, 5)
    survey = publish(store, by=crowd[0])
    store.submit_response(survey, crowd[1], f"u:{crowd[1].id}", (0, [1], ""), NOW)
    preview = store.reminder_preview(survey, sample=2)
    assert preview is not None
    assert (preview.recipients, preview.sample, preview.unreachable) == (4, ["p000", "p002"], 0)
    assert store.queue_manual_reminder(survey, 1, crowd[0].id, NOW).people == 4


def test_the_same_reminder_twice_queues_nobody_again(store: Store) -> None:
    crowd = people(store, 3)
    survey = publish(store, by=crowd[0])
    assert store.queue_manual_reminder(survey, 1, crowd[0].id, NOW) == Queued(QueueOutcome.OK, 3)
    assert store.queue_manual_reminder(survey, 1, crowd[1].id, LATER).outcome is QueueOutcome.ALREADY
    assert len(_outbox(store)) == 3
    # The next one, from a new preview, is another reminder.
    preview = store.reminder_preview(survey)
    assert preview is not None and preview.manual_sent == 1
    assert store.queue_manual_reminder(survey, 2, crowd[0].id, LATER).people == 3
    assert len(_outbox(store)) == 6


def test_a_closed_or_missing_survey_queues_nothing(store: Store) -> None:
    crowd = people(store, 2)
    survey = publish(store, by=crowd[0])
    store.close_survey(survey, NOW)
    assert store.queue_manual_reminder(survey, 1, crowd[0].id, LATER).outcome is QueueOutcome.CLOSED
    assert store.queue_manual_reminder(999, 1, crowd[0].id, LATER).outcome is QueueOutcome.MISSING
    assert _outbox(store) == []


def test_a_delivery_is_shown_once_and_never_to_someone_who_answered(store: Store) -> None:
    crowd = people(store, 3)
    survey = publish(store, by=crowd[0])
    store.queue_manual_reminder(survey, 1, crowd[0].id, NOW)
    reminder = int(raw(store, "SELECT id FROM reminders")[0][0])
    store.submit_response(survey, crowd[1], f"u:{crowd[1].id}", (0, [1], ""), LATER)
    first = store.record_delivery(reminder, "p000", LATER)
    assert first is not None and first.show and first.kind is ReminderKind.MANUAL
    again = store.record_delivery(reminder, "p000", LATER)  # a repeated call
    assert again is not None and not again.show
    answered = store.record_delivery(reminder, "p001", LATER)
    assert answered is not None and not answered.show
    assert store.record_delivery(reminder, "stranger", LATER) is None
    assert store.record_delivery(reminder + 1, "p002", LATER) is None
    states = dict(_outbox(store))
    assert states == {"p000": "delivered", "p001": "skipped", "p002": "pending"}


def test_auto_reminders_are_kept_per_offset_and_fire_once(store: Store) -> None:
    crowd = people(store, 2)
    deadline = NOW + timedelta(days=2)
    survey = publish(store, deadline=deadline, by=crowd[0])
    due = store.set_auto_reminders(survey, (1440, 120), crowd[0].id, NOW)
    assert due == [deadline - timedelta(days=1), deadline - timedelta(hours=2)]
    # Changed before it fired: replaced. An offset whose time has passed is not kept.
    assert store.set_auto_reminders(survey, (1440, 4 * 1440), crowd[0].id, NOW) == [
        deadline - timedelta(days=1)
    ]
    assert store.queue_due_reminders(deadline - timedelta(days=1, seconds=1)) == 0
    assert store.queue_due_reminders(deadline - timedelta(days=1)) == 1
    assert store.queue_due_reminders(deadline - timedelta(hours=1)) == 0
    assert len(_outbox(store)) == 2
    # Asking for the same offset again cannot make it fire again.
    assert store.set_auto_reminders(survey, (1440,), crowd[0].id, NOW) == []
    assert store.queue_due_reminders(deadline - timedelta(minutes=1)) == 0
    assert store.set_auto_reminders(publish(store, "d2", by=crowd[0]), (60,), 1, NOW) is None


def test_status_counts_people_per_reminder(store: Store) -> None:
    crowd = people(store, 3)
    survey = publish(store, by=crowd[0])
    store.queue_manual_reminder(survey, 1, crowd[0].id, NOW)
    status = store.reminder_status(survey)
    assert status is not None and len(status.reminders) == 1
    line = status.reminders[0]
    assert (line.kind, line.seq, line.counts) == (ReminderKind.MANUAL, 1, {OutboxState.PENDING: 3})
    assert store.reminder_status(999) is None


def test_deleting_a_survey_takes_its_reminders(store: Store) -> None:
    crowd = people(store, 2)
    survey = publish(store, by=crowd[0])
    store.queue_manual_reminder(survey, 1, crowd[0].id, NOW)
    store.form_batch(NOW, 100)
    assert store.delete_survey(survey)
    for table in ("reminders", "reminder_batches", "reminder_outbox"):
        assert raw(store, f"SELECT count(*) FROM {table}") == [(0,)]
