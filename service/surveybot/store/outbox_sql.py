"""SQL of reminders and their outbox (migration 0004), run by both databases as written.

The only difference: PostgreSQL claims a batch with FOR UPDATE SKIP LOCKED, so notifiers running
side by side take different batches without waiting; SQLite's write lock (BEGIN IMMEDIATE, or a
single statement) already lets one writer in at a time. `locked(sql, dialect)` fills it in.
"""

from __future__ import annotations

import functools

from surveybot.store.queries import OPEN

_SKIP_LOCKED = {"postgres": " FOR UPDATE SKIP LOCKED", "sqlite": ""}
# PostgreSQL: one notifier at a time forms batches (a transaction-scoped advisory lock); SQLite's
# BEGIN IMMEDIATE does the same.
FORM_LOCK = {"postgres": "SELECT pg_advisory_xact_lock(5375727665790004)", "sqlite": None}


@functools.cache
def locked(sql: str, dialect: str) -> str:
    return sql.replace("{locked}", _SKIP_LOCKED[dialect])


# Who a reminder of :survey_id goes to: registered people who should answer it (with a roster,
# those holding an entry, as 미응답 counts them) and have not. Used after "SELECT ... ".
WAITING = """
FROM users u
WHERE ((SELECT n FROM counters WHERE name = 'roster') = 0 OR u.roster_id IS NOT NULL)
  AND NOT EXISTS (
    SELECT 1 FROM took_part x WHERE x.survey_id = :survey_id AND x.user_id = u.id)
"""
# Roster entries no Kakao user has claimed: nobody to send a message to.
UNREACHABLE = """
FROM roster r WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.roster_id = r.id)
"""
PREVIEW_COUNT = f"SELECT count(*) {WAITING}"
# Samples of names: the first people added, put in name order once opened (sealed names cannot
# be sorted here).
PREVIEW_SAMPLE = f"SELECT u.user_key, u.sealed, u.name {WAITING} ORDER BY u.id LIMIT :sample"
UNREACHABLE_COUNT = f"SELECT count(*) {UNREACHABLE}"
UNREACHABLE_SAMPLE = f"""
SELECT r.person_idx, r.sealed, r.name {UNREACHABLE} ORDER BY r.id LIMIT :sample
"""
MANUAL_SO_FAR = """
SELECT count(*), max(created_at) FROM reminders WHERE survey_id = :survey_id AND kind = 'manual'
"""
SURVEY_OPEN = f"SELECT {OPEN} FROM surveys WHERE id = :survey_id"

# A reminder queued now (manual or notice): ON CONFLICT makes the same one twice a no-op.
QUEUE_REMINDER = f"""
INSERT INTO reminders (survey_id, kind, seq, due_at, queued_at, created_by, created_at)
SELECT :survey_id, :kind, :seq, :now, :now, :created_by, :now
WHERE EXISTS (SELECT 1 FROM surveys WHERE id = :survey_id AND {OPEN})
ON CONFLICT (survey_id, kind, seq) DO NOTHING
RETURNING id
"""
# Its people, in one statement: the unique key keeps anyone from being queued twice.
QUEUE_OUTBOX = f"""
INSERT INTO reminder_outbox (reminder_id, user_id, user_key, state)
SELECT :reminder_id, u.id, u.user_key, 'pending' {WAITING}
  AND u.id <> :exclude
  AND EXISTS (SELECT 1 FROM surveys WHERE id = :survey_id AND {OPEN})
ON CONFLICT (reminder_id, user_id) DO NOTHING
"""
SCHEDULE_AUTO = """
INSERT INTO reminders (survey_id, kind, seq, due_at, created_by, created_at)
VALUES (:survey_id, 'auto', :seq, :due_at, :created_by, :now)
ON CONFLICT (survey_id, kind, seq) DO NOTHING
"""
UNSCHEDULE_AUTO = """
DELETE FROM reminders WHERE survey_id = :survey_id AND kind = 'auto' AND queued_at IS NULL
"""
SCHEDULED_AUTO = """
SELECT due_at FROM reminders WHERE survey_id = :survey_id AND kind = 'auto' AND queued_at IS NULL
ORDER BY due_at
"""
SURVEY_DEADLINE = "SELECT deadline_at FROM surveys WHERE id = :survey_id"

