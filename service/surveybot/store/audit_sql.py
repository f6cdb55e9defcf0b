"""The audit trail on SQL (migration 0005), mixed into SqlStore.

`append` runs inside the transaction of the change it records: the action and its row commit
together or not at all. On PostgreSQL it is one statement: moving audit_head forward locks its
row, so appends from several nodes queue there and each sees the head the previous one left.
SQLite's write lock does the same for its two statements.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from surveybot.audit import (
    Action,
    Actor,
    AuditRecord,
    Event,
    Target,
    Verification,
    Via,
    clip,
    time_text,
    verify,
)
from surveybot.store.dialect import Dialect, Params, Tx
from surveybot.store.sealing import Sealing

_HASHED = (
    "ARRAY[(seq + 1)::text, :at_text, :via, :actor_text, :action, :target_kind,"
    " :target_text, :detail]"
)
PG_APPEND = f"""
WITH head AS (
    UPDATE audit_head SET seq = seq + 1, hash = surveybot_audit_hash(hash, {_HASHED})
    RETURNING seq, hash
)
INSERT INTO audit_log (seq, at, via, actor_id, action, target_kind, target_id, detail, hash)
SELECT seq, :at, :via, :actor_id, :action, :target_kind, :target_id, :detail, hash FROM head
"""
SQLITE_HEAD_STEP = """
UPDATE audit_head
   SET seq = seq + 1,
       hash = surveybot_audit_hash(hash, seq + 1, :at_text, :via, :actor_text, :action,
                                   :target_kind, :target_text, :detail)
RETURNING seq, hash
"""
SQLITE_INSERT = """
INSERT INTO audit_log (seq, at, via, actor_id, action, target_kind, target_id, detail, hash)
VALUES (:seq, :at, :via, :actor_id, :action, :target_kind, :target_id, :detail, :hash)
"""
_COLUMNS = """
SELECT a.seq, a.at, a.via, a.actor_id, a.action, a.target_kind, a.target_id, a.detail, a.hash,
       u.user_key, u.sealed, u.name, s.title, t.user_key, t.sealed, t.name
  FROM audit_log a
  LEFT JOIN users u ON u.id = a.actor_id
  LEFT JOIN surveys s ON a.target_kind = 'survey' AND s.id = a.target_id
  LEFT JOIN users t ON a.target_kind = 'user' AND t.id = a.target_id
"""
PAGE = _COLUMNS + " WHERE a.seq < :before ORDER BY a.seq DESC LIMIT :limit"
SURVEY_PAGE = (
    _COLUMNS + " WHERE a.seq < :before AND a.target_kind = 'survey' AND a.target_id = :survey_id"
    " ORDER BY a.seq DESC LIMIT :limit"
)
SINCE = _COLUMNS + " WHERE a.at >= :since ORDER BY a.seq"
CHAIN = (
    "SELECT seq, at, via, actor_id, action, target_kind, target_id, detail, hash"
    " FROM audit_log ORDER BY seq"
)
HEAD = "SELECT seq, hash FROM audit_head"
NO_BEFORE = 2**62  # "from the newest": larger than any sequence number


def append(d: Dialect, tx: Tx, actor: Actor, event: Event, now: datetime) -> None:
    """Record `event` by `actor` in the caller's transaction."""
    params: Params = {
        "at": d.time(now),
        "at_text": time_text(now),
        "via": actor.via.value,
        "actor_id": actor.user_id,
        "actor_text": "" if actor.user_id is None else str(actor.user_id),
        "action": event.action.value,
        "target_kind": event.target.value,
        "target_id": event.target_id,
        "target_text": "" if event.target_id is None else str(event.target_id),
        "detail": clip(event.detail),
    }
    if d.name == "postgres":
        tx.run(PG_APPEND, params)
        return
    seq, hashed = tx.one(SQLITE_HEAD_STEP, params)
    tx.run(SQLITE_INSERT, {**params, "seq": seq, "hash": hashed})


class AuditStore:
    """Reading and writing the trail; SqlStore provides `_d` and `_seal`."""

    _d: Dialect
    _seal: Sealing

    def record_audit(self, actor: Actor, event: Event, now: datetime) -> None:
        """Record an action that changes nothing else (an export link issued or used)."""
        # PostgreSQL's append is one statement, atomic alone: one round trip, no BEGIN/COMMIT.
        single = self._d.name == "postgres"
        with self._d.statement() if single else self._d.transaction(write=True) as tx:
            append(self._d, tx, actor, event, now)

    def audit_page(
        self, before: int | None = None, limit: int = 20, survey_id: int | None = None
    ) -> list[AuditRecord]:
        """The newest records older than sequence number `before` (of one survey), newest first."""
        params = {
            "before": NO_BEFORE if before is None else before,
            "limit": limit,
            "survey_id": survey_id,
        }
        sql = PAGE if survey_id is None else SURVEY_PAGE
        with self._d.statement() as tx:
            return [self._record(row) for row in tx.all(sql, params)]

    def audit_since(self, since: datetime) -> list[AuditRecord]:
        """Every record from `since` on, oldest first."""
        with self._d.statement() as tx:
            rows = tx.all(SINCE, {"since": self._d.time(since)})
        return [self._record(row) for row in rows]

    def verify_audit(self) -> Verification:
        """Recompute the hash chain over the whole trail (one snapshot) against its head."""
        with self._d.transaction(write=False) as tx:
            head_seq, head_hash = tx.one(HEAD)
            rows = tx.all(CHAIN)
        return verify((self._record(row) for row in rows), int(head_seq), str(head_hash))

    def _record(self, row: Sequence[Any]) -> AuditRecord:
        at = self._d.read_time(row[1])
        assert at is not None
        actor = Actor(None if row[3] is None else int(row[3]), Via(row[2]))
        target_id = None if row[6] is None else int(row[6])
        event = Event(Action(row[4]), Target(row[5]), target_id, str(row[7]))
        actor_name = target_name = None
        if len(row) > 9:  # _COLUMNS: the actor's and the target's names, opened here
            if row[9] is not None:
                actor_name = self._seal.open_user(row[9], row[10], (row[11], None, None))[0]
            target_name = row[12]
            if target_name is None and row[13] is not None:
                target_name = self._seal.open_user(row[13], row[14], (row[15], None, None))[0]
        return AuditRecord(int(row[0]), at, actor, event, str(row[8]), actor_name, target_name)
