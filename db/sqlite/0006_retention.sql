-- Retention (issue 13); see db/postgres/0006_retention.sql.
ALTER TABLE surveys ADD COLUMN purged_at TEXT;
ALTER TABLE surveys ADD COLUMN summary_kept INTEGER NOT NULL DEFAULT 0;
-- SQLite cannot add a CHECK to a table: a trigger keeps a purged survey closed.
CREATE TRIGGER surveys_purged_stay_closed BEFORE UPDATE OF closed_at ON surveys
WHEN OLD.purged_at IS NOT NULL AND NEW.closed_at IS NULL
BEGIN
    SELECT RAISE(ABORT, 'a purged survey stays closed');
END;
