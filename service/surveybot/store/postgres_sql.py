"""SQL text of the PostgreSQL store. Parameters are always bound (%(name)s); nothing is formatted
in. Casts on parameters give PostgreSQL the types it cannot infer inside INSERT ... SELECT."""

from __future__ import annotations

from surveybot.store.sql_common import SURVEY_COLUMNS, USER_COLUMNS, USER_FROM

OPEN = "closed_at IS NULL AND (deadline_at IS NULL OR deadline_at > %(now)s)"

LOAD_CONTEXT = f"""
SELECT {USER_COLUMNS}, s.state, s.version, s.expires_at
FROM (SELECT %(user_key)s::text AS user_key) AS k
LEFT JOIN users u ON u.user_key = k.user_key
LEFT JOIN roster r ON r.id = u.roster_id
LEFT JOIN sessions s ON s.user_key = k.user_key AND s.expires_at > %(now)s
"""

USER_BY_ID = f"SELECT {USER_COLUMNS} FROM {USER_FROM} WHERE u.id = %(user_id)s"
USER_BY_KEY = f"SELECT {USER_COLUMNS} FROM {USER_FROM} WHERE u.user_key = %(user_key)s"
FIND_USERS = f"""
SELECT {USER_COLUMNS} FROM {USER_FROM}
WHERE u.name = %(text)s OR u.user_key = %(text)s ORDER BY u.name, u.id
"""
LIST_ADMINS = f"SELECT {USER_COLUMNS} FROM {USER_FROM} WHERE u.role = 'admin' ORDER BY u.name, u.id"

ROSTER_EXISTS = "SELECT EXISTS (SELECT 1 FROM roster)"
USER_CLAIM = "SELECT roster_id FROM users WHERE user_key = %(user_key)s"
# Locking the entries of a name makes two people claiming the same entry take turns.
LOCK_ROSTER_NAME = "SELECT id FROM roster WHERE name = %(name)s ORDER BY id FOR UPDATE"
ROSTER_CANDIDATES = """
SELECT r.id, r.name, r.member_no, r.department, u.user_key
FROM roster r LEFT JOIN users u ON u.roster_id = r.id
WHERE r.name = %(name)s ORDER BY r.id
"""
UPSERT_USER = """
INSERT INTO users (user_key, name, member_no, role)
VALUES (%(user_key)s, %(name)s, %(member_no)s, 'member')
ON CONFLICT (user_key) DO UPDATE SET
    name = excluded.name, member_no = excluded.member_no, updated_at = now()
"""
UPSERT_CLAIMING_USER = """
INSERT INTO users (user_key, name, member_no, department, role, roster_id)
VALUES (%(user_key)s, %(name)s, %(member_no)s, %(department)s, 'member', %(roster_id)s)
ON CONFLICT (user_key) DO UPDATE SET
    name = excluded.name, member_no = excluded.member_no, department = excluded.department,
    roster_id = excluded.roster_id, updated_at = now()
"""

# All admins and the target, locked in id order: two admins demoting each other take turns.
ROLE_ROWS = """
SELECT id, role FROM users WHERE role = 'admin' OR id = %(user_id)s ORDER BY id FOR UPDATE
"""
SET_ROLE = "UPDATE users SET role = %(role)s, updated_at = now() WHERE id = %(user_id)s"
RELEASE_CLAIM = """
UPDATE users SET roster_id = NULL, updated_at = now() WHERE roster_id = %(roster_id)s
RETURNING user_key
"""

# This person's failures and everyone's: the code is also limited for the whole bot.
COUNT_FAILURES = """
SELECT count(*) FILTER (WHERE user_key = %(user_key)s), count(*)
FROM admin_code_failures WHERE at >= %(since)s
"""
RECORD_FAILURE = "INSERT INTO admin_code_failures (user_key, at) VALUES (%(user_key)s, %(at)s)"

