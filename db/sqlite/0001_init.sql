-- surveybot schema, SQLite. Times are UTC text 'YYYY-MM-DDTHH:MM:SS.ffffffZ' (fixed width, so
-- text comparison is time comparison); JSON is text. Applied by store/migrate.py.

CREATE TABLE roster (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    member_no   TEXT,
    department  TEXT
);
-- A person is a name plus an optional number; NULL numbers must collide with each other too.
CREATE UNIQUE INDEX roster_name_member_no ON roster (name, coalesce(member_no, ''));

CREATE TABLE users (
    id          INTEGER PRIMARY KEY,
    user_key    TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    member_no   TEXT,
    department  TEXT,
    role        TEXT NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'admin')),
    -- The claim of a roster entry; UNIQUE makes "one person per entry" a database fact.
    roster_id   INTEGER UNIQUE REFERENCES roster (id) ON DELETE SET NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX users_name ON users (name);

CREATE TABLE sessions (
    user_key    TEXT PRIMARY KEY,
    state       TEXT NOT NULL CHECK (json_valid(state)),
    version     INTEGER NOT NULL,
    expires_at  TEXT NOT NULL
);

CREATE TABLE admin_code_failures (
    user_key    TEXT NOT NULL,
    at          TEXT NOT NULL
);
CREATE INDEX admin_code_failures_key_at ON admin_code_failures (user_key, at);

CREATE TABLE surveys (
    -- The short number people type in chat; AUTOINCREMENT so a deleted number is never reused.
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    title       TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    questions   TEXT NOT NULL CHECK (json_valid(questions)),
    deadline_at TEXT,
    anonymous   INTEGER NOT NULL DEFAULT 0 CHECK (anonymous IN (0, 1)),
    closed_at   TEXT,
    created_by  INTEGER REFERENCES users (id) ON DELETE SET NULL,
    created_at  TEXT NOT NULL,
    -- Publishing the same draft twice (a double tap) finds this key and does nothing.
    draft_key   TEXT NOT NULL UNIQUE
);

CREATE TABLE responses (
    id           INTEGER PRIMARY KEY,
    survey_id    INTEGER NOT NULL REFERENCES surveys (id) ON DELETE CASCADE,
    -- Tied to the user for named surveys, a keyed hash for anonymous ones.
    respondent   TEXT NOT NULL,
    user_id      INTEGER REFERENCES users (id) ON DELETE SET NULL,
    answers      TEXT NOT NULL CHECK (json_valid(answers)),
    submitted_at TEXT,
    -- One response per person per survey.
    UNIQUE (survey_id, respondent)
);
CREATE INDEX responses_user ON responses (user_id);

-- Who took part, for every survey; no timestamp, which would re-link anonymous answers.
CREATE TABLE participants (
    survey_id   INTEGER NOT NULL REFERENCES surveys (id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (survey_id, user_id)
) WITHOUT ROWID;
CREATE INDEX participants_user ON participants (user_id);
