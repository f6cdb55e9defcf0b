-- Encryption at rest (issue 13); the same design as PostgreSQL's 0007: personal data arrives
-- sealed ('k1:<base64url>'), lookups go through HMAC columns, the file never holds a key.
-- SQLite cannot change a column's constraints in place: triggers check the new rules, as in 0002.

CREATE TABLE keyring (
    purpose     TEXT NOT NULL CHECK (purpose IN ('data', 'index')),
    key_id      TEXT NOT NULL CHECK (length(key_id) BETWEEN 1 AND 16),
    check_value TEXT NOT NULL CHECK (length(check_value) = 32),
    added_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (purpose, key_id)
);

ALTER TABLE users ADD COLUMN sealed TEXT;
ALTER TABLE users ADD COLUMN name_idx TEXT;
CREATE INDEX users_name_idx ON users (name_idx);
ALTER TABLE roster ADD COLUMN sealed TEXT;
ALTER TABLE roster ADD COLUMN name_idx TEXT;
ALTER TABLE roster ADD COLUMN person_idx TEXT;
CREATE UNIQUE INDEX roster_person_idx ON roster (person_idx);
CREATE UNIQUE INDEX roster_plain_person ON roster (name, coalesce(member_no, ''))
    WHERE sealed IS NULL;
DROP INDEX roster_name_member_no;
CREATE INDEX roster_name_idx ON roster (name_idx);
ALTER TABLE responses ADD COLUMN answered_sealed TEXT;

-- The lengths of 0002 hold for plaintext rows; a sealed row has blank plaintext and its indexes.
DROP TRIGGER users_lengths_insert;
DROP TRIGGER users_lengths_update;
DROP TRIGGER roster_lengths_insert;
DROP TRIGGER roster_lengths_update;
CREATE TRIGGER users_person_insert BEFORE INSERT ON users
WHEN CASE WHEN NEW.sealed IS NULL
    THEN length(NEW.name) NOT BETWEEN 1 AND 30 OR length(NEW.member_no) > 30
        OR length(NEW.department) > 50
    ELSE NEW.name <> '' OR NEW.member_no IS NOT NULL OR NEW.department IS NOT NULL
        OR NEW.name_idx IS NULL OR length(NEW.name_idx) <> 22
        OR NEW.sealed NOT GLOB '*:*' OR length(NEW.sealed) < 40 END
BEGIN
    SELECT RAISE(ABORT, 'name, number or department too long, or not sealed right');
END;
CREATE TRIGGER users_person_update BEFORE UPDATE OF name, member_no, department, sealed, name_idx
ON users
WHEN CASE WHEN NEW.sealed IS NULL
    THEN length(NEW.name) NOT BETWEEN 1 AND 30 OR length(NEW.member_no) > 30
        OR length(NEW.department) > 50
    ELSE NEW.name <> '' OR NEW.member_no IS NOT NULL OR NEW.department IS NOT NULL
        OR NEW.name_idx IS NULL OR length(NEW.name_idx) <> 22
        OR NEW.sealed NOT GLOB '*:*' OR length(NEW.sealed) < 40 END
BEGIN
    SELECT RAISE(ABORT, 'name, number or department too long, or not sealed right');
END;
CREATE TRIGGER roster_person_insert BEFORE INSERT ON roster
WHEN CASE WHEN NEW.sealed IS NULL
    THEN length(NEW.name) NOT BETWEEN 1 AND 30 OR length(NEW.member_no) > 30
        OR length(NEW.department) > 50
    ELSE NEW.name <> '' OR NEW.member_no IS NOT NULL OR NEW.department IS NOT NULL
        OR length(NEW.name_idx) IS NOT 22 OR length(NEW.person_idx) IS NOT 22
        OR NEW.sealed NOT GLOB '*:*' OR length(NEW.sealed) < 40 END
BEGIN
    SELECT RAISE(ABORT, 'name, number or department too long, or not sealed right');
