-- Encryption at rest (issue 13). The app seals personal data with AES-GCM before it reaches this
-- database (service/surveybot/crypto.py): the server stores text like 'k1:<base64url>' and never
-- sees a key. Rows written before this migration stay readable as they are until
-- `surveybot keys rotate` seals them, online and in batches; until then both forms are read.

-- The keys data has been sealed with, by id, with a fingerprint (an HMAC, not the key): a node
-- started without one of them, or with other key material under a known id, refuses to start
-- and names the key instead of failing every request.
CREATE TABLE keyring (
    purpose     text NOT NULL CHECK (purpose IN ('data', 'index')),
    key_id      text NOT NULL CHECK (key_id ~ '^[A-Za-z0-9_-]{1,16}$'),
    check_value text NOT NULL CHECK (check_value ~ '^[0-9a-f]{32}$'),
    added_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (purpose, key_id)
);

-- People: name, number and department sealed together in `sealed`; the plaintext columns are
-- then blank (name '' because the column is NOT NULL). name_idx and person_idx are HMACs of the
-- name and of name + number under INDEX_KEY: registration, roster matching and 관리자지정 look
-- people up by them. NOT VALID: no existing row is sealed, and the table is not scanned.
ALTER TABLE users
    ADD COLUMN sealed text CHECK (sealed ~ '^[A-Za-z0-9_-]{1,16}:[A-Za-z0-9_-]{38,}$'),
    ADD COLUMN name_idx text CHECK (name_idx ~ '^[A-Za-z0-9_-]{22}$');
ALTER TABLE users ADD CONSTRAINT users_sealed_blank CHECK (sealed IS NULL OR (
    name = '' AND member_no IS NULL AND department IS NULL AND name_idx IS NOT NULL)) NOT VALID;
ALTER TABLE users DROP CONSTRAINT users_name_length;
ALTER TABLE users ADD CONSTRAINT users_name_length
    CHECK (sealed IS NOT NULL OR char_length(name) BETWEEN 1 AND 30) NOT VALID;
CREATE INDEX users_name_idx ON users (name_idx);

ALTER TABLE roster
    ADD COLUMN sealed text CHECK (sealed ~ '^[A-Za-z0-9_-]{1,16}:[A-Za-z0-9_-]{38,}$'),
    ADD COLUMN name_idx text CHECK (name_idx ~ '^[A-Za-z0-9_-]{22}$'),
    ADD COLUMN person_idx text CHECK (person_idx ~ '^[A-Za-z0-9_-]{22}$');
ALTER TABLE roster ADD CONSTRAINT roster_sealed_blank CHECK (sealed IS NULL OR (
    name = '' AND member_no IS NULL AND department IS NULL
    AND name_idx IS NOT NULL AND person_idx IS NOT NULL)) NOT VALID;
ALTER TABLE roster DROP CONSTRAINT roster_name_length;
ALTER TABLE roster ADD CONSTRAINT roster_name_length
    CHECK (sealed IS NOT NULL OR char_length(name) BETWEEN 1 AND 30) NOT VALID;
-- One entry per person: by the index of name + number once sealed, by the plaintext before.
CREATE UNIQUE INDEX roster_person_idx ON roster (person_idx);
CREATE UNIQUE INDEX roster_plain_person ON roster (name, coalesce(member_no, ''))
    WHERE sealed IS NULL;
DROP INDEX roster_name_member_no;
CREATE INDEX roster_name_idx ON roster (name_idx);

-- The name and number a named response was given under, sealed (answered_as/_no before).
ALTER TABLE responses ADD COLUMN answered_sealed text
    CHECK (answered_sealed ~ '^[A-Za-z0-9_-]{1,16}:[A-Za-z0-9_-]{38,}$');

-- A written text answer is sealed as {"s": "<sealed>"}; choices stay option indexes, so the
-- answer checks (0002) and the counters (0003) keep working on what they need. The bound is a
-- sealed text of 500 characters of 4 bytes each.
CREATE OR REPLACE FUNCTION surveybot_answer_fits(answer jsonb, question jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
SELECT CASE question ->> 'kind'
    WHEN 'text' THEN
        (jsonb_typeof(answer) = 'string' AND char_length(answer #>> '{}') <= 500)
        OR (jsonb_typeof(answer) = 'object'
            AND (SELECT array_agg(k) FROM jsonb_object_keys(answer) AS o(k)) = ARRAY['s']
            AND jsonb_typeof(answer -> 's') = 'string'
            AND (answer ->> 's') ~ '^[A-Za-z0-9_-]{1,16}:[A-Za-z0-9_-]{38,}$'
            AND char_length(answer ->> 's') <= 2817)
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

-- A sealed text is a written text: it counts as one (choice -1), as a non-empty string does.
CREATE OR REPLACE FUNCTION surveybot_answer_cells(answers jsonb)
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
    WHERE (jsonb_typeof(a.val) = 'string' AND a.val <> '""'::jsonb)
       OR jsonb_typeof(a.val) = 'object'
$$;