# Returns whether the row is new (xmax = 0) or an existing one whose department changed.
ROSTER_UPSERT = """
INSERT INTO roster AS r (name, member_no, department)
VALUES (%(name)s, %(member_no)s, %(department)s)
ON CONFLICT (name, coalesce(member_no, '')) DO UPDATE SET department = excluded.department
WHERE excluded.department IS NOT NULL AND r.department IS DISTINCT FROM excluded.department
RETURNING (r.xmax = 0) AS inserted
"""
ROSTER_LIST = """
SELECT r.name, r.member_no, r.department, u.user_key
FROM roster r LEFT JOIN users u ON u.roster_id = r.id
ORDER BY r.name, coalesce(r.member_no, ''), r.id
"""

SESSION_INSERT = """
INSERT INTO sessions AS s (user_key, state, version, expires_at)
VALUES (%(user_key)s, %(state)s, 1, %(expires_at)s)
ON CONFLICT (user_key) DO UPDATE SET
    state = excluded.state, version = s.version + 1, expires_at = excluded.expires_at
WHERE s.expires_at <= %(now)s
RETURNING version
"""
SESSION_UPDATE = """
UPDATE sessions SET state = %(state)s, version = version + 1, expires_at = %(expires_at)s
WHERE user_key = %(user_key)s AND version = %(expected)s
RETURNING version
"""
SESSION_DELETE = "DELETE FROM sessions WHERE user_key = %(user_key)s"

SURVEY_GET = f"SELECT {SURVEY_COLUMNS} FROM surveys s WHERE s.id = %(survey_id)s"
SURVEY_BY_DRAFT = f"SELECT {SURVEY_COLUMNS} FROM surveys s WHERE s.draft_key = %(draft_key)s"
# NOT EXISTS spares an identity number on a repeated publish; ON CONFLICT covers the race.
SURVEY_INSERT = """
INSERT INTO surveys
    (title, description, questions, deadline_at, anonymous, created_by, created_at, draft_key)
SELECT %(title)s::text, %(description)s::text, %(questions)s::jsonb,
    %(deadline_at)s::timestamptz, %(anonymous)s::boolean, %(created_by)s::bigint,
    %(now)s::timestamptz, %(draft_key)s::text
WHERE NOT EXISTS (SELECT 1 FROM surveys WHERE draft_key = %(draft_key)s)
ON CONFLICT (draft_key) DO NOTHING
RETURNING id, title, description, questions, deadline_at, anonymous, closed_at, created_at
"""
_LISTING = f"""
SELECT {SURVEY_COLUMNS},
    (SELECT count(*) FROM responses x WHERE x.survey_id = s.id),
    EXISTS (SELECT 1 FROM took_part p WHERE p.survey_id = s.id AND p.user_id = %(user_id)s)
FROM surveys s
"""
# The members' list shows no counts: counting every survey's responses on each 설문목록 is a scan
# per survey that grows with the answers stored (seen in the benchmark at 100k answers).
LIST_OPEN = f"""
SELECT {SURVEY_COLUMNS},
    0,
    EXISTS (SELECT 1 FROM took_part p WHERE p.survey_id = s.id AND p.user_id = %(user_id)s)
FROM surveys s
WHERE s.closed_at IS NULL AND (s.deadline_at IS NULL OR s.deadline_at > %(now)s)
ORDER BY s.id DESC
"""
LIST_ALL = f"{_LISTING} ORDER BY s.id DESC"

# Close / reopen: one statement answering "did it exist" and "did it change".
CLOSE = f"""
WITH target AS (SELECT id FROM surveys WHERE id = %(survey_id)s),
changed AS (
    UPDATE surveys SET closed_at = %(now)s WHERE id = %(survey_id)s AND {OPEN} RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM target), EXISTS (SELECT 1 FROM changed)
"""
REOPEN = f"""
WITH target AS (SELECT id FROM surveys WHERE id = %(survey_id)s),
changed AS (
    UPDATE surveys SET
        closed_at = NULL,
        deadline_at = CASE WHEN deadline_at <= %(now)s THEN NULL ELSE deadline_at END
    WHERE id = %(survey_id)s AND NOT ({OPEN})
    RETURNING 1
)
SELECT EXISTS (SELECT 1 FROM target), EXISTS (SELECT 1 FROM changed)
"""
DELETE_SURVEY = "DELETE FROM surveys WHERE id = %(survey_id)s"