END;
CREATE TRIGGER roster_person_update
BEFORE UPDATE OF name, member_no, department, sealed, name_idx, person_idx ON roster
WHEN CASE WHEN NEW.sealed IS NULL
    THEN length(NEW.name) NOT BETWEEN 1 AND 30 OR length(NEW.member_no) > 30
        OR length(NEW.department) > 50
    ELSE NEW.name <> '' OR NEW.member_no IS NOT NULL OR NEW.department IS NOT NULL
        OR length(NEW.name_idx) IS NOT 22 OR length(NEW.person_idx) IS NOT 22
        OR NEW.sealed NOT GLOB '*:*' OR length(NEW.sealed) < 40 END
BEGIN
    SELECT RAISE(ABORT, 'name, number or department too long, or not sealed right');
END;

-- A written text answer may be sealed, {"s": "<sealed>"}: the check of 0002 again, with that.
DROP TRIGGER responses_answers_fit_insert;
CREATE TRIGGER responses_answers_fit_insert BEFORE INSERT ON responses
WHEN NOT EXISTS (
    SELECT 1 FROM surveys s
    WHERE s.id = NEW.survey_id
      AND json_valid(NEW.answers)
      AND json_type(NEW.answers) = 'array'
      AND json_array_length(NEW.answers) = json_array_length(s.questions)
      AND NOT EXISTS (
          SELECT 1 FROM json_each(s.questions) AS q
          WHERE coalesce(CASE json_extract(q.value, '$.kind')
              WHEN 'text' THEN
                  (json_type(NEW.answers, '$[' || q.key || ']') = 'text'
                   AND length(json_extract(NEW.answers, '$[' || q.key || ']')) <= 500)
                  OR (json_type(NEW.answers, '$[' || q.key || ']') = 'object'
                      AND (SELECT count(*) FROM json_each(NEW.answers, '$[' || q.key || ']'))
                          = 1
                      AND json_type(NEW.answers, '$[' || q.key || '].s') = 'text'
                      AND length(json_extract(NEW.answers, '$[' || q.key || '].s'))
                          BETWEEN 40 AND 2817
                      AND json_extract(NEW.answers, '$[' || q.key || '].s') GLOB '*:*')
              WHEN 'single' THEN
                  json_type(NEW.answers, '$[' || q.key || ']') = 'integer'
                  AND json_extract(NEW.answers, '$[' || q.key || ']') >= 0
                  AND json_extract(NEW.answers, '$[' || q.key || ']')
                      < json_array_length(q.value, '$.options')
              WHEN 'multi' THEN
                  json_type(NEW.answers, '$[' || q.key || ']') = 'array'
                  AND json_array_length(NEW.answers, '$[' || q.key || ']') BETWEEN 1
                      AND json_array_length(q.value, '$.options')
                  AND NOT EXISTS (
                      SELECT 1 FROM json_each(NEW.answers, '$[' || q.key || ']') AS o
                      WHERE o.type <> 'integer' OR o.value < 0
                         OR o.value >= json_array_length(q.value, '$.options'))
                  AND (SELECT count(DISTINCT o.value)
                       FROM json_each(NEW.answers, '$[' || q.key || ']') AS o)
                      = json_array_length(NEW.answers, '$[' || q.key || ']')
              ELSE 0
          END, 0) = 0)
)
BEGIN
    SELECT RAISE(ABORT, 'answers do not fit the questions of the survey');
END;

-- A sealed text counts as a written text (choice -1), as a non-empty string does.
DROP VIEW response_cells;
CREATE VIEW response_cells AS
SELECT x.id AS response_id, x.survey_id, -1 AS question, -1 AS choice FROM responses AS x
UNION ALL
SELECT x.id, x.survey_id, a.key, o.value
FROM responses AS x, json_each(x.answers) AS a, json_each(
    CASE a.type WHEN 'integer' THEN json_array(a.value)
                WHEN 'array' THEN a.value ELSE '[]' END) AS o
UNION ALL
SELECT x.id, x.survey_id, a.key, -1
FROM responses AS x, json_each(x.answers) AS a
WHERE (a.type = 'text' AND a.value <> '') OR a.type = 'object';
