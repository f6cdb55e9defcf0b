"""Seed a surveybot database before a load test: members, admins, surveys, pre-filled answers.

    python -m loadtest.seed --sqlite data/load.sqlite3 --members 1000 --answers 0
    python -m loadtest.seed --database-url postgresql://... --members 1000 --answers 1000000

The database must already be migrated (`surveybot migrate`, or `--migrate` here, which needs the
surveybot package: run this with .venv/bin/python) and hold no people (`--reset` empties it first).

Rows are written exactly as the app writes them (service/surveybot/store/*.py): users with role
'member'/'admin'; surveys with questions as the JSON of Question.to_json; responses keyed by
respondent 'u:<user id>' (named) or 'a:' + HMAC(SECRET_KEY, 'anon:<survey>:<user key>') (anonymous,
without user and time), answers a compact JSON list (option index, sorted index list, text; '' =
skipped); one participants row per response. Bulk writes: COPY on PostgreSQL, executemany in one
transaction on SQLite.

With keys (`--data-keys` and `--index-key`, by default $DATA_KEYS and $INDEX_KEY: the bot's own),
personal data is sealed as a bot with those keys seals it (surveybot.store.sealing, issue 13):
users rows blank with their name, number and department in `sealed` and the name's blind index in
`name_idx`; written text answers as {"s": <sealed>}; named responses with the name and number they
were given under in `answered_sealed`; the keys' check values in `keyring`, as a starting bot
registers them. Without keys everything is plaintext, as a bot with ENCRYPTION_DISABLED=true
writes it (named responses then carry no answered_as: the export falls back to the person).

`--answers N` puts N responses into one survey (`--answers-survey`, the first by default), from
members 1..N and, past --members, from extra registered people `load-extra-0000001`...: a survey
with N respondents needs N people, so those extra people count in response rates and 미응답 lists.
"""

from __future__ import annotations

import argparse
import functools
import os
import sqlite3
import sys
import time
from datetime import UTC, datetime
from typing import Any

from loadtest.kakao import SEED_SURVEYS, admin_key
from loadtest.seed_plan import Plan
from loadtest.seed_rows import Rows, keyring_of

SQLITE_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"  # store/sqlite.py TIME_FORMAT
TABLES = (
    "participants",
    "responses",
    "sessions",
    "admin_code_failures",
    "surveys",
    "users",
    "roster",
    "keyring",  # the keys of the data deleted with it (a plaintext seed after a sealed one)
)


