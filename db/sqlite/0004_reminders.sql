-- Reminders through Kakao's Event API (issue 10): reminders, their batches and their outbox, one
-- row per person. What each state means: PostgreSQL's 0004.

CREATE TABLE reminders (
    id          INTEGER PRIMARY KEY,
    survey_id   INTEGER NOT NULL REFERENCES surveys (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('manual', 'auto', 'notice')),
    -- manual: 1, 2, ... per survey; auto: minutes before the deadline; notice: 0.
    seq         INTEGER NOT NULL,
    due_at      TEXT NOT NULL,
    queued_at   TEXT,
    created_by  INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (survey_id, kind, seq)
);
CREATE INDEX reminders_due ON reminders (due_at) WHERE queued_at IS NULL;

CREATE TABLE reminder_batches (
    id            INTEGER PRIMARY KEY,
    reminder_id   INTEGER NOT NULL REFERENCES reminders (id) ON DELETE CASCADE,
    state         TEXT NOT NULL
        CHECK (state IN ('ready', 'sending', 'unknown', 'accepted', 'done', 'failed')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_at       TEXT NOT NULL,
    claimed_until TEXT,
    claimed_by    TEXT,
    sent_at       TEXT,
    task_id       TEXT,
    checks        INTEGER NOT NULL DEFAULT 0,
    error         TEXT,
    created_at    TEXT NOT NULL
);
CREATE INDEX reminder_batches_next ON reminder_batches (state, next_at);

CREATE TABLE reminder_outbox (
    id          INTEGER PRIMARY KEY,
    reminder_id INTEGER NOT NULL REFERENCES reminders (id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_key    TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'batched', 'sent', 'delivered', 'skipped', 'failed')),
    batch_id    INTEGER REFERENCES reminder_batches (id) ON DELETE SET NULL,
    callback_at TEXT,
    error       TEXT,
    UNIQUE (reminder_id, user_id)
);
CREATE INDEX reminder_outbox_pending ON reminder_outbox (reminder_id, id) WHERE state = 'pending';
CREATE INDEX reminder_outbox_batch ON reminder_outbox (batch_id);
