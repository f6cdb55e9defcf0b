"""SQL text of the SQLite store. Parameters are always bound (:name); nothing is formatted in."""

from __future__ import annotations

from surveybot.store.sql_common import SURVEY_COLUMNS, USER_COLUMNS, USER_FROM

OPEN = "closed_at IS NULL AND (deadline_at IS NULL OR deadline_at > :now)"

LOAD_CONTEXT = f"""
SELECT {USER_COLUMNS}, s.state, s.version, s.expires_at
FROM (SELECT :user_key AS user_key) AS k
LEFT JOIN users u ON u.user_key = k.user_key
LEFT JOIN roster r ON r.id = u.roster_id
LEFT JOIN sessions s ON s.user_key = k.user_key AND s.expires_at > :now
"""

USER_BY_ID = f"SELECT {USER_COLUMNS} FROM {USER_FROM} WHERE u.id = :user_id"
USER_BY_KEY = f"SELECT {USER_COLUMNS} FROM {USER_FROM} WHERE u.user_key = :user_key"
FIND_USERS = f"""
SELECT {USER_COLUMNS} FROM {USER_FROM}
WHERE u.name = :text OR u.user_key = :text ORDER BY u.name, u.id
"""
LIST_ADMINS = f"SELECT {USER_COLUMNS} FROM {USER_FROM} WHERE u.role = 'admin' ORDER BY u.name, u.id"

ROSTER_EXISTS = "SELECT EXISTS (SELECT 1 FROM roster)"
USER_CLAIM = "SELECT roster_id FROM users WHERE user_key = :user_key"
ROSTER_CANDIDATES = """
SELECT r.id, r.name, r.member_no, r.department, u.user_key
FROM roster r LEFT JOIN users u ON u.roster_id = r.id
WHERE r.name = :name ORDER BY r.id
"""
UPSERT_USER = """
INSERT INTO users (user_key, name, member_no, role, created_at, updated_at)
VALUES (:user_key, :name, :member_no, 'member', :now, :now)
ON CONFLICT (user_key) DO UPDATE SET
    name = excluded.name, member_no = excluded.member_no, updated_at = excluded.updated_at
"""
UPSERT_CLAIMING_USER = """
INSERT INTO users (user_key, name, member_no, department, role, roster_id, created_at, updated_at)
VALUES (:user_key, :name, :member_no, :department, 'member', :roster_id, :now, :now)
ON CONFLICT (user_key) DO UPDATE SET
    name = excluded.name, member_no = excluded.member_no, department = excluded.department,
    roster_id = excluded.roster_id, updated_at = excluded.updated_at
"""

ROLE_ROWS = "SELECT id, role FROM users WHERE role = 'admin' OR id = :user_id"
SET_ROLE = "UPDATE users SET role = :role, updated_at = :now WHERE id = :user_id"
RELEASE_CLAIM = """
UPDATE users SET roster_id = NULL, updated_at = :now WHERE roster_id = :roster_id
RETURNING user_key
"""

# This person's failures and everyone's: the code is also limited for the whole bot.
COUNT_FAILURES = """
SELECT count(*) FILTER (WHERE user_key = :user_key), count(*)
FROM admin_code_failures WHERE at >= :since
"""
RECORD_FAILURE = "INSERT INTO admin_code_failures (user_key, at) VALUES (:user_key, :at)"

ROSTER_FIND = """
SELECT id, department FROM roster
WHERE name = :name AND coalesce(member_no, '') = coalesce(:member_no, '')
"""
ROSTER_INSERT = """
INSERT INTO roster (name, member_no, department) VALUES (:name, :member_no, :department)
"""
ROSTER_SET_DEPARTMENT = "UPDATE roster SET department = :department WHERE id = :id"
ROSTER_LIST = """
SELECT r.name, r.member_no, r.department, u.user_key
FROM roster r LEFT JOIN users u ON u.roster_id = r.id
ORDER BY r.name, coalesce(r.member_no, ''), r.id
"""

SESSION_INSERT = """
INSERT INTO sessions (user_key, state, version, expires_at)
VALUES (:user_key, :state, 1, :expires_at)
ON CONFLICT (user_key) DO UPDATE SET
    state = excluded.state, version = sessions.version + 1, expires_at = excluded.expires_at
WHERE sessions.expires_at <= :now
RETURNING version
"""
SESSION_UPDATE = """
UPDATE sessions SET state = :state, version = version + 1, expires_at = :expires_at
WHERE user_key = :user_key AND version = :expected
RETURNING version
"""
SESSION_DELETE = "DELETE FROM sessions WHERE user_key = :user_key"

SURVEY_GET = f"SELECT {SURVEY_COLUMNS} FROM surveys s WHERE s.id = :survey_id"
SURVEY_BY_DRAFT = f"SELECT {SURVEY_COLUMNS} FROM surveys s WHERE s.draft_key = :draft_key"
SURVEY_INSERT = """
INSERT INTO surveys
    (title, description, questions, deadline_at, anonymous, created_by, created_at, draft_key)
VALUES
    (:title, :description, :questions, :deadline_at, :anonymous, :created_by, :now, :draft_key)
RETURNING id, title, description, questions, deadline_at, anonymous, closed_at, created_at
"""
_LISTING = f"""
SELECT {SURVEY_COLUMNS},
    (SELECT count(*) FROM responses x WHERE x.survey_id = s.id),
    EXISTS (SELECT 1 FROM participants p WHERE p.survey_id = s.id AND p.user_id = :user_id)
FROM surveys s
"""
# The members' list shows no counts: counting every survey's responses on each 설문목록 is a scan
# per survey that grows with the answers stored (seen in the benchmark at 100k answers).
LIST_OPEN = f"""
SELECT {SURVEY_COLUMNS},
    0,
    EXISTS (SELECT 1 FROM participants p WHERE p.survey_id = s.id AND p.user_id = :user_id)
FROM surveys s
WHERE s.closed_at IS NULL AND (s.deadline_at IS NULL OR s.deadline_at > :now)
ORDER BY s.id DESC
"""
LIST_ALL = f"{_LISTING} ORDER BY s.id DESC"

