"""SQL both databases run as written: `:name` parameters, converted per driver (sql_text.py).

Statements that really differ (the one-round-trip writes of PostgreSQL, row locks) live in each
dialect's module, postgres.py and sqlite.py; how each writes JSON is a JsonSql below, so the
one-statement reads (results, pending) are written once. Nothing is formatted into SQL
but the column lists below.
"""

from __future__ import annotations

from dataclasses import dataclass

from surveybot.store.rows import SURVEY_COLUMNS, USER_COLUMNS, USER_FROM


@dataclass(frozen=True)
class JsonSql:
    """How a dialect writes JSON in SQL: enough to read a page or the results in one statement."""

    array: str  # the function making a JSON array of its arguments
    agg: str  # the aggregate making a JSON array of its rows
    agg_orders: bool  # True: the aggregate takes ORDER BY; False: it keeps its input's order
    empty: str  # a JSON empty array, for an aggregate over no rows that gives NULL
    embed: str  # wraps a subquery's JSON so it nests as JSON, not as a string ('' for none)
    text_questions: str  # SELECT i: the indexes of survey s's text questions
    text_at: str  # the text answer of response x at index {i}, as JSON (a string or sealed)
    blank: str  # text_at of a skipped text question

    def rows(self, item: str, order: str, select: str, alias: str = "p") -> str:
        """A scalar subquery: the JSON array of `item` over the rows of `select`, in `order`."""
        if self.agg_orders:
            found = f"{self.agg}({item} ORDER BY {order})"
            source = f"({select}) AS {alias}"
        else:
            found = f"{self.agg}({item})"
            source = f"(SELECT * FROM ({select}) AS {alias} ORDER BY {order}) AS {alias}"
        return f"(SELECT coalesce({found}, {self.empty}) FROM {source})"


# The fields in JsonSql's order: array, agg, agg_orders, empty, embed, text_questions, text_at,
# blank.
POSTGRES_JSON = JsonSql(
    "json_build_array", "json_agg", True, "'[]'::json", "",
    """SELECT (e.ord - 1)::int AS i
    FROM jsonb_array_elements(s.questions) WITH ORDINALITY AS e(val, ord)
    WHERE e.val ->> 'kind' = 'text'""",
    "x.answers -> {i}", "'\"\"'::jsonb",
)  # fmt: skip
# json_group_array keeps the order of its input; json() keeps a list read from a subquery a list.
SQLITE_JSON = JsonSql(
    "json_array", "json_group_array", False, "json_array()", "json",
    """SELECT CAST(e.key AS INTEGER) AS i FROM json_each(s.questions) AS e
    WHERE json_extract(e.value, '$.kind') = 'text'""",
    "(x.answers -> ('$[' || {i} || ']'))", "'\"\"'",
)  # fmt: skip


OPEN = "closed_at IS NULL AND (deadline_at IS NULL OR deadline_at > :now)"

# Raised by every change to a survey (migration 0003): surveys read at one version are still right.
SURVEYS_VERSION = "(SELECT n FROM counters WHERE name = 'surveys')"
LOAD_CONTEXT = f"""
SELECT {USER_COLUMNS}, s.state, s.version, s.expires_at, {SURVEYS_VERSION}
FROM (SELECT :user_key AS user_key) AS k
LEFT JOIN users u ON u.user_key = k.user_key
LEFT JOIN roster r ON r.id = u.roster_id
LEFT JOIN sessions s ON s.user_key = k.user_key AND s.expires_at > :now
"""

