-- Counters kept by the writes themselves (issue 9): 결과, 설문관리 and 미응답 read a few counter
-- rows instead of every answer, so they cost the same at 1k and 10M answers. Triggers keep them
-- on every write path; tests compare them with a recount. Same tables as PostgreSQL's 0003.

-- question -1 counts the responses themselves; choice -1 counts written (non-empty) texts.
-- SQLite has one writer at a time, so every response adds to slot 0 (PostgreSQL spreads a
-- survey over 8 slots so concurrent submits rarely wait on one row).
CREATE TABLE tallies (
    survey_id   INTEGER NOT NULL REFERENCES surveys (id) ON DELETE CASCADE,
    question    INTEGER NOT NULL,
    choice      INTEGER NOT NULL,
    slot        INTEGER NOT NULL DEFAULT 0,
    n           INTEGER NOT NULL,
    PRIMARY KEY (survey_id, question, choice, slot)
) WITHOUT ROWID;

-- The cells each response adds 1 to: itself, each chosen option, each written text. A trigger
-- reads the cells of one response (the WHERE on response_id reaches every branch, one row each).
CREATE VIEW response_cells AS
SELECT x.id AS response_id, x.survey_id, -1 AS question, -1 AS choice FROM responses AS x
UNION ALL
SELECT x.id, x.survey_id, a.key, o.value
FROM responses AS x, json_each(x.answers) AS a, json_each(
    CASE a.type WHEN 'integer' THEN json_array(a.value)
                WHEN 'array' THEN a.value ELSE '[]' END) AS o
UNION ALL
SELECT x.id, x.survey_id, a.key, -1
FROM responses AS x, json_each(x.answers) AS a WHERE a.type = 'text' AND a.value <> '';

-- Responses are never updated in place (0002): inserts and deletes are every change there is.
-- The delete is counted before it happens, while the row can still be read. "WHERE true" keeps
-- SQLite from reading ON CONFLICT as part of the SELECT.
CREATE TRIGGER responses_count_insert AFTER INSERT ON responses
BEGIN
    INSERT INTO tallies (survey_id, question, choice, slot, n)
    SELECT NEW.survey_id, question, choice, 0, count(*)
    FROM response_cells WHERE response_id = NEW.id
    GROUP BY question, choice
    ON CONFLICT (survey_id, question, choice, slot) DO UPDATE SET n = n + excluded.n;
END;

-- A survey being deleted takes its counters with it: nothing to keep.
CREATE TRIGGER responses_count_delete BEFORE DELETE ON responses
WHEN EXISTS (SELECT 1 FROM surveys WHERE id = OLD.survey_id)
BEGIN
    INSERT INTO tallies (survey_id, question, choice, slot, n)
    SELECT OLD.survey_id, question, choice, 0, -count(*)
    FROM response_cells WHERE response_id = OLD.id
    GROUP BY question, choice
    ON CONFLICT (survey_id, question, choice, slot) DO UPDATE SET n = n + excluded.n;
END;

INSERT INTO tallies (survey_id, question, choice, slot, n)
SELECT survey_id, question, choice, 0, count(*) FROM response_cells WHERE true
GROUP BY survey_id, question, choice;

-- users, roster: how many people there are, the population a response rate is out of.
-- surveys: a version raised by every change to any survey; app workers keep the surveys they read
-- under it (see PostgreSQL's 0003).
CREATE TABLE counters (
    name    TEXT PRIMARY KEY CHECK (name IN ('users', 'roster', 'surveys')),
    n       INTEGER NOT NULL CHECK (n >= 0)
);
INSERT INTO counters VALUES
    ('users', (SELECT count(*) FROM users)), ('roster', (SELECT count(*) FROM roster)),
    ('surveys', 0);
CREATE TRIGGER users_added AFTER INSERT ON users
BEGIN
    UPDATE counters SET n = n + 1 WHERE name = 'users';
END;
CREATE TRIGGER users_removed AFTER DELETE ON users
BEGIN
    UPDATE counters SET n = n - 1 WHERE name = 'users';
END;
CREATE TRIGGER roster_added AFTER INSERT ON roster
BEGIN
    UPDATE counters SET n = n + 1 WHERE name = 'roster';
END;
CREATE TRIGGER roster_removed AFTER DELETE ON roster
BEGIN
    UPDATE counters SET n = n - 1 WHERE name = 'roster';
END;
CREATE TRIGGER surveys_added AFTER INSERT ON surveys
BEGIN
    UPDATE counters SET n = n + 1 WHERE name = 'surveys';
END;
CREATE TRIGGER surveys_updated AFTER UPDATE ON surveys
BEGIN
    UPDATE counters SET n = n + 1 WHERE name = 'surveys';
END;
CREATE TRIGGER surveys_removed AFTER DELETE ON surveys
BEGIN
    UPDATE counters SET n = n + 1 WHERE name = 'surveys';
END;

-- 미응답 pages through people in name order and stops after a page.
CREATE INDEX users_name_id ON users (name, id);
CREATE INDEX roster_order ON roster (name, coalesce(member_no, ''), id);
