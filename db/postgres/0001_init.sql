-- surveybot schema, PostgreSQL. Applied once by `surveybot migrate` (see store/migrate.py).

CREATE TABLE roster (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    member_no   text,
    department  text
);
-- A person is a name plus an optional number; NULL numbers must collide with each other too.
CREATE UNIQUE INDEX roster_name_member_no ON roster (name, coalesce(member_no, ''));

CREATE TABLE users (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_key    text NOT NULL UNIQUE,
    name        text NOT NULL,
    member_no   text,
    department  text,
    role        text NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'admin')),
    -- The claim of a roster entry; UNIQUE makes "one person per entry" a database fact.
    roster_id   bigint UNIQUE REFERENCES roster (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX users_name ON users (name);

CREATE TABLE sessions (
    user_key    text PRIMARY KEY,
    state       jsonb NOT NULL CHECK (jsonb_typeof(state) = 'object'),
    version     integer NOT NULL,
    expires_at  timestamptz NOT NULL
);

CREATE TABLE admin_code_failures (
    user_key    text NOT NULL,
    at          timestamptz NOT NULL
);
CREATE INDEX admin_code_failures_key_at ON admin_code_failures (user_key, at);

CREATE TABLE surveys (
    -- The short number people type in chat.
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title       text NOT NULL,
    description text NOT NULL DEFAULT '',
    questions   jsonb NOT NULL CHECK (jsonb_typeof(questions) = 'array'),
    deadline_at timestamptz,
    anonymous   boolean NOT NULL DEFAULT false,
    closed_at   timestamptz,
    created_by  bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL,
    -- Publishing the same draft twice (a double tap) finds this key and does nothing.
    draft_key   text NOT NULL UNIQUE
);

CREATE TABLE responses (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    survey_id    integer NOT NULL REFERENCES surveys (id) ON DELETE CASCADE,
    -- Tied to the user for named surveys, a keyed hash for anonymous ones.
    respondent   text NOT NULL,
    user_id      bigint REFERENCES users (id) ON DELETE SET NULL,
    answers      jsonb NOT NULL CHECK (jsonb_typeof(answers) = 'array'),
    submitted_at timestamptz,
    -- One response per person per survey.
    UNIQUE (survey_id, respondent)
);
CREATE INDEX responses_user ON responses (user_id);

-- Who took part, for every survey; no timestamp, which would re-link anonymous answers.
CREATE TABLE participants (
    survey_id   integer NOT NULL REFERENCES surveys (id) ON DELETE CASCADE,
    user_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (survey_id, user_id)
);
CREATE INDEX participants_user ON participants (user_id);
