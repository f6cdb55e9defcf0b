"""loadtest/seed.py: what it writes is what the app reads, plaintext or sealed with the bot's keys."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from loadtest.kakao import (
    FREE_TEXTS,
    SEED_SURVEYS,
    admin_key,
    admin_name,
    extra_key,
    member_key,
    member_name,
)
from loadtest.seed_plan import Plan

from support.keys import DATA_KEYS, INDEX_KEY, OLD_DATA_KEYS, TEST_KEYRING, keyring_of
from support.load_run import SECRET_KEY, run_seed
from support.store_helpers import database_bytes
from surveybot.conversation.context import Context, Settings
from surveybot.store import open_store
from surveybot.store.base import Store
from surveybot.store.keys_sql import TABLES, KeyProblem

pytestmark = pytest.mark.system  # seed.py runs as a process
NOW = datetime.now(UTC)


def _database(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str | None, str, list[str]]:
    """(database_url, sqlite_path, the seed.py target option) of a migrated, empty database."""
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_url")
        target = (url, "", ["--database-url", url])
    else:
        path = str(tmp_path / "load.sqlite3")
        target = (None, path, ["--sqlite", path])
    store = open_store(target[0], target[1])
    try:
        store.migrate()
    finally:
        store.close()
    return target


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str | None, str, list[str]]:
    return _database(request, tmp_path)


def _respondent(store: Store, key: str, survey_id: int) -> str:
    """The respondent key as the bot computes it (named or anonymous)."""
    user, _, _ = store.load_context(key, NOW)
    survey = store.get_survey(survey_id)
    assert user is not None and survey is not None
    settings = Settings(secret_key=SECRET_KEY.encode(), public_base_url="http://127.0.0.1")
    context = Context(store, settings, key, "", {}, NOW, user=user)
    return context.respondent(survey)


def test_seed_writes_what_the_app_reads(database: tuple[str | None, str, list[str]]) -> None:
    url, path, target = database
    done = run_seed(target, "--members", "20", "--admins", "2", "--answers", "30")
    assert done.returncode == 0, done.stderr
    store = open_store(url, path)
    try:
        member, _, _ = store.load_context(member_key(1), NOW)
        admin, _, _ = store.load_context(admin_key(2), NOW)
        assert member is not None and member.name == member_name(1) and not member.is_admin
        assert admin is not None and admin.is_admin
        assert store.load_context(extra_key(10), NOW)[0] is not None
        listed = store.list_open_surveys(member.id, NOW)
        assert sorted(s.survey.title for s in listed) == sorted(s["title"] for s in SEED_SURVEYS)
        assert [s.survey.anonymous for s in listed].count(True) == 1
        results = store.results(1)
        assert results is not None and (results.respondents, results.population) == (30, 32)
        mine = store.get_response(1, _respondent(store, member_key(1), 1))
        assert mine is not None and len(mine.answers) == 3 and mine.submitted_at is not None
        with store.export_rows(1) as rows:
            assert sum(1 for _ in rows) == 30
        pending = store.pending(1)
        assert pending is not None and len(pending.people) == 2  # the two admins
    finally:
        store.close()

    refused = run_seed(target)
    assert refused.returncode != 0 and "--reset" in refused.stderr

    # Anonymous answers are keyed by the bot's own HMAC of the person, and name nobody.
    done = run_seed(
        target,
        "--reset",
        "--members",
        "8",
        "--admins",
        "1",
        "--answers",
        "5",
        "--answers-survey",
        "4",
        "--secret-key",
        SECRET_KEY,
    )
    assert done.returncode == 0, done.stderr
    store = open_store(url, path)
    try:
        results = store.results(4)
        assert results is not None and results.respondents == 5 and results.survey.anonymous
        answer = store.get_response(4, _respondent(store, member_key(5), 4))
        assert answer is not None and answer.submitted_at is None
        assert store.get_response(4, _respondent(store, member_key(6), 4)) is None
        with store.export_rows(4) as rows:
            assert [row.name for row in rows] == [None] * 5
        pending = store.pending(4)
        assert pending is not None and len(pending.people) == 4  # 3 members and the admin
    finally:
        store.close()


def test_seed_with_keys_seals_as_the_app(database: tuple[str | None, str, list[str]]) -> None:
    """Sealed with the bot's keys: the bot reads every seeded row, `keys verify` finds nothing
    left to seal, and the database holds none of the names or written answers."""
    url, path, target = database
    keys = ("--data-keys", DATA_KEYS, "--index-key", INDEX_KEY)
    done = run_seed(target, "--members", "20", "--admins", "2", "--answers", "30", *keys)
    assert done.returncode == 0, done.stderr
    assert "sealed with key 't1'" in done.stdout
    store = open_store(url, path, keyring=TEST_KEYRING)
    try:
        store.check_keys()  # the seed registered the keys it sealed with, as a bot does
        plan = Plan(members=20, admins=2, answers=30, answers_survey=1, secret_key=None, now=NOW)
        ids = {}
        for person in plan.respondents():  # 20 members, then 10 extra people
            user, _, _ = store.load_context(person.key, NOW)
            assert user is not None and user.name == person.name
            assert user.member_no == person.member_no
            ids[person.key] = user.id
        admin, _, _ = store.load_context(admin_key(2), NOW)
        assert admin is not None and admin.name == admin_name(2) and admin.is_admin
        texts = 0
        for respondent, _, answers, _, _ in plan.responses(1, False, ids):
            stored = store.get_response(1, respondent)
            assert stored is not None and list(stored.answers) == json.loads(answers)
            texts += bool(stored.answers[2])
        assert texts > 0  # some written answers were sealed, and open right
        with store.export_rows(1) as rows:
            named = sorted((row.name, row.member_no) for row in rows)
        assert named == sorted((p.name, p.member_no) for p in plan.respondents())
        for table in TABLES:  # what `surveybot keys verify` checks
            after = None
            while True:
                batch = store.reseal(table, after, 1000, verify_only=True)
                assert (batch.due, batch.broken) == (0, []), table
                if (after := batch.after) is None:
                    break
    finally:
        store.close()
    other = open_store(url, path, keyring=keyring_of(OLD_DATA_KEYS))
    try:
        with pytest.raises(KeyProblem):  # a bot with other keys refuses to start on it
            other.check_keys()
    finally:
        other.close()
    held = database_bytes(url, path)
    assert SEED_SURVEYS[0]["title"].encode() in held  # what is not personal is still there
    names = {p.name for p in plan.people()}
    words = " ".join(json.dumps(s, ensure_ascii=False) for s in SEED_SURVEYS)
    secret = names | {text for text in FREE_TEXTS if text not in words}
    assert [value for value in sorted(secret) if value.encode() in held] == []

    # Anonymous answers, the keys from the environment as the bot has them: texts sealed too.
    env = {"DATA_KEYS": DATA_KEYS, "INDEX_KEY": INDEX_KEY}
    anonymous = ("--answers-survey", "4", "--secret-key", SECRET_KEY)
    done = run_seed(target, "--reset", "--members", "8", "--answers", "8", *anonymous, env=env)
    assert done.returncode == 0, done.stderr
    store = open_store(url, path, keyring=TEST_KEYRING)
    try:
        with store.export_rows(4) as rows:
            exported = list(rows)
        assert len(exported) == 8 and {row.name for row in exported} == {None}
        assert any(isinstance(a, str) and a for row in exported for a in row.answers)
        for table in TABLES:
            batch = store.reseal(table, None, 1000, verify_only=True)
            assert (batch.due, batch.broken, batch.after) == (0, [], None), table
    finally:
        store.close()
