"""The audit trail's model: who did what to which target, and the hash chain that shows tampering.

Every admin action is appended in the transaction that makes it (store/audit_sql.py). A row's
hash covers the previous row's hash and its own fields, each written as "<length>:<text>" so no
text can pass for two fields; PostgreSQL computes it in SQL (migration 0005), SQLite through
`chain_hash` registered on each connection, and `verify` recomputes it here.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

GENESIS = "0" * 64  # the hash before the first row
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
DETAIL_MAX = 500  # the column's limit (migration 0005)


class Via(enum.StrEnum):
    CHAT = "chat"  # an admin in KakaoTalk
    CLI = "cli"  # an operator on the server (`surveybot role`, `surveybot roster import`, ...)
    WEB = "web"  # a download link opened in a browser
    SYSTEM = "system"  # the bot itself, or code that named no actor


class Action(enum.StrEnum):
    PUBLISH = "survey.publish"
    CLOSE = "survey.close"
    REOPEN = "survey.reopen"
    DELETE = "survey.delete"
    EXPORT_ISSUE = "export.issue"
    EXPORT_DOWNLOAD = "export.download"
    GRANT = "role.grant"
    REVOKE = "role.revoke"
    ROSTER_IMPORT = "roster.import"
    ROSTER_RELEASE = "roster.release"
    REMIND = "reminder.send"
    REMIND_AUTO = "reminder.auto"
    KEYS_ROTATE = "keys.rotate"
    PURGE = "responses.purge"


class Target(enum.StrEnum):
    SURVEY = "survey"
    USER = "user"
    ROSTER = "roster"
    KEYS = "keys"
    DATA = "data"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a registered person (user_id) through a channel, or the system."""

    user_id: int | None
    via: Via


SYSTEM = Actor(None, Via.SYSTEM)
CLI = Actor(None, Via.CLI)


def by(user_id: int, via: Via = Via.CHAT) -> Actor:
    return Actor(user_id, via)


@dataclass(frozen=True, slots=True)
class Event:
    """What was done to which target; `detail` is a short fact (counts, a role), never personal."""

    action: Action
    target: Target
    target_id: int | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    seq: int
    at: datetime
    actor: Actor
    event: Event
    hash: str
    actor_name: str | None = None  # the actor's current name, joined when read
    target_label: str | None = None  # the survey's title or the person's name, if still there


@dataclass(frozen=True, slots=True)
class Verification:
    rows: int
    head_seq: int
    head_hash: str
    broken_at: int | None  # the first row whose hash or number does not follow; None: intact
    reason: str = ""

    @property
    def intact(self) -> bool:
        return self.broken_at is None


def time_text(at: datetime) -> str:
    """The time as hashed: UTC with microseconds, fixed width."""
    if at.tzinfo is None:
        raise ValueError("audit times must be aware")
    return at.astimezone(UTC).strftime(TIME_FORMAT)


def fields(seq: int, at: datetime, actor: Actor, event: Event) -> list[str]:
    """The hashed fields of a row, as text, in the order migration 0005 hashes them."""
    return [
        str(seq),
        time_text(at),
        actor.via.value,
        "" if actor.user_id is None else str(actor.user_id),
        event.action.value,
        event.target.value,
        "" if event.target_id is None else str(event.target_id),
        event.detail,
    ]


def chain_hash(prev: str, *values: object) -> str:
    """sha256 hex of `prev` then each value as "<length>:<text>"."""
    texts = (str(v) for v in values)
    data = prev + "".join(f"{len(t)}:{t}" for t in texts)
    return hashlib.sha256(data.encode()).hexdigest()


def verify(records: Iterable[AuditRecord], head_seq: int, head_hash: str) -> Verification:
    """Recompute the chain over the records in order and compare it with the head."""
    prev, seq, count = GENESIS, 0, 0
    for record in records:
        count += 1
        if record.seq != seq + 1:
            return Verification(count, head_seq, head_hash, record.seq, "a row is missing")
        expected = chain_hash(prev, *fields(record.seq, record.at, record.actor, record.event))
        if record.hash != expected:
            return Verification(count, head_seq, head_hash, record.seq, "a row was changed")
        prev, seq = record.hash, record.seq
    if (seq, prev) != (head_seq, head_hash):
        return Verification(count, head_seq, head_hash, seq + 1, "rows at the end are missing")
    return Verification(count, head_seq, head_hash, None)


def clip(detail: str) -> str:
    """A detail that fits its column."""
    return detail if len(detail) <= DETAIL_MAX else detail[: DETAIL_MAX - 1] + "…"