# --- people -------------------------------------------------------------------------------------
USER_BY_ID = f"SELECT {USER_COLUMNS} FROM {USER_FROM} WHERE u.id = :user_id"
USER_BY_KEY = f"SELECT {USER_COLUMNS} FROM {USER_FROM} WHERE u.user_key = :user_key"
# Names are found by their blind index (sealed rows) or as written (rows not sealed yet); the
# caller puts people in name order, which sealed rows cannot be sorted by here.
FIND_USERS = f"""
SELECT {USER_COLUMNS} FROM {USER_FROM}
WHERE u.name_idx = :name_idx OR (u.sealed IS NULL AND u.name = :text) OR u.user_key = :text
ORDER BY u.id
"""
LIST_ADMINS = f"SELECT {USER_COLUMNS} FROM {USER_FROM} WHERE u.role = 'admin' ORDER BY u.id"
USER_CLAIM = "SELECT roster_id FROM users WHERE user_key = :user_key"
# A user's department comes with a roster claim; registering without one keeps none.
UPSERT_USER = """
INSERT INTO users
    (user_key, name, member_no, department, sealed, name_idx, role, created_at, updated_at)
VALUES (:user_key, :name, :member_no, :department, :sealed, :name_idx, 'member', :now, :now)
ON CONFLICT (user_key) DO UPDATE SET
    name = excluded.name, member_no = excluded.member_no, department = excluded.department,
    sealed = excluded.sealed, name_idx = excluded.name_idx, updated_at = excluded.updated_at
"""
UPSERT_CLAIMING_USER = """
INSERT INTO users (user_key, name, member_no, department, sealed, name_idx, role, roster_id,
    created_at, updated_at)
VALUES (:user_key, :name, :member_no, :department, :sealed, :name_idx, 'member', :roster_id,
    :now, :now)
ON CONFLICT (user_key) DO UPDATE SET
    name = excluded.name, member_no = excluded.member_no, department = excluded.department,
    sealed = excluded.sealed, name_idx = excluded.name_idx,
    roster_id = excluded.roster_id, updated_at = excluded.updated_at
"""
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

# --- roster -------------------------------------------------------------------------------------
ROSTER_EXISTS = "SELECT n > 0 FROM counters WHERE name = 'roster'"
# Roster rows as (id, claimed by, sealed, person_idx, name, number, department): sealing.py
# opens the sealed ones. Found by blind index, or as written while not sealed yet.
ROSTER_ROW = "r.id, u.user_key, r.sealed, r.person_idx, r.name, r.member_no, r.department"
ROSTER_CANDIDATES = f"""
SELECT {ROSTER_ROW} FROM roster r LEFT JOIN users u ON u.roster_id = r.id
WHERE r.name_idx = :name_idx OR (r.sealed IS NULL AND r.name = :name) ORDER BY r.id
"""
ROSTER_FIND = f"""
SELECT {ROSTER_ROW} FROM roster r LEFT JOIN users u ON u.roster_id = r.id
WHERE r.person_idx = :person_idx
   OR (r.sealed IS NULL AND r.name = :name
       AND coalesce(r.member_no, '') = coalesce(:member_no, ''))
"""
ROSTER_INSERT = """
INSERT INTO roster (name, member_no, department, sealed, name_idx, person_idx)
VALUES (:name, :member_no, :department, :sealed, :name_idx, :person_idx)
"""
# A new department rewrites the whole entry (sealed together, or seals a plaintext one).
ROSTER_REWRITE = """
UPDATE roster SET name = :name, member_no = :member_no, department = :department,
    sealed = :sealed, name_idx = :name_idx, person_idx = :person_idx
WHERE id = :id
"""
ROSTER_LIST = f"SELECT {ROSTER_ROW} FROM roster r LEFT JOIN users u ON u.roster_id = r.id"

# --- conversation state -------------------------------------------------------------------------
# Inserts, or takes over an expired row (which load_context never showed anyone).
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