_TARGET = f"""
target AS (
    SELECT id, anonymous, {OPEN} AS is_open FROM surveys WHERE id = %(survey_id)s
)"""
# Check open, save or replace, record participation, end the session: one round trip. A refused
# submit changes nothing because every write depends on is_open. Anonymous rows keep no who/when,
# and their participation joins the survey's unordered set (anonymous_participation, migration
# 0002) instead of a row of its own whose xmin and position would match the response's.
SUBMIT = f"""
WITH {_TARGET},
saved AS (
    INSERT INTO responses AS x
        (survey_id, respondent, user_id, answers, submitted_at, answered_as, answered_no)
    SELECT id, %(respondent)s::text,
        CASE WHEN anonymous THEN NULL ELSE %(user_id)s::bigint END,
        %(answers)s::jsonb,
        CASE WHEN anonymous THEN NULL ELSE %(now)s::timestamptz END,
        CASE WHEN anonymous THEN NULL ELSE %(name)s::text END,
        CASE WHEN anonymous THEN NULL ELSE %(member_no)s::text END
    FROM target WHERE is_open
    ON CONFLICT (survey_id, respondent) DO UPDATE SET
        user_id = excluded.user_id, answers = excluded.answers,
        submitted_at = excluded.submitted_at, answered_as = excluded.answered_as,
        answered_no = excluded.answered_no
    RETURNING 1
),
named_part AS (
    INSERT INTO participants (survey_id, user_id)
    SELECT id, %(user_id)s::bigint FROM target WHERE is_open AND NOT anonymous
    ON CONFLICT DO NOTHING
),
anonymous_part AS (
    INSERT INTO anonymous_participation AS a (survey_id, user_ids)
    SELECT id, ARRAY[%(user_id)s::bigint] FROM target WHERE is_open AND anonymous
    ON CONFLICT (survey_id) DO UPDATE SET user_ids = (
        SELECT array_agg(DISTINCT v ORDER BY v) FROM unnest(a.user_ids || excluded.user_ids) v)
    WHERE NOT a.user_ids @> excluded.user_ids
),
ended AS (
    DELETE FROM sessions
    WHERE user_key = %(user_key)s AND EXISTS (SELECT 1 FROM target WHERE is_open)
)
SELECT EXISTS (SELECT 1 FROM target), EXISTS (SELECT 1 FROM saved)
"""
WITHDRAW = f"""
WITH {_TARGET},
gone AS (
    DELETE FROM responses
    WHERE survey_id = %(survey_id)s AND respondent = %(respondent)s
      AND EXISTS (SELECT 1 FROM target WHERE is_open)
    RETURNING 1
),
left_named AS (
    DELETE FROM participants
    WHERE survey_id = %(survey_id)s AND user_id = %(user_id)s AND EXISTS (SELECT 1 FROM gone)
),
left_anonymous AS (
    UPDATE anonymous_participation SET user_ids = array_remove(user_ids, %(user_id)s::bigint)
    WHERE survey_id = %(survey_id)s AND EXISTS (SELECT 1 FROM gone)
)
SELECT EXISTS (SELECT 1 FROM target), coalesce((SELECT is_open FROM target), false),
    EXISTS (SELECT 1 FROM gone)
"""
RESPONSE_GET = """
SELECT answers, submitted_at FROM responses
WHERE survey_id = %(survey_id)s AND respondent = %(respondent)s
"""