# --- 알림현황 ----------------------------------------------------------------------------------
STATUS = """
SELECT r.kind, r.seq, r.due_at, r.queued_at, o.state, count(o.id)
FROM reminders r LEFT JOIN reminder_outbox o ON o.reminder_id = r.id
WHERE r.survey_id = :survey_id
GROUP BY r.id, r.kind, r.seq, r.due_at, r.queued_at, o.state
ORDER BY r.due_at, r.id
"""
FAILURES = """
SELECT o.error, count(*) FROM reminder_outbox o JOIN reminders r ON r.id = o.reminder_id
WHERE r.survey_id = :survey_id AND o.state = 'failed'
GROUP BY o.error ORDER BY count(*) DESC, o.error LIMIT 3
"""

# --- the skill, when Kakao runs the reminder block ------------------------------------------
DELIVERY = f"""
SELECT o.id, r.kind, s.id, s.title, s.deadline_at,
    CASE WHEN {OPEN} AND NOT EXISTS (
        SELECT 1 FROM took_part x WHERE x.survey_id = s.id AND x.user_id = o.user_id
    ) THEN 1 ELSE 0 END
FROM reminder_outbox o
JOIN reminders r ON r.id = o.reminder_id
JOIN surveys s ON s.id = r.survey_id
WHERE o.reminder_id = :reminder_id
  AND o.user_id = (SELECT id FROM users WHERE user_key = :user_key)
"""
# Only the first call for a person sets callback_at, and only that one shows the text.
MARK_DELIVERED = """
UPDATE reminder_outbox SET callback_at = :now, state = :state
WHERE id = :id AND callback_at IS NULL
"""

