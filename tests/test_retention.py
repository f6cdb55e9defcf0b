"""`surveybot purge`: answers of long-closed surveys go, what is left says so, nothing else moves."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import falcon.testing
import psycopg
import pytest

from support.chat_fixtures import ADMIN_CODE, answer_all, publish
from support.chat_helper import Clock, Person
from support.results_links import path, results_page_url
from support.store_helpers import raw
from surveybot import audit
from surveybot.app import create_app
from surveybot.audit import Action
from surveybot.cli import main
from surveybot.config import Config
from surveybot.store.base import Store
from surveybot.store.postgres import PostgresStore
from surveybot.store.sqlite import SqliteStore

BEFORE = datetime(2027, 1, 1, tzinfo=UTC)  # after the example survey's deadline (2026-12-10)
TEXT = "주차 공간이 있으면 좋겠습니다"  # answer_all's free text


def answered_survey(
    store: Store, admin: Person, person: Callable[[str], Person], clock: Clock
) -> tuple[int, str]:
    """A survey two people answered, closed by its deadline; returns it and its results text."""
    number = publish(admin)
    for key, name in (("p1", "박하나"), ("p2", "최두리")):
        someone = person(key)
        someone.say(f"등록 {name}")
        assert "저장되었습니다" in answer_all(someone, number)
    boss = store.find_users("김관리")[0]
    queued = store.queue_manual_reminder(number, 1, boss.id, clock())  # the one left: the admin
    assert queued.people == 1
    clock.advance(days=20)  # past the deadline
    return number, admin.say(f"결과 {number}")


def counts(results_text: str) -> list[str]:
    """The lines of a results text that carry a count per option."""
    return [line for line in results_text.splitlines() if ": " in line and "명 (" in line]


@pytest.mark.parametrize("keep", [True, False], ids=["keep-summary", "drop-all"])
def test_purge_deletes_the_answers_and_says_so(
    store: Store,
    admin: Person,
    person: Callable[[str], Person],
    clock: Clock,
    keep: bool,
) -> None:
    number, before = answered_survey(store, admin, person, clock)
    assert TEXT in before and "응답 2명" in before
    admin.say(f"다운로드 {number}")
    buttons = admin.last["template"]["outputs"][0]["textCard"]["buttons"]
    links = [button["webLinkUrl"] for button in buttons]  # the CSV and the .xlsx

    candidates = store.purge_candidates(BEFORE, clock())
    assert [s.id for s in candidates] == [number]
    done = store.purge_survey(candidates[0], BEFORE, keep, clock(), audit.CLI)
    assert done is not None and done.responses == 2
    assert store.purge_survey(candidates[0], BEFORE, keep, clock(), audit.CLI) is None  # once

    after = admin.say(f"결과 {number}")
    assert "파기" in after and TEXT not in after
    if keep:
        assert counts(after) == counts(before) and counts(after)  # the summary, unchanged
        page = admin.client.simulate_get(path(results_page_url(admin, number)))
        assert page.status_code == 200 and 'id="purged-notice"' in page.text
        assert TEXT not in page.text
    else:
        assert not counts(after) and "응답 2명" not in after
    assert "파기" in admin.say(f"미응답 {number}") and "박하나" not in admin.text
    assert "파기" in admin.say(f"다운로드 {number}")
    for link in links:  # a link issued before the purge gives no empty file
        gone = admin.client.simulate_get(link.removeprefix("https://bot.example.test"))
        assert gone.status_code == 410, link
    assert "다시 열 수 없" in admin.say(f"재개 {number}")
    assert "파기됨" in admin.say("설문관리")
    mine = person("p1").say(f"내응답 {number}")
    assert "파기" in mine and "참석" not in mine  # not "you never answered", and no answer
    assert store.get_response(number, str(store.find_users("박하나")[0].id)) is None
    assert raw(store, "SELECT count(*) FROM participants WHERE survey_id = ?", number) == [(0,)]
    assert raw(store, "SELECT count(*) FROM reminder_outbox") == [(0,)]  # whom it reminded
    newest = store.audit_page(limit=1)[0]
    assert newest.event.action is Action.PURGE and newest.event.target_id == number
    assert newest.event.detail == f"responses=2 summary={'kept' if keep else 'dropped'}"


def test_only_surveys_closed_before_the_day_are_purged(
    store: Store, admin: Person, person: Callable[[str], Person], clock: Clock
) -> None:
    number, _ = answered_survey(store, admin, person, clock)
    still_open = publish(admin, "설문만들기 상시 의견\nQ 의견")
    assert store.purge_candidates(datetime(2026, 12, 1, tzinfo=UTC), clock()) == []
    assert [s.id for s in store.purge_candidates(BEFORE, clock())] == [number]
    assert still_open != number


def test_a_purged_survey_cannot_be_reopened_even_in_sql(
    store: Store, admin: Person, person: Callable[[str], Person], clock: Clock
) -> None:
    number, _ = answered_survey(store, admin, person, clock)
    survey = store.purge_candidates(BEFORE, clock())[0]
    store.purge_survey(survey, BEFORE, True, clock())
    if isinstance(store, PostgresStore):
        with psycopg.connect(store.url) as conn, pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("UPDATE surveys SET closed_at = NULL WHERE id = %s", (number,))
    else:
        assert isinstance(store, SqliteStore)
        conn = sqlite3.connect(store.path)
        with pytest.raises(sqlite3.IntegrityError, match="stays closed"):
            conn.execute("UPDATE surveys SET closed_at = NULL WHERE id = ?", (number,))
        conn.close()


def test_a_recount_keeps_the_kept_summary(pg_store: Store, clock: Clock) -> None:
    """PostgreSQL's surveybot_recount() (after a bulk load) must not drop kept summaries."""
    config = Config(environment="development", admin_code=ADMIN_CODE)
    client = falcon.testing.TestClient(create_app(config, pg_store, now=clock))
    boss = Person(client, "admin-key")
    boss.say("등록 김관리")
    boss.say(f"관리자인증 {ADMIN_CODE}")
    number, before = answered_survey(pg_store, boss, lambda key: Person(client, key), clock)
    survey = pg_store.purge_candidates(BEFORE, clock())[0]
    pg_store.purge_survey(survey, BEFORE, True, clock())
    assert isinstance(pg_store, PostgresStore)
    with psycopg.connect(pg_store.url, autocommit=True) as conn:
        conn.execute("SELECT surveybot_recount()")
    assert counts(boss.say(f"결과 {number}")) == counts(before)


def test_cli_lists_first_and_purges_with_yes(
    cli_database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = cli_database
    assert main(["migrate"]) == 0
    conn = sqlite3.connect(database)
    conn.execute(
        "INSERT INTO surveys (title, description, questions, anonymous, closed_at, created_at,"
        " draft_key) VALUES ('옛 설문', '', '[{\"title\": \"의견\", \"kind\": \"text\"}]', 0,"
        " '2025-03-01T00:00:00.000000Z', '2025-02-01T00:00:00.000000Z', 'k1')"
    )
    conn.commit()
    conn.close()
    capsys.readouterr()
    assert main(["purge", "--closed-before", "2026-01-01"]) == 0
    listed = capsys.readouterr().out
    assert "would purge survey 1 '옛 설문'" in listed and "--yes" in listed
    assert main(["purge", "--closed-before", "2026-01-01", "--yes"]) == 0
    assert "purged survey 1" in capsys.readouterr().out
    assert main(["purge", "--closed-before", "2026-01-01", "--yes"]) == 0
    assert "nothing to purge" in capsys.readouterr().out
    assert main(["purge", "--closed-before", "2999-01-01"]) == 2
    assert main(["audit", "--verify"]) == 0