RESULTS_HEAD = f"""
SELECT {SURVEY_COLUMNS},
    (SELECT count(*) FROM responses x WHERE x.survey_id = s.id),
    CASE WHEN EXISTS (SELECT 1 FROM roster) THEN (SELECT count(*) FROM roster)
         ELSE (SELECT count(*) FROM users) END
FROM surveys s WHERE s.id = %(survey_id)s
"""
# Rows (kind, question, option, count, text, rank); see sql_common.build_results.
RESULTS_AGGREGATE = """
WITH e AS (
    SELECT x.id AS rid, a.ord - 1 AS q, a.val
    FROM responses x
    CROSS JOIN LATERAL jsonb_array_elements(x.answers) WITH ORDINALITY AS a(val, ord)
    WHERE x.survey_id = %(survey_id)s
),
picks AS (
    SELECT e.q, o.val::int AS opt
    FROM e CROSS JOIN LATERAL jsonb_array_elements(
        CASE jsonb_typeof(e.val)
            WHEN 'number' THEN jsonb_build_array(e.val)
            WHEN 'array' THEN e.val
            ELSE '[]'::jsonb
        END
    ) AS o(val)
),
texts AS (
    SELECT e.rid, e.q, e.val #>> '{}' AS txt
    FROM e WHERE jsonb_typeof(e.val) = 'string' AND e.val <> '""'::jsonb
)
SELECT 'c' AS kind, q, opt, count(*) AS n, NULL::text AS txt, 0::bigint AS rn
FROM picks GROUP BY q, opt
UNION ALL
SELECT 't', q, NULL, count(*), NULL, 0 FROM texts GROUP BY q
UNION ALL
SELECT 'l', q, NULL, NULL, txt, rn FROM (
    -- Anonymous surveys list texts in text order: submission order would help re-link them.
    SELECT q, txt, row_number() OVER (
        PARTITION BY q ORDER BY CASE WHEN %(by_text)s THEN txt END, rid DESC) AS rn
    FROM texts
) AS ranked WHERE rn <= %(latest)s
ORDER BY 1, 2, 6
"""

SURVEY_EXISTS = "SELECT EXISTS (SELECT 1 FROM surveys WHERE id = %(survey_id)s)"
PENDING_ROSTER = """
SELECT r.name, r.member_no, r.department, u.id IS NOT NULL
FROM roster r LEFT JOIN users u ON u.roster_id = r.id
WHERE u.id IS NULL
   OR NOT EXISTS (
       SELECT 1 FROM took_part p WHERE p.survey_id = %(survey_id)s AND p.user_id = u.id)
ORDER BY r.name, coalesce(r.member_no, ''), r.id
"""
PENDING_USERS = """
SELECT u.name, u.member_no, u.department, true
FROM users u
WHERE NOT EXISTS (
    SELECT 1 FROM took_part p WHERE p.survey_id = %(survey_id)s AND p.user_id = u.id)
ORDER BY u.name, u.id
"""

SURVEY_ANONYMOUS = "SELECT anonymous FROM surveys WHERE id = %(survey_id)s"
EXPORT_NAMED = """
SELECT x.answers,
    coalesce(x.answered_as, CASE WHEN r.id IS NULL THEN u.name ELSE r.name END),
    coalesce(x.answered_no, CASE WHEN r.id IS NULL THEN u.member_no ELSE r.member_no END),
    CASE WHEN r.id IS NULL THEN u.department ELSE r.department END,
    x.submitted_at
FROM responses x
LEFT JOIN users u ON u.id = x.user_id
LEFT JOIN roster r ON r.id = u.roster_id
WHERE x.survey_id = %(survey_id)s
ORDER BY x.submitted_at, x.id
"""
# The respondent is a keyed hash, so its order says nothing about who answered when.
EXPORT_ANONYMOUS = """
SELECT answers FROM responses WHERE survey_id = %(survey_id)s ORDER BY respondent
"""
