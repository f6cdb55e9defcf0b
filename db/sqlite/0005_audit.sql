-- The audit trail (issue 13); see db/postgres/0005_audit.sql for the design. Here the chain's
-- hash is computed by surveybot_audit_hash, a function each connection registers (sqlite.py).

CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY CHECK (seq > 0),
    at          TEXT NOT NULL,
    via         TEXT NOT NULL CHECK (via IN ('chat', 'cli', 'web', 'system')),
    actor_id    INTEGER,
    action      TEXT NOT NULL CHECK (length(action) BETWEEN 1 AND 40),
    target_kind TEXT NOT NULL CHECK (target_kind IN ('survey', 'user', 'roster', 'keys', 'data')),
    target_id   INTEGER,
    detail      TEXT NOT NULL DEFAULT '' CHECK (length(detail) <= 500),
    hash        TEXT NOT NULL CHECK (length(hash) = 64)
);
CREATE INDEX audit_log_at ON audit_log (at);
-- `기록 n`: the records of one survey, newest first.
CREATE INDEX audit_log_target ON audit_log (target_kind, target_id, seq);

CREATE TABLE audit_head (
    one  INTEGER PRIMARY KEY DEFAULT 1 CHECK (one = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (seq, hash) VALUES (0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_head_step BEFORE UPDATE ON audit_head
WHEN NEW.seq <> OLD.seq + 1
BEGIN
    SELECT RAISE(ABORT, 'the audit head only moves one step forward');
END;
CREATE TRIGGER audit_head_kept BEFORE DELETE ON audit_head
BEGIN
    SELECT RAISE(ABORT, 'the audit head only moves one step forward');
END;
