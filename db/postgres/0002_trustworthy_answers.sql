-- Answers people can trust: the database itself refuses what cannot be right, anonymous answers
-- cannot be re-linked from row metadata, exports find their rows through an index.

-- One answer fits one question: an option index in range (single), distinct indexes in range
-- (multi, at least one), a text of at most 500 characters (free text; '' = skipped).
CREATE FUNCTION surveybot_answer_fits(answer jsonb, question jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
SELECT CASE question ->> 'kind'
    WHEN 'text' THEN
        jsonb_typeof(answer) = 'string' AND char_length(answer #>> '{}') <= 500
    WHEN 'single' THEN
        jsonb_typeof(answer) = 'number'
        AND (answer #>> '{}') ~ '^[0-9]+$'
        AND (answer #>> '{}')::numeric < jsonb_array_length(question -> 'options')
    WHEN 'multi' THEN
        jsonb_typeof(answer) = 'array'
        AND jsonb_array_length(answer) BETWEEN 1 AND jsonb_array_length(question -> 'options')
        AND NOT EXISTS (
            SELECT 1 FROM jsonb_array_elements(answer) AS o(v)
            WHERE jsonb_typeof(o.v) <> 'number'
               OR NOT (o.v #>> '{}') ~ '^[0-9]+$'
               OR (o.v #>> '{}')::numeric >= jsonb_array_length(question -> 'options'))
        AND (SELECT count(DISTINCT o.v) FROM jsonb_array_elements(answer) AS o(v))
            = jsonb_array_length(answer)
    ELSE false
END
$$;

-- A whole response fits its survey: one answer per question, each fitting.
CREATE FUNCTION surveybot_answers_fit(answers jsonb, questions jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
SELECT jsonb_typeof(answers) = 'array'
    AND jsonb_typeof(questions) = 'array'
    AND jsonb_array_length(answers) = jsonb_array_length(questions)
    AND NOT EXISTS (
        SELECT 1 FROM jsonb_array_elements(questions) WITH ORDINALITY AS q(def, i)
        WHERE NOT coalesce(surveybot_answer_fits(answers -> (q.i::int - 1), q.def), false))
$$;

CREATE FUNCTION surveybot_check_answers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT coalesce(surveybot_answers_fit(
        NEW.answers, (SELECT questions FROM surveys WHERE id = NEW.survey_id)), false) THEN
        RAISE EXCEPTION 'answers do not fit the questions of survey %', NEW.survey_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER responses_answers_fit BEFORE INSERT OR UPDATE OF answers, survey_id ON responses
FOR EACH ROW EXECUTE FUNCTION surveybot_check_answers();

-- A claimed roster entry stays with its Kakao user: only releasing it (NULL) may change it, which
-- an admin does with 등록해제. Moving straight to another entry would move past answers with it.
CREATE FUNCTION surveybot_keep_claim() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.roster_id IS NOT NULL AND NEW.roster_id IS NOT NULL
       AND NEW.roster_id <> OLD.roster_id THEN
        RAISE EXCEPTION 'user % has claimed roster entry %; release it first', OLD.id, OLD.roster_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER users_keep_claim BEFORE UPDATE OF roster_id ON users
FOR EACH ROW EXECUTE FUNCTION surveybot_keep_claim();

-- Lengths the bot enforces, enforced again by the store. NOT VALID: rows written before this
-- migration are not re-checked (an old roster import had no limits), every new write is.
ALTER TABLE users ADD CONSTRAINT users_name_length
    CHECK (char_length(name) BETWEEN 1 AND 30) NOT VALID;
ALTER TABLE users ADD CONSTRAINT users_member_no_length
    CHECK (char_length(member_no) <= 30) NOT VALID;
ALTER TABLE users ADD CONSTRAINT users_department_length
    CHECK (char_length(department) <= 50) NOT VALID;
ALTER TABLE roster ADD CONSTRAINT roster_name_length
    CHECK (char_length(name) BETWEEN 1 AND 30) NOT VALID;
ALTER TABLE roster ADD CONSTRAINT roster_member_no_length
    CHECK (char_length(member_no) <= 30) NOT VALID;
ALTER TABLE roster ADD CONSTRAINT roster_department_length
    CHECK (char_length(department) <= 50) NOT VALID;

-- Named responses remember the name and number they were given under: renaming later (allowed
-- without a roster) does not relabel answers already given.
ALTER TABLE responses ADD COLUMN answered_as text, ADD COLUMN answered_no text;

-- Anonymous surveys: who took part is one row per survey holding the sorted set of user ids, not
-- a row per person. A row per person carries its own insertion order (xmin, ctid), which would
-- line up with the order of the anonymous responses and re-link them. The set has no order.
CREATE TABLE anonymous_participation (
    survey_id   integer PRIMARY KEY REFERENCES surveys (id) ON DELETE CASCADE,
    user_ids    bigint[] NOT NULL DEFAULT '{}'
);
INSERT INTO anonymous_participation (survey_id, user_ids)
SELECT p.survey_id, array_agg(p.user_id ORDER BY p.user_id)
FROM participants p JOIN surveys s ON s.id = p.survey_id
WHERE s.anonymous
GROUP BY p.survey_id;
DELETE FROM participants p USING surveys s WHERE s.id = p.survey_id AND s.anonymous;
-- Who took part in any survey, for 설문목록 and 미응답.
CREATE VIEW took_part AS
SELECT survey_id, user_id FROM participants
UNION ALL
SELECT a.survey_id, t.user_id FROM anonymous_participation a CROSS JOIN LATERAL unnest(a.user_ids) AS t(user_id);

-- Exports stream named responses in submission order; the index gives the first row at once.
CREATE INDEX responses_export ON responses (survey_id, submitted_at, id);
-- The bot-wide limit on wrong admin codes counts the last hour of failures.
CREATE INDEX admin_code_failures_at ON admin_code_failures (at);
