-- Answers people can trust: the database itself refuses what cannot be right, and exports find
-- their rows through an index. (Anonymity needs no new table here: participants is a WITHOUT ROWID
-- table, stored in key order, so no row of it carries the order in which people took part.)

-- One answer per question, each fitting its question: an option index in range (single),
-- distinct indexes in range (multi, at least one), a text of at most 500 characters (free text).
-- json_type tells integers from reals and from true/false, so a forged `true` is refused.
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
                  json_type(NEW.answers, '$[' || q.key || ']') = 'text'
                  AND length(json_extract(NEW.answers, '$[' || q.key || ']')) <= 500
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

-- Answers are never changed in place: the store replaces a response by deleting and inserting it,
-- so the check above sees every answer written (SQLite triggers cannot share one WHEN clause).
CREATE TRIGGER responses_answers_not_updated BEFORE UPDATE OF answers, survey_id ON responses
BEGIN
    SELECT RAISE(ABORT, 'answers are replaced, never updated in place');
END;

-- A claimed roster entry stays with its Kakao user: only releasing it (NULL) may change it, which
-- an admin does with 등록해제. Moving straight to another entry would move past answers with it.
CREATE TRIGGER users_keep_claim BEFORE UPDATE OF roster_id ON users
WHEN OLD.roster_id IS NOT NULL AND NEW.roster_id IS NOT NULL AND NEW.roster_id <> OLD.roster_id
BEGIN
    SELECT RAISE(ABORT, 'this user has claimed a roster entry; release it first');
END;

-- Lengths the bot enforces, enforced again by the store (SQLite cannot add CHECK constraints to
-- an existing table; triggers check every new write, as NOT VALID constraints do on PostgreSQL).
CREATE TRIGGER users_lengths_insert BEFORE INSERT ON users
WHEN length(NEW.name) NOT BETWEEN 1 AND 30 OR length(NEW.member_no) > 30
  OR length(NEW.department) > 50
BEGIN
    SELECT RAISE(ABORT, 'name, number or department too long');
END;
CREATE TRIGGER users_lengths_update BEFORE UPDATE OF name, member_no, department ON users
WHEN length(NEW.name) NOT BETWEEN 1 AND 30 OR length(NEW.member_no) > 30
  OR length(NEW.department) > 50
BEGIN
    SELECT RAISE(ABORT, 'name, number or department too long');
END;
CREATE TRIGGER roster_lengths_insert BEFORE INSERT ON roster
WHEN length(NEW.name) NOT BETWEEN 1 AND 30 OR length(NEW.member_no) > 30
  OR length(NEW.department) > 50
BEGIN
    SELECT RAISE(ABORT, 'name, number or department too long');
END;
CREATE TRIGGER roster_lengths_update BEFORE UPDATE OF name, member_no, department ON roster
WHEN length(NEW.name) NOT BETWEEN 1 AND 30 OR length(NEW.member_no) > 30
  OR length(NEW.department) > 50
BEGIN
    SELECT RAISE(ABORT, 'name, number or department too long');
END;

-- Who took part in any survey, for 설문목록 and 미응답 (PostgreSQL's view has a second source).
CREATE VIEW took_part AS SELECT survey_id, user_id FROM participants;

-- Named responses remember the name and number they were given under: renaming later (allowed
-- without a roster) does not relabel answers already given.
ALTER TABLE responses ADD COLUMN answered_as TEXT;
ALTER TABLE responses ADD COLUMN answered_no TEXT;

-- Exports stream named responses in submission order; the index gives the first row at once.
CREATE INDEX responses_export ON responses (survey_id, submitted_at, id);
-- The bot-wide limit on wrong admin codes counts the last hour of failures.
CREATE INDEX admin_code_failures_at ON admin_code_failures (at);
