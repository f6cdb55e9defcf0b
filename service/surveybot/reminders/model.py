"""The plain data of reminders, shared by the store, the conversation and the notifier."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from surveybot.domain import Survey

# Kakao's price of one Event API message (₩, VAT extra), for the admin's estimate.
MESSAGE_WON = 15
# Kakao takes at most this many users in one Event API call.
BATCH_MAX = 100
# The value of `surveybot` in an Event API call's data and params: how the skill tells its own
# reminder calls from everything else.
EVENT_MARK = "reminder"


class ReminderKind(enum.StrEnum):
    MANUAL = "manual"  # 알림확인 n
    AUTO = "auto"  # some time before the deadline
    NOTICE = "notice"  # when the survey is published (공지)


class QueueOutcome(enum.StrEnum):
    OK = "ok"
    ALREADY = "already"  # this reminder was queued before: a double tap or another admin
    CLOSED = "closed"
    MISSING = "missing"


class OutboxState(enum.StrEnum):
    PENDING = "pending"
    BATCHED = "batched"
    SENT = "sent"  # Kakao accepted the call; whether it reached the person is not known yet
    DELIVERED = "delivered"
    SKIPPED = "skipped"  # answered or closed before it was shown: nothing was shown
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Queued:
    outcome: QueueOutcome
    people: int = 0


@dataclass(frozen=True, slots=True)
class ReminderPreview:
    """Who a reminder of a survey would reach now, for 알림 n."""

    survey: Survey
    recipients: int  # registered, should answer, have not
    sample: list[str]  # the first of their names, in name order
    unreachable: int  # roster entries nobody registered as: the bot cannot write to them
    unreachable_sample: list[str]
    manual_sent: int  # manual reminders of this survey so far
    last_manual_at: datetime | None


@dataclass(frozen=True, slots=True)
class ReminderLine:
    """One reminder of a survey and how many of its people are in each OutboxState."""

    kind: ReminderKind
    seq: int
    due_at: datetime
    queued_at: datetime | None
    counts: dict[OutboxState, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ReminderStatus:
    survey: Survey
    reminders: list[ReminderLine]
    failures: list[tuple[str, int]]  # why people failed, most common first


@dataclass(frozen=True, slots=True)
class Delivery:
    """What the skill shows one person when Kakao runs the reminder block for them."""

    show: bool  # False: answer with nothing (answered, closed, or shown already)
    kind: ReminderKind
    survey_id: int
    title: str
    deadline: datetime | None


@dataclass(frozen=True, slots=True)
class Claimed:
    """A batch a sender has recorded an attempt for and may now call Kakao with."""

    batch_id: int
    reminder_id: int
    survey_id: int
    attempt: int
    user_keys: list[str]  # empty: nobody left (they answered meanwhile); the batch is done


@dataclass(frozen=True, slots=True)
class TaskCheck:
    batch_id: int
    task_id: str
    checks: int


@dataclass(frozen=True, slots=True)
class TaskResult:
    """Kakao's task result: how the people of one accepted call fared."""

    complete: bool  # every person counted as a success or a failure
    failed: dict[str, str]  # user key -> why, for the failures Kakao names
    unattributed: int = 0  # failures Kakao counted without naming the person
    status: str = ""
