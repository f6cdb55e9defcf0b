-- The audit trail (issue 13): who published, closed, reopened, deleted, exported, changed roles,
-- imported the roster or sent reminders, when, and on what. Each change is recorded in the
-- transaction that makes it, so an action is never done without its row, and a refused one leaves
-- none.
--
-- Append-only: triggers refuse UPDATE, DELETE and TRUNCATE for every role, the app's included.
-- Each row carries a hash chained from the row before (surveybot_audit_hash), and audit_head
-- holds the last sequence number and hash: an edited, removed or inserted row breaks the chain,
-- which `surveybot audit --verify` reports. Rows hold ids, never names: the log outlives people
-- and cannot be purged, so it keeps no personal data of its own.

CREATE TABLE audit_log (
    seq         bigint PRIMARY KEY CHECK (seq > 0),
    at          timestamptz NOT NULL,
    via         text NOT NULL CHECK (via IN ('chat', 'cli', 'web', 'system')),
    actor_id    bigint,  -- users.id of the admin; no foreign key: the log outlives its people
    action      text NOT NULL CHECK (length(action) BETWEEN 1 AND 40),
    target_kind text NOT NULL CHECK (target_kind IN ('survey', 'user', 'roster', 'keys', 'data')),
    target_id   bigint,
    detail      text NOT NULL DEFAULT '' CHECK (length(detail) <= 500),
    hash        text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$')
);
CREATE INDEX audit_log_at ON audit_log (at);
-- `기록 n`: the records of one survey, newest first.
CREATE INDEX audit_log_target ON audit_log (target_kind, target_id, seq);

-- The chain's end: one row, moved forward by each append in the same statement, which also
-- serialises appends (the row lock) so two admins acting at once get consecutive numbers.
CREATE TABLE audit_head (
    one  boolean PRIMARY KEY DEFAULT true CHECK (one),
    seq  bigint NOT NULL,
    hash text NOT NULL
);
INSERT INTO audit_head (seq, hash) VALUES (0, repeat('0', 64));

-- sha256 over the previous hash and each field as "<length>:<text>" (unambiguous whatever the
-- text holds). surveybot/audit.py computes the same in Python to verify the chain.
CREATE FUNCTION surveybot_audit_hash(prev text, fields text[]) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT encode(sha256(convert_to(prev || coalesce(
        (SELECT string_agg(length(f)::text || ':' || f, '' ORDER BY i)
           FROM unnest(fields) WITH ORDINALITY AS t (f, i)), ''), 'UTF8')), 'hex')
$$;

CREATE FUNCTION surveybot_audit_frozen() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION surveybot_audit_frozen();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION surveybot_audit_frozen();

-- The head only moves forward, one step at a time, and never goes away.
CREATE FUNCTION surveybot_audit_head_step() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.seq <> OLD.seq + 1 THEN
        RAISE EXCEPTION 'the audit head only moves one step forward'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER audit_head_step BEFORE UPDATE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION surveybot_audit_head_step();
CREATE TRIGGER audit_head_kept BEFORE DELETE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION surveybot_audit_frozen();
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION surveybot_audit_frozen();