# --- surveys ------------------------------------------------------------------------------------
SURVEY_GET = f"SELECT {SURVEY_COLUMNS}, {SURVEYS_VERSION} FROM surveys s WHERE s.id = :survey_id"
SURVEY_BY_DRAFT = f"SELECT {SURVEY_COLUMNS} FROM surveys s WHERE s.draft_key = :draft_key"
SURVEY_EXISTS = "SELECT EXISTS (SELECT 1 FROM surveys WHERE id = :survey_id)"
SURVEY_ANONYMOUS = "SELECT anonymous FROM surveys WHERE id = :survey_id"
# ON CONFLICT covers a twin request publishing the same draft at the same moment.
SURVEY_INSERT = """
INSERT INTO surveys
    (title, description, questions, deadline_at, anonymous, created_by, created_at, draft_key)
VALUES
    (:title, :description, :questions, :deadline_at, :anonymous, :created_by, :now, :draft_key)
ON CONFLICT (draft_key) DO NOTHING
RETURNING id, title, description, questions, deadline_at, anonymous, closed_at, created_at,
    purged_at, summary_kept
"""
# Counters kept by the writes (migration 0003): what a read of them costs does not grow with the
# answers stored. RESPONDENTS and POPULATION are used inside "FROM surveys s".
RESPONDENTS = """(
    SELECT coalesce(sum(t.n), 0) FROM tallies t WHERE t.survey_id = s.id AND t.question = -1
)"""
# Everyone on the roster when there is one, else everyone registered.
POPULATION = """(
    SELECT CASE WHEN r.n > 0 THEN r.n ELSE u.n END
    FROM counters r, counters u WHERE r.name = 'roster' AND u.name = 'users'
)"""
# (question, choice, count) of one survey; choice -1 is the number of written texts.
CELLS = """
SELECT t.question, t.choice, sum(t.n) AS total FROM tallies t
WHERE t.survey_id = s.id AND t.question >= 0 GROUP BY t.question, t.choice
"""
LIST_ALL = f"SELECT {SURVEY_COLUMNS}, {RESPONDENTS}, FALSE FROM surveys s ORDER BY s.id DESC"
# The members' list shows no counts: counting every survey's responses on each 설문목록 is a scan
# per survey that grows with the answers stored (seen in the benchmark at 100k answers).
LIST_OPEN = f"""
SELECT {SURVEY_COLUMNS}, 0,
    EXISTS (SELECT 1 FROM took_part p WHERE p.survey_id = s.id AND p.user_id = :user_id)
FROM surveys s
WHERE s.closed_at IS NULL AND (s.deadline_at IS NULL OR s.deadline_at > :now)
ORDER BY s.id DESC
"""
CLOSE = f"UPDATE surveys SET closed_at = :now WHERE id = :survey_id AND {OPEN}"
REOPEN = f"""
UPDATE surveys SET
    closed_at = NULL,
    deadline_at = CASE WHEN deadline_at <= :now THEN NULL ELSE deadline_at END
WHERE id = :survey_id AND NOT ({OPEN}) AND purged_at IS NULL
"""
DELETE_SURVEY = "DELETE FROM surveys WHERE id = :survey_id"

# --- responses ----------------------------------------------------------------------------------
RESPONSE_GET = """
SELECT answers, submitted_at FROM responses
WHERE survey_id = :survey_id AND respondent = :respondent
"""