SURVEY_EXISTS = "SELECT EXISTS (SELECT 1 FROM surveys WHERE id = :survey_id)"
CLOSE = f"UPDATE surveys SET closed_at = :now WHERE id = :survey_id AND {OPEN}"
REOPEN = f"""
UPDATE surveys SET
    closed_at = NULL,
    deadline_at = CASE WHEN deadline_at <= :now THEN NULL ELSE deadline_at END
WHERE id = :survey_id AND NOT ({OPEN})
"""
DELETE_SURVEY = "DELETE FROM surveys WHERE id = :survey_id"

SURVEY_STATE = f"SELECT anonymous, {OPEN} FROM surveys WHERE id = :survey_id"
RESPONSE_UPSERT = """
INSERT INTO responses
    (survey_id, respondent, user_id, answers, submitted_at, answered_as, answered_no)
VALUES (:survey_id, :respondent, :user_id, :answers, :submitted_at, :answered_as, :answered_no)
ON CONFLICT (survey_id, respondent) DO UPDATE SET
    user_id = excluded.user_id, answers = excluded.answers, submitted_at = excluded.submitted_at,
    answered_as = excluded.answered_as, answered_no = excluded.answered_no
"""
PARTICIPANT_INSERT = """
INSERT INTO participants (survey_id, user_id) VALUES (:survey_id, :user_id)
ON CONFLICT DO NOTHING
"""
RESPONSE_GET = """
SELECT answers, submitted_at FROM responses
WHERE survey_id = :survey_id AND respondent = :respondent
"""
RESPONSE_DELETE = "DELETE FROM responses WHERE survey_id = :survey_id AND respondent = :respondent"
PARTICIPANT_DELETE = "DELETE FROM participants WHERE survey_id = :survey_id AND user_id = :user_id"

RESULTS_HEAD = f"""
SELECT {SURVEY_COLUMNS},
    (SELECT count(*) FROM responses x WHERE x.survey_id = s.id),
    CASE WHEN EXISTS (SELECT 1 FROM roster) THEN (SELECT count(*) FROM roster)
         ELSE (SELECT count(*) FROM users) END
FROM surveys s WHERE s.id = :survey_id
"""
# Rows (kind, question, option, count, text, rank); see sql_common.build_results.
RESULTS_AGGREGATE = """
WITH e AS (
    SELECT x.id AS rid, CAST(a.key AS INTEGER) AS q, a.type AS t, a.value AS v
    FROM responses x, json_each(x.answers) AS a
    WHERE x.survey_id = :survey_id
),
picks AS (
    SELECT q, v AS opt FROM e WHERE t = 'integer'
    UNION ALL
    -- the CASE keeps json_each away from values that are not arrays
    SELECT e.q, o.value FROM e, json_each(CASE WHEN e.t = 'array' THEN e.v ELSE '[]' END) AS o
),
texts AS (
    SELECT rid, q, v FROM e WHERE t = 'text' AND v <> ''
)
SELECT 'c', q, opt, count(*), NULL, 0 FROM picks GROUP BY q, opt
UNION ALL
SELECT 't', q, NULL, count(*), NULL, 0 FROM texts GROUP BY q
UNION ALL
SELECT 'l', q, NULL, NULL, v, rn FROM (
    -- Anonymous surveys list texts in text order: submission order would help re-link them.
    SELECT q, v, row_number() OVER (
        PARTITION BY q ORDER BY CASE WHEN :by_text THEN v END, rid DESC) AS rn
    FROM texts
) WHERE rn <= :latest
ORDER BY 1, 2, 6
"""

PENDING_ROSTER = """
SELECT r.name, r.member_no, r.department, u.id IS NOT NULL
FROM roster r LEFT JOIN users u ON u.roster_id = r.id
WHERE u.id IS NULL
   OR NOT EXISTS (SELECT 1 FROM participants p WHERE p.survey_id = :survey_id AND p.user_id = u.id)
ORDER BY r.name, coalesce(r.member_no, ''), r.id
"""
PENDING_USERS = """
SELECT u.name, u.member_no, u.department, 1
FROM users u
WHERE NOT EXISTS (SELECT 1 FROM participants p WHERE p.survey_id = :survey_id AND p.user_id = u.id)
ORDER BY u.name, u.id
"""

SURVEY_ANONYMOUS = "SELECT anonymous FROM surveys WHERE id = :survey_id"
EXPORT_NAMED = """
SELECT x.answers,
    coalesce(x.answered_as, CASE WHEN r.id IS NULL THEN u.name ELSE r.name END),
    coalesce(x.answered_no, CASE WHEN r.id IS NULL THEN u.member_no ELSE r.member_no END),
    CASE WHEN r.id IS NULL THEN u.department ELSE r.department END,
    x.submitted_at
FROM responses x
LEFT JOIN users u ON u.id = x.user_id
LEFT JOIN roster r ON r.id = u.roster_id
WHERE x.survey_id = :survey_id
ORDER BY x.submitted_at, x.id
"""
# The respondent is a keyed hash, so its order says nothing about who answered when.
EXPORT_ANONYMOUS = "SELECT answers FROM responses WHERE survey_id = :survey_id ORDER BY respondent"