# --- the notifier ---------------------------------------------------------------------------
DUE = """
SELECT id, survey_id FROM reminders WHERE queued_at IS NULL AND due_at <= :now
ORDER BY due_at, id LIMIT 20
"""
MARK_QUEUED = "UPDATE reminders SET queued_at = :now WHERE id = :id AND queued_at IS NULL"
EXPIRE = """
UPDATE reminder_batches SET state = 'unknown', next_at = :decide_at, claimed_until = NULL,
    error = 'the sender stopped before Kakao''s answer was recorded'
WHERE state = 'sending' AND claimed_until <= :now
"""
OLDEST_PENDING = """
SELECT reminder_id FROM reminder_outbox WHERE state = 'pending' ORDER BY reminder_id, id LIMIT 1
"""
NEW_BATCH = """
INSERT INTO reminder_batches (reminder_id, state, next_at, created_at)
VALUES (:reminder_id, 'ready', :now, :now) RETURNING id
"""
FILL_BATCH = """
UPDATE reminder_outbox SET state = 'batched', batch_id = :batch_id
WHERE id IN (
    SELECT id FROM reminder_outbox WHERE reminder_id = :reminder_id AND state = 'pending'
    ORDER BY id LIMIT :size)
"""
CLAIM = """
UPDATE reminder_batches SET state = 'sending', attempts = attempts + 1, claimed_by = :worker,
    claimed_until = :until, sent_at = :now
WHERE id = (
    SELECT id FROM reminder_batches WHERE state = 'ready' AND next_at <= :now
    ORDER BY next_at, id LIMIT 1{locked})
RETURNING id, reminder_id, attempts
"""
REMINDER_SURVEY = "SELECT survey_id FROM reminders WHERE id = :reminder_id"
# Nobody who answered meanwhile, or whose survey closed, is sent the reminder (nor charged for).
SKIP_CLOSED = f"""
UPDATE reminder_outbox SET state = 'skipped', error = 'the survey closed before sending'
WHERE batch_id = :batch_id AND state = 'batched' AND NOT EXISTS (
    SELECT 1 FROM surveys WHERE id = :survey_id AND {OPEN})
"""
SKIP_ANSWERED = """
UPDATE reminder_outbox SET state = 'skipped', error = 'answered before sending'
WHERE batch_id = :batch_id AND state = 'batched' AND EXISTS (
    SELECT 1 FROM took_part x
    WHERE x.survey_id = :survey_id AND x.user_id = reminder_outbox.user_id)
"""
BATCH_KEYS = """
SELECT user_key FROM reminder_outbox WHERE batch_id = :batch_id AND state = 'batched' ORDER BY id
"""
BATCH_EMPTY = """
UPDATE reminder_batches SET state = 'done', claimed_until = NULL, error = 'nobody left to remind'
WHERE id = :batch_id
"""
ACCEPTED = """
UPDATE reminder_batches SET state = 'accepted', task_id = :task_id, next_at = :check_at,
    claimed_until = NULL, error = NULL
WHERE id = :batch_id AND attempts = :attempt AND state IN ('sending', 'unknown')
"""
PEOPLE_SENT = """
UPDATE reminder_outbox SET state = 'sent' WHERE batch_id = :batch_id AND state = 'batched'
"""
RETRY = """
UPDATE reminder_batches SET state = 'ready', next_at = :retry_at, claimed_until = NULL,
    error = :error
WHERE id = :batch_id AND attempts = :attempt AND state = 'sending'
"""
UNKNOWN = """
UPDATE reminder_batches SET state = 'unknown', next_at = :decide_at, claimed_until = NULL,
    error = :error
WHERE id = :batch_id AND attempts = :attempt AND state = 'sending'
"""
FAILED = """
UPDATE reminder_batches SET state = 'failed', claimed_until = NULL, error = :error
WHERE id = :batch_id AND attempts = :attempt AND state IN ('sending', 'unknown')
"""
PEOPLE_FAILED = """
UPDATE reminder_outbox SET state = 'failed', error = :error
WHERE batch_id = :batch_id AND state IN ('batched', 'sent')
"""
UNKNOWN_DUE = """
SELECT id, attempts FROM reminder_batches WHERE state = 'unknown' AND next_at <= :now
ORDER BY next_at, id LIMIT 1{locked}
"""
SEEN = "SELECT count(*) FROM reminder_outbox WHERE batch_id = :batch_id AND callback_at IS NOT NULL"
UNKNOWN_ACCEPTED = """
UPDATE reminder_batches SET state = 'done',
    error = 'Kakao''s answer was lost; deliveries show it accepted the call'
WHERE id = :batch_id AND state = 'unknown'
"""
UNKNOWN_RETRY = """
UPDATE reminder_batches SET state = 'ready', next_at = :now WHERE id = :batch_id AND state = 'unknown'
"""
CLAIM_CHECK = """
UPDATE reminder_batches SET next_at = :until, checks = checks + 1
WHERE id = (
    SELECT id FROM reminder_batches WHERE state = 'accepted' AND next_at <= :now
    ORDER BY next_at, id LIMIT 1{locked})
RETURNING id, task_id, checks
"""
PERSON_FAILED = """
UPDATE reminder_outbox SET state = 'failed', error = :error
WHERE batch_id = :batch_id AND user_key = :user_key
"""
UNSETTLED = """
SELECT count(*) FROM reminder_outbox WHERE batch_id = :batch_id AND state IN ('batched', 'sent')
"""
PEOPLE_DELIVERED = """
UPDATE reminder_outbox SET state = 'delivered'
WHERE batch_id = :batch_id AND state IN ('batched', 'sent')
"""
TASK_DONE = """
UPDATE reminder_batches SET state = 'done', error = :note WHERE id = :batch_id AND state = 'accepted'
"""
TASK_LATER = """
UPDATE reminder_batches SET next_at = :check_at WHERE id = :batch_id AND state = 'accepted'
"""
ANY_PENDING = "SELECT EXISTS (SELECT 1 FROM reminder_outbox WHERE state = 'pending')"
NEXT_BATCH_AT = """
SELECT min(CASE WHEN state = 'sending' THEN claimed_until ELSE next_at END)
FROM reminder_batches WHERE state IN ('ready', 'sending', 'unknown', 'accepted')
"""