def pending_page(j: JsonSql) -> str:
    """The survey, its counters and one page of who has not answered it, in one statement.

    People are read in name order after the cursor (:after_name, :after_number, :after_id), at
    most :scan of them; those who have not answered, at most :limit, are returned with their
    cursor, and so is the :scan-th person (the end of what this page may look at), if there is
    one. Reading stops as soon as the page is full, and each person costs one lookup in took_part
    (a view, migration 0002): a page costs the same with a thousand or a million people.
    """
    person = f"""{j.array}(p.name, p.member_no, p.department, p.registered, p.number, p.id,
        p.sealed, p.identity, p.kind)"""
    end = f"{j.array}(p.name, p.number, p.id)"
    waiting = (
        "NOT EXISTS (SELECT 1 FROM took_part x WHERE x.survey_id = s.id AND x.user_id = w.uid)"
    )

    def page(people: str, order: str, keys: str) -> str:
        """[[people...], [the scan-th person]] of `people` in `order` (after the cursor).

        `keys` is the same order on the window's columns: the planner then sees the window is
        already sorted and stops reading it once the page is full.
        """
        window = f"{people} ORDER BY {order}"
        found = j.rows(person, "p.name, p.number, p.id",
                       f"""SELECT * FROM ({window} LIMIT :scan) AS w
                       WHERE w.uid IS NULL OR {waiting}
                       ORDER BY {keys} LIMIT :limit""")  # fmt: skip
        last = j.rows(end, "p.name", f"{window} LIMIT 1 OFFSET :scan - 1")
        return f"{j.array}({j.embed}({found}), {j.embed}({last}))"

    roster = page(
        """SELECT r.name, r.member_no, r.department, u.id IS NOT NULL AS registered,
            coalesce(r.member_no, '') AS number, r.id, u.id AS uid,
            r.sealed, r.person_idx AS identity, 'r' AS kind
        FROM roster r LEFT JOIN users u ON u.roster_id = r.id
        WHERE (r.name, coalesce(r.member_no, ''), r.id) > (:after_name, :after_number, :after_id)""",
        "r.name, coalesce(r.member_no, ''), r.id",
        "w.name, w.number, w.id",
    )
    users = page(
        """SELECT u.name, u.member_no, u.department, TRUE AS registered, '' AS number, u.id,
            u.id AS uid, u.sealed, u.user_key AS identity, 'u' AS kind
        FROM users u WHERE (u.name, u.id) > (:after_name, :after_id)""",
        "u.name, u.id",
        "w.name, w.id",
    )
    return f"""
SELECT {SURVEY_COLUMNS}, {RESPONDENTS}, {POPULATION},
    CASE WHEN (SELECT n FROM counters WHERE name = 'roster') > 0 THEN {roster} ELSE {users} END
FROM surveys s WHERE s.id = :survey_id
"""


def results(j: JsonSql) -> str:
    """The survey, its counters (migration 0003) and the latest texts, in one statement.

    Named surveys show the newest texts (the export index, read backwards); anonymous ones show
    texts in respondent order, a keyed hash that says nothing about who wrote when.
    """
    text = j.text_at.format(i="q.i")

    def latest(columns: str, where: str, order: str) -> str:
        select = f"""SELECT {text} AS txt, x.respondent AS who, {columns} FROM responses x
            WHERE x.survey_id = s.id AND {where} AND {text} <> {j.blank}
            ORDER BY {order} LIMIT :latest"""
        item = f"{j.array}({j.embed}(t.txt), t.who)"  # [the stored text, its respondent]
        return j.rows(item, order.replace("x.", "t."), select, alias="t")

    named = latest("x.submitted_at, x.id", "NOT s.anonymous", "x.submitted_at DESC, x.id DESC")
    hidden = latest("x.respondent", "s.anonymous", "x.respondent")
    texts = f"{j.array}(q.i, {j.embed}(CASE WHEN s.anonymous THEN {hidden} ELSE {named} END))"
    cells = f"{j.array}(c.question, c.choice, c.total)"
    return f"""
SELECT {SURVEY_COLUMNS}, {RESPONDENTS}, {POPULATION},
    {j.rows(cells, "c.question, c.choice", CELLS, alias="c")},
    {j.rows(texts, "q.i", j.text_questions, alias="q")}
FROM surveys s WHERE s.id = :survey_id
"""


# Named responses carry the name they were given under (sealed, or as written before); older
# rows fall back to the person. SqlStore._export opens each row as it is streamed.
EXPORT_NAMED = """
SELECT x.answers, x.respondent, x.answered_sealed, x.answered_as, x.answered_no,
    u.user_key, u.sealed, u.name, u.member_no, u.department,
    r.id, r.person_idx, r.sealed, r.name, r.member_no, r.department,
    x.submitted_at
FROM responses x
LEFT JOIN users u ON u.id = x.user_id
LEFT JOIN roster r ON r.id = u.roster_id
WHERE x.survey_id = :survey_id
ORDER BY x.submitted_at, x.id
"""
# The respondent is a keyed hash, so its order says nothing about who answered when.
EXPORT_ANONYMOUS = """
SELECT answers, respondent FROM responses WHERE survey_id = :survey_id ORDER BY respondent
"""
