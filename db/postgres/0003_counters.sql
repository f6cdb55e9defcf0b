-- Counters kept by the writes themselves (issue 9): 결과, 설문관리 and 미응답 read a few counter
-- rows instead of every answer, so they cost the same at 1k and 10M answers. Triggers keep them,
-- so every write path (the bot's one-statement submit, a re-answer, a withdrawal, a deleted
-- survey, SQL typed by an operator) keeps them right; tests compare them with a recount.

-- One row per (survey, question, choice) and slot. question -1 counts the responses themselves;
-- choice -1 counts the written (non-empty) texts of a text question. A response always adds to
-- the same one of 8 slots (a hash of its respondent), so concurrent submits to one survey wait on
-- one of 8 rows instead of one; a read sums the slots.
CREATE TABLE tallies (
    survey_id   integer NOT NULL REFERENCES surveys (id) ON DELETE CASCADE,
    question    smallint NOT NULL,
    choice      smallint NOT NULL,
    slot        smallint NOT NULL,
    n           bigint NOT NULL,
    PRIMARY KEY (survey_id, question, choice, slot)
);

-- The cells one response adds 1 to: itself, each chosen option, each written text.
CREATE FUNCTION surveybot_answer_cells(answers jsonb)
RETURNS TABLE (question smallint, choice smallint) LANGUAGE sql IMMUTABLE AS $$
    SELECT (-1)::smallint, (-1)::smallint
    UNION ALL
    SELECT (a.ord - 1)::smallint, (o.val #>> '{}')::smallint
    FROM jsonb_array_elements(answers) WITH ORDINALITY AS a(val, ord)
    CROSS JOIN LATERAL jsonb_array_elements(
        CASE jsonb_typeof(a.val)
            WHEN 'number' THEN jsonb_build_array(a.val)
            WHEN 'array' THEN a.val
            ELSE '[]'::jsonb
        END
    ) AS o(val)
    UNION ALL
    SELECT (a.ord - 1)::smallint, (-1)::smallint
    FROM jsonb_array_elements(answers) WITH ORDINALITY AS a(val, ord)
    WHERE jsonb_typeof(a.val) = 'string' AND a.val <> '""'::jsonb
$$;

CREATE FUNCTION surveybot_count_answers() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A survey being deleted takes its counters with it: nothing to keep.
    IF TG_OP = 'DELETE' AND NOT EXISTS (SELECT 1 FROM surveys WHERE id = OLD.survey_id) THEN
        RETURN NULL;
    END IF;
    -- Net change per cell (a re-answer with the same answers changes nothing), upserted in key
    -- order so two transactions never take the same rows in opposite orders.
    INSERT INTO tallies AS t (survey_id, question, choice, slot, n)
    SELECT d.survey_id, d.question, d.choice, d.slot, sum(d.delta)
    FROM (
        SELECT OLD.survey_id AS survey_id, c.question, c.choice,
            (hashtext(OLD.respondent) & 7)::smallint AS slot, -1 AS delta
        FROM surveybot_answer_cells(OLD.answers) AS c
        WHERE TG_OP <> 'INSERT'
        UNION ALL
        SELECT NEW.survey_id, c.question, c.choice, (hashtext(NEW.respondent) & 7)::smallint, 1
        FROM surveybot_answer_cells(NEW.answers) AS c
        WHERE TG_OP <> 'DELETE'
    ) AS d
    GROUP BY d.survey_id, d.question, d.choice, d.slot
    HAVING sum(d.delta) <> 0
    ORDER BY d.survey_id, d.question, d.choice, d.slot
    ON CONFLICT (survey_id, question, choice, slot) DO UPDATE SET n = t.n + excluded.n;
    RETURN NULL;
END
$$;

CREATE TRIGGER responses_count AFTER INSERT OR DELETE OR UPDATE OF answers ON responses
FOR EACH ROW EXECUTE FUNCTION surveybot_count_answers();


-- users, roster: how many people there are, the population a response rate is out of; kept per
-- statement (a roster import of 10,000 rows is one update).
-- surveys: a version, raised by every change to any survey. Each request reads it with the
-- person's session (one statement), and an app worker keeps the surveys it has read under the
-- version it read them at: while the version stays, a survey costs no round trip, and every
-- node sees a change at its next request.
CREATE TABLE counters (
    name    text PRIMARY KEY CHECK (name IN ('users', 'roster', 'surveys')),
    n       bigint NOT NULL CHECK (n >= 0)
);
INSERT INTO counters VALUES ('users', 0), ('roster', 0), ('surveys', 0);
-- Every counter recounted from the rows: after a bulk load that bypassed the triggers (COPY with
-- session_replication_role = replica, as loadtest/seed.py does), or to check them by hand.
CREATE FUNCTION surveybot_recount() RETURNS void LANGUAGE sql AS $$
    DELETE FROM tallies;
    INSERT INTO tallies (survey_id, question, choice, slot, n)
    SELECT x.survey_id, c.question, c.choice, 0, count(*)
    FROM responses x CROSS JOIN LATERAL surveybot_answer_cells(x.answers) AS c
    GROUP BY x.survey_id, c.question, c.choice;
    UPDATE counters SET n = (SELECT count(*) FROM users) WHERE name = 'users';
    UPDATE counters SET n = (SELECT count(*) FROM roster) WHERE name = 'roster';
$$;
SELECT surveybot_recount();

-- A statement that added or removed nobody (a re-registration's upsert) leaves the row alone:
-- every registration would otherwise wait on this one row.
CREATE FUNCTION surveybot_count_added() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    delta bigint := (SELECT count(*) FROM added);
BEGIN
    IF delta > 0 THEN
        UPDATE counters SET n = n + delta WHERE name = TG_TABLE_NAME;
    END IF;
    RETURN NULL;
END
$$;
CREATE FUNCTION surveybot_count_removed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    delta bigint := (SELECT count(*) FROM removed);
BEGIN
    IF delta > 0 THEN
        UPDATE counters SET n = n - delta WHERE name = TG_TABLE_NAME;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER users_added AFTER INSERT ON users REFERENCING NEW TABLE AS added
FOR EACH STATEMENT EXECUTE FUNCTION surveybot_count_added();
CREATE TRIGGER users_removed AFTER DELETE ON users REFERENCING OLD TABLE AS removed
FOR EACH STATEMENT EXECUTE FUNCTION surveybot_count_removed();
CREATE TRIGGER roster_added AFTER INSERT ON roster REFERENCING NEW TABLE AS added
FOR EACH STATEMENT EXECUTE FUNCTION surveybot_count_added();
CREATE TRIGGER roster_removed AFTER DELETE ON roster REFERENCING OLD TABLE AS removed
FOR EACH STATEMENT EXECUTE FUNCTION surveybot_count_removed();

CREATE FUNCTION surveybot_surveys_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE counters SET n = n + 1 WHERE name = 'surveys';
    RETURN NULL;
END
$$;
CREATE TRIGGER surveys_changed AFTER INSERT OR UPDATE OR DELETE ON surveys
FOR EACH STATEMENT EXECUTE FUNCTION surveybot_surveys_changed();

-- 미응답 pages through people in name order and stops after a page.
CREATE INDEX users_name_id ON users (name, id);
CREATE INDEX roster_order ON roster (name, (coalesce(member_no, '')), id);
