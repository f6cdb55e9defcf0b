-- Retention (issue 13): `surveybot purge --closed-before DATE` deletes the responses of surveys
-- that closed before DATE, and who took part in them. The survey stays, marked purged_at, so the
-- bot can say what happened instead of showing "nobody answered". With --keep-summary the counts
-- stay: before the delete they are copied into slot -1 of tallies, which reads sum with the
-- others (the delete's triggers take the ordinary slots to zero); the free texts go.
ALTER TABLE surveys ADD COLUMN purged_at timestamptz;
ALTER TABLE surveys ADD COLUMN summary_kept boolean NOT NULL DEFAULT false;
-- A purged survey stays closed: reopening it would mix new answers into a kept summary.
ALTER TABLE surveys ADD CONSTRAINT surveys_purged_stay_closed
    CHECK (purged_at IS NULL OR closed_at IS NOT NULL);

-- The recount keeps the kept summaries (slot -1): no response is left to count them from.
CREATE OR REPLACE FUNCTION surveybot_recount() RETURNS void LANGUAGE sql AS $$
    DELETE FROM tallies WHERE slot <> -1;
    INSERT INTO tallies (survey_id, question, choice, slot, n)
    SELECT x.survey_id, c.question, c.choice, 0, count(*)
    FROM responses x CROSS JOIN LATERAL surveybot_answer_cells(x.answers) AS c
    GROUP BY x.survey_id, c.question, c.choice;
    UPDATE counters SET n = (SELECT count(*) FROM users) WHERE name = 'users';
    UPDATE counters SET n = (SELECT count(*) FROM roster) WHERE name = 'roster';
$$;
