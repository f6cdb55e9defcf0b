-- Reminders through Kakao's Event API (issue 10). A reminder is one sending to the people of a
-- survey who have not answered it: by hand (알림확인), some time before the deadline (auto) or
-- when the survey is published (notice). Its outbox holds one row per person, written in the
-- transaction that made the reminder; UNIQUE (reminder_id, user_id) makes "nobody twice for the
-- same reminder" a fact of the database. The notifier (`surveybot notifier`) sends the outbox in
-- batches of at most 100 people, one Event API call each.

CREATE TABLE reminders (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    survey_id   integer NOT NULL REFERENCES surveys (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('manual', 'auto', 'notice')),
    -- manual: 1, 2, ... per survey. The preview (알림 n) names the next number, so two admins
    -- confirming the same preview, or one tapping twice, make one reminder. auto: minutes before
    -- the deadline (one reminder per offset, ever). notice: 0.
    seq         integer NOT NULL,
    due_at      timestamptz NOT NULL,
    -- Set once, in the transaction that wrote its outbox rows.
    queued_at   timestamptz,
    created_by  bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL,
    UNIQUE (survey_id, kind, seq)
);
CREATE INDEX reminders_due ON reminders (due_at) WHERE queued_at IS NULL;

-- One Event API call for up to 100 people of one reminder, and what became of it.
--   ready     waiting for its (next) try at next_at
--   sending   a sender recorded the attempt before calling Kakao; claimed_until is its lease
--   unknown   the call may have reached Kakao but no taskId was recorded (answer lost, sender
--             died): decided at next_at from the deliveries seen, never blindly resent
--   accepted  Kakao answered a taskId; the task result is read at next_at
--   done      per-person outcome recorded (or as far as Kakao tells it)
--   failed    given up; error says why
CREATE TABLE reminder_batches (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reminder_id   bigint NOT NULL REFERENCES reminders (id) ON DELETE CASCADE,
    state         text NOT NULL
        CHECK (state IN ('ready', 'sending', 'unknown', 'accepted', 'done', 'failed')),
    attempts      integer NOT NULL DEFAULT 0,
    next_at       timestamptz NOT NULL,
    claimed_until timestamptz,
    claimed_by    text,
    sent_at       timestamptz,
    task_id       text,
    checks        integer NOT NULL DEFAULT 0,
    error         text,
    created_at    timestamptz NOT NULL
);
CREATE INDEX reminder_batches_next ON reminder_batches (state, next_at);

-- One person of one reminder.
--   pending -> batched (in a batch) -> sent (Kakao accepted the call) -> delivered | failed;
--   skipped: not sent, or sent and shown nothing, because they answered or the survey closed.
-- callback_at: when Kakao ran the reminder block and our skill answered for this person. The
-- skill sets it at most once and shows the text only when it set it, so even a repeated call
-- (see the notifier's rule for lost answers) shows a person each reminder at most once.
CREATE TABLE reminder_outbox (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reminder_id bigint NOT NULL REFERENCES reminders (id) ON DELETE CASCADE,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_key    text NOT NULL,
    state       text NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'batched', 'sent', 'delivered', 'skipped', 'failed')),
    batch_id    bigint REFERENCES reminder_batches (id) ON DELETE SET NULL,
    callback_at timestamptz,
    error       text,
    UNIQUE (reminder_id, user_id)
);
CREATE INDEX reminder_outbox_pending ON reminder_outbox (reminder_id, id) WHERE state = 'pending';
CREATE INDEX reminder_outbox_batch ON reminder_outbox (batch_id);