@functools.lru_cache(maxsize=8192)  # the answers' times come from a small pool
def sqlite_time(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime(SQLITE_TIME)


# --- SQLite -------------------------------------------------------------------------------------------
def seed_sqlite(path: str, plan: Plan, reset: bool, keyring: Any = None) -> dict[str, int]:
    rows = Rows(plan, keyring)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA journal_mode = WAL")  # as the app opens it
        # This connection only: a seed that dies half-way is simply run again with --reset.
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -262144")  # 256 MiB, so index pages stay in memory
        _require_schema(conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"))
        conn.execute("BEGIN IMMEDIATE")
        try:
            if reset:
                for table in TABLES:
                    conn.execute(f"DELETE FROM {table}")  # fixed table names
                conn.execute("DELETE FROM sqlite_sequence WHERE name = 'surveys'")
            _require_empty(conn.execute("SELECT count(*) FROM users").fetchone()[0])
            _sqlite_keyring(conn, rows)
            now = sqlite_time(plan.now)
            conn.executemany(_insert("users", rows.user_columns), rows.users(now))
            ids = {
                key: int(user_id) for user_id, key in conn.execute("SELECT id, user_key FROM users")
            }
            creator = ids.get(admin_key(1))
            survey_ids = []
            for survey in plan.surveys():
                row = conn.execute(
                    "INSERT INTO surveys (title, description, questions, deadline_at, anonymous,"
                    " created_by, created_at, draft_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                    " RETURNING id",
                    (
                        survey["title"],
                        survey["description"],
                        survey["questions"],
                        sqlite_time(survey["deadline_at"]),
                        int(survey["anonymous"]),
                        creator,
                        now,
                        survey["draft_key"],
                    ),
                ).fetchone()
                survey_ids.append(int(row[0]))
            answered = survey_ids[plan.answers_survey - 1]
            anonymous = bool(SEED_SURVEYS[plan.answers_survey - 1]["anonymous"])
            participants: list[int] = []
            conn.executemany(
                _insert("responses", rows.response_columns),
                rows.responses(answered, anonymous, ids, participants, sqlite_time),
            )
            conn.executemany(
                "INSERT INTO participants (survey_id, user_id) VALUES (?, ?)",
                ((answered, user_id) for user_id in participants),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("ANALYZE")
        return {"people": len(ids), "surveys": len(survey_ids), "answers": len(participants)}
    finally:
        conn.close()


def _insert(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def _sqlite_keyring(conn: sqlite3.Connection, rows: Rows) -> None:
    rows.check_keyring(conn.execute("SELECT purpose, key_id, check_value FROM keyring"))
    conn.executemany(
        "INSERT INTO keyring (purpose, key_id, check_value) VALUES (?, ?, ?)"
        " ON CONFLICT (purpose, key_id) DO NOTHING",
        rows.keyring_rows(),
    )


# --- PostgreSQL ---------------------------------------------------------------------------------------
def seed_postgres(url: str, plan: Plan, reset: bool, keyring: Any = None) -> dict[str, int]:
    import psycopg  # only here: a SQLite seed needs no PostgreSQL driver

    rows = Rows(plan, keyring)

    with psycopg.connect(url, autocommit=False) as conn:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = current_schema()"
            )
            _require_schema(cur.fetchall())
            _skip_foreign_key_triggers(conn)
            if reset:
                cur.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
            cur.execute("SELECT count(*) FROM users")
            _require_empty(cur.fetchone()[0])
            cur.execute("SELECT purpose, key_id, check_value FROM keyring")
            rows.check_keyring(cur.fetchall())
            cur.executemany(
                "INSERT INTO keyring (purpose, key_id, check_value) VALUES (%s, %s, %s)"
                " ON CONFLICT (purpose, key_id) DO NOTHING",
                rows.keyring_rows(),
            )
            with cur.copy(f"COPY users ({', '.join(rows.user_columns)}) FROM STDIN") as copy:
                for row in rows.users(plan.now):
                    copy.write_row(row)
            cur.execute("SELECT id, user_key FROM users")
            ids = {key: int(user_id) for user_id, key in cur.fetchall()}
            survey_ids = []
            for survey in plan.surveys():
                cur.execute(
                    "INSERT INTO surveys (title, description, questions, deadline_at, anonymous,"
                    " created_by, created_at, draft_key) VALUES (%s, %s, %s::jsonb, %s, %s, %s, %s,"
                    " %s) RETURNING id",
                    (
                        survey["title"],
                        survey["description"],
                        survey["questions"],
                        survey["deadline_at"],
                        survey["anonymous"],
                        ids.get(admin_key(1)),
                        plan.now,
                        survey["draft_key"],
                    ),
                )
                survey_ids.append(int(cur.fetchone()[0]))
            answered = survey_ids[plan.answers_survey - 1]
            anonymous = bool(SEED_SURVEYS[plan.answers_survey - 1]["anonymous"])
            participants: list[int] = []
            columns = ", ".join(rows.response_columns)
            with cur.copy(f"COPY responses ({columns}) FROM STDIN") as copy:
                for row in rows.responses(answered, anonymous, ids, participants):
                    copy.write_row(row)
            count = len(participants)
            if anonymous:
                # As the bot writes it (migration 0002): one unordered set, no row per person.
                cur.execute(
                    "INSERT INTO anonymous_participation (survey_id, user_ids) VALUES (%s, %s)",
                    (answered, sorted(set(participants))),
                )
            else:
                with cur.copy("COPY participants (survey_id, user_id) FROM STDIN") as copy:
                    for user_id in participants:
                        copy.write_row((answered, user_id))
            # COPY under session_replication_role = replica skipped the triggers that keep the
            # counters (migration 0003): count them once from the rows.
            cur.execute("SELECT surveybot_recount()")
        conn.commit()
        conn.autocommit = True
        # As autovacuum leaves a table that has settled: statistics, and a visibility map so
        # index-only scans (the 미응답 page's window) need not visit the heap.
        conn.execute("VACUUM ANALYZE")
    return {"people": len(ids), "surveys": len(survey_ids), "answers": count}


def _skip_foreign_key_triggers(conn: Any) -> None:
    """The rows are consistent by construction; per-row FK triggers would triple the load time.

    Needs a superuser (or the right to set session_replication_role); otherwise they stay on.
    """
    import psycopg

    try:
        with conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")
    except psycopg.errors.InsufficientPrivilege:
        pass


def _require_schema(rows: Any) -> None:
    names = {row[0] for row in rows}
    missing = [table for table in TABLES if table not in names]
    if missing:
        raise SystemExit(
            f"seed: the database has no {', '.join(missing)} table: run `surveybot migrate` "
            "first, or pass --migrate"
        )


def _require_empty(users: int) -> None:
    if users:
        raise SystemExit(f"seed: the database already has {users} people; pass --reset to empty it")


def migrate(database_url: str | None, sqlite_path: str) -> None:
    try:
        from surveybot.store import open_store
    except ImportError:
        raise SystemExit("seed --migrate needs surveybot: run it with .venv/bin/python") from None
    store = open_store(database_url, sqlite_path)
    try:
        store.migrate()
    finally:
        store.close()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--database-url", help="postgresql://user:pass@host/db")
    target.add_argument("--sqlite", metavar="PATH", help="an SQLite database file")
    parser.add_argument("--members", type=int, default=1000, help="registered members (1000)")
    parser.add_argument("--admins", type=int, default=5, help="admins (5)")
    parser.add_argument("--answers", type=int, default=0, help="pre-filled responses (0)")
    parser.add_argument(
        "--answers-survey",
        type=int,
        default=1,
        choices=range(1, len(SEED_SURVEYS) + 1),
        help="which seeded survey holds them (1; 4 is the anonymous one and needs the secret key)",
    )
    parser.add_argument(
        "--secret-key",
        default=os.environ.get("SECRET_KEY"),
        help="the bot's SECRET_KEY, for anonymous answers (default: $SECRET_KEY)",
    )
    parser.add_argument(
        "--data-keys",
        default=os.environ.get("DATA_KEYS"),
        help="seal personal data with these keys, as the bot given them (default: $DATA_KEYS)",
    )
    parser.add_argument(
        "--index-key",
        default=os.environ.get("INDEX_KEY"),
        help="the blind-index key that goes with --data-keys (default: $INDEX_KEY)",
    )
    parser.add_argument("--migrate", action="store_true", help="apply migrations first")
    parser.add_argument("--reset", action="store_true", help="delete all data first")
    args = parser.parse_args(argv)
    if args.members < 0 or args.admins < 1 or args.answers < 0:
        parser.error("--members and --answers must be >= 0, --admins >= 1")
    if SEED_SURVEYS[args.answers_survey - 1]["anonymous"] and args.answers and not args.secret_key:
        parser.error("anonymous answers need --secret-key (the bot's SECRET_KEY)")
    if bool(args.data_keys) != bool(args.index_key):
        parser.error("--data-keys and --index-key go together (or neither: plaintext)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = Plan(
        members=args.members,
        admins=args.admins,
        answers=args.answers,
        answers_survey=args.answers_survey,
        secret_key=args.secret_key.encode() if args.secret_key else None,
        now=datetime.now(UTC),
    )
    keyring = keyring_of(args)
    started = time.perf_counter()
    if args.migrate:
        migrate(args.database_url, args.sqlite or "")
    if args.database_url:
        counts = seed_postgres(args.database_url, plan, args.reset, keyring)
        where = "postgresql"
    else:
        counts = seed_sqlite(args.sqlite, plan, args.reset, keyring)
        where = f"sqlite {args.sqlite}"
    elapsed = time.perf_counter() - started
    sealed = "plaintext" if keyring is None else f"sealed with key '{keyring.primary}'"
    print(
        f"seeded {where}: {counts['people']} people ({args.members} members, {args.admins} admins),"
        f" {counts['surveys']} surveys, {counts['answers']} answers to survey"
        f" {args.answers_survey}, {sealed}, in {elapsed:.1f} s",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
