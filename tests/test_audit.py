"""The audit trail: one row per admin action, append-only, and a hash chain that shows tampering."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from support.chat_fixtures import publish
from support.chat_helper import Person
from surveybot import audit
from surveybot.audit import Action, Actor, AuditRecord, Event, Target, Via, chain_hash, fields
from surveybot.cli import main
from surveybot.conversation.auditing import describe
from surveybot.domain import RosterEntry
from surveybot.store.base import Store
from surveybot.store.postgres import PostgresStore
from surveybot.store.sqlite import SqliteStore

NOW = datetime(2026, 12, 3, 7, 30, tzinfo=UTC)


def actions(store: Store) -> list[tuple[str, int | None, int | None]]:
    """(action, actor id, target id) of every record, oldest first."""
    records = reversed(store.audit_page(limit=1000))
    return [(r.event.action.value, r.actor.user_id, r.event.target_id) for r in records]


# --- through the chat: every admin command leaves exactly its row ---------------------------------
def test_every_admin_command_records_one_row_with_its_actor(
    store: Store, admin: Person, member: Person, person: Callable[[str], Person]
) -> None:
    admin_id = store.find_users("김관리")[0].id
    member_id = store.find_users("이회원")[0].id
    assert actions(store) == [("role.grant", admin_id, admin_id)]  # 관리자인증: by themselves

    number = publish(admin)
    admin.say(f"마감 {number}")
    admin.say(f"마감 {number}")  # refused (closed already): no row
    admin.say(f"재개 {number}")
    admin.say(f"다운로드 {number}")
    admin.say("관리자지정 이회원")
    admin.say("관리자지정 이회원")  # unchanged: no row
    admin.say("관리자해제 이회원")
    member.say(f"마감 {number}")  # not an admin any more: refused, no row
    admin.say(f"삭제 {number}")
    admin.tap("삭제 확인")
    admin.say(f"삭제확인 {number}")  # gone already: no row

    assert actions(store) == [
        ("role.grant", admin_id, admin_id),
        ("survey.publish", admin_id, number),
        ("survey.close", admin_id, number),
        ("survey.reopen", admin_id, number),
        ("export.issue", admin_id, number),
        ("role.grant", admin_id, member_id),
        ("role.revoke", admin_id, member_id),
        ("survey.delete", admin_id, number),
    ]
    assert store.verify_audit().intact


def test_the_export_download_is_recorded_as_a_web_action(store: Store, admin: Person) -> None:
    number = publish(admin)
    admin.say(f"다운로드 {number}")
    card = admin.last["template"]["outputs"][0]["textCard"]
    for button, kind in zip(card["buttons"], ("csv", "xlsx"), strict=True):
        url = button["webLinkUrl"].removeprefix("https://bot.example.test")
        assert admin.client.simulate_get(url).status_code == 200
        newest = store.audit_page(limit=1)[0]
        assert (newest.event.action, newest.event.detail) == (Action.EXPORT_DOWNLOAD, kind)
        assert newest.actor == Actor(store.find_users("김관리")[0].id, Via.WEB)


def test_history_pages_newest_first(store: Store, admin: Person) -> None:
    number = publish(admin)
    for _ in range(12):  # 24 more rows: two pages
        admin.say(f"마감 {number}")
        admin.say(f"재개 {number}")
    first = admin.say("기록")
    assert "1쪽" in first
    lines = [line for line in first.splitlines() if line.startswith("#")]
    assert len(lines) == 20
    assert lines[0].startswith("#26 ") and "재개" in lines[0] and "김관리" in lines[0]
    second = admin.tap("다음")
    older = [line for line in second.splitlines() if line.startswith("#")]
    assert [line.split()[0] for line in older] == ["#6", "#5", "#4", "#3", "#2", "#1"]
    assert "관리자 지정" in older[-1]


def test_history_of_one_survey(store: Store, admin: Person) -> None:
    first = publish(admin)
    second = publish(admin)
    admin.say(f"마감 {first}")
    admin.say(f"마감 {second}")
    admin.say(f"재개 {first}")
    lines = [line for line in admin.say(f"기록 {first}").splitlines() if line.startswith("#")]
    assert [line.split(": ")[1].split(" · ")[0] for line in lines] == ["재개", "마감", "설문 게시"]
    assert all(f"{first}번 설문" in line for line in lines)
    assert "기록 <설문 번호>" in admin.say("기록 송년회")  # not a number: says how, shows nothing
    assert "기록이 없습니다" in admin.say("기록 99")


def test_members_cannot_read_the_history(store: Store, admin: Person, member: Person) -> None:
    publish(admin)
    reply = member.say("기록")
    assert "#1" not in reply and "관리자" in reply  # the admin-only refusal


def test_roster_and_reminder_changes_are_recorded(store: Store) -> None:
    store.import_roster([RosterEntry("홍길동", "1", "총무")], audit.CLI)
    result = store.release_claim("홍길동", "1", audit.by(7))  # nobody claimed it: no row
    assert result.outcome.value == "not_claimed"
    kinds = [(r.event.action, r.actor.via, r.event.detail) for r in store.audit_page()]
    assert kinds == [(Action.ROSTER_IMPORT, Via.CLI, "entries=1 added=1 updated=0")]


# --- the store: order, atomicity, append-only -----------------------------------------------------
def test_concurrent_appends_get_consecutive_numbers_and_one_chain(store: Store) -> None:
    def work(worker: int) -> None:
        for i in range(10):
            event = Event(Action.EXPORT_ISSUE, Target.SURVEY, worker * 100 + i)
            store.record_audit(audit.by(worker), event, NOW + timedelta(seconds=i))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(1, 7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    records = store.audit_page(limit=100)
    assert sorted(r.seq for r in records) == list(range(1, 61))
    assert len({r.event.target_id for r in records}) == 60
    check = store.verify_audit()
    assert check.intact and check.rows == 60 and check.head_seq == 60


def test_the_chain_is_the_same_in_sql_and_in_python(store: Store) -> None:
    """PostgreSQL's surveybot_audit_hash and SQLite's registered function agree with audit.py."""
    actor = audit.by(42)
    event = Event(Action.ROSTER_IMPORT, Target.ROSTER, None, "줄바꿈\n과 12:34 콜론")
    store.record_audit(actor, event, NOW)
    record = store.audit_page()[0]
    assert record.at == NOW
    assert record.hash == chain_hash(audit.GENESIS, *fields(1, NOW, actor, event))


def test_app_role_cannot_change_or_remove_rows_on_postgres(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    try:
        store.migrate()
        store.record_audit(audit.CLI, Event(Action.ROSTER_IMPORT, Target.ROSTER), NOW)
    finally:
        store.close()
    forbidden = [
        "UPDATE audit_log SET detail = 'nothing happened'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "UPDATE audit_head SET seq = 0",
        "DELETE FROM audit_head",
    ]
    with psycopg.connect(pg_url, autocommit=True) as conn:  # the app's own role
        for statement in forbidden:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
        assert conn.execute("SELECT count(*) FROM audit_log").fetchone() == (1,)


def test_rows_cannot_be_changed_or_removed_on_sqlite(sqlite_path: str) -> None:
    store = SqliteStore(sqlite_path)
    store.migrate()
    store.record_audit(audit.CLI, Event(Action.ROSTER_IMPORT, Target.ROSTER), NOW)
    store.close()
    conn = sqlite3.connect(sqlite_path)
    for statement in ("UPDATE audit_log SET detail = 'x'", "DELETE FROM audit_log",
                      "UPDATE audit_head SET seq = 0", "DELETE FROM audit_head"):  # fmt: skip
        with pytest.raises(sqlite3.IntegrityError, match="append-only|one step"):
            conn.execute(statement)
    conn.close()


@pytest.mark.parametrize("tamper", ["edit", "drop_last", "drop_middle"])
def test_verify_finds_a_tampered_trail_on_postgres(pg_url: str, tamper: str) -> None:
    store = PostgresStore(pg_url)
    try:
        store.migrate()
        for n in range(1, 5):
            store.record_audit(audit.by(n), Event(Action.CLOSE, Target.SURVEY, n), NOW)
        assert store.verify_audit().intact
        # Someone with the owner's rights switches the guard off, and changes history.
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
            conn.execute(
                {
                    "edit": "UPDATE audit_log SET actor_id = 99 WHERE seq = 2",
                    "drop_last": "DELETE FROM audit_log WHERE seq = 4",
                    "drop_middle": "DELETE FROM audit_log WHERE seq = 2",
                }[tamper]
            )
        check = store.verify_audit()
    finally:
        store.close()
    assert not check.intact
    assert check.broken_at == {"edit": 2, "drop_last": 4, "drop_middle": 3}[tamper]


def test_cli_verify_and_csv(
    cli_database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = cli_database
    assert main(["migrate"]) == 0
    roster = tmp_path / "roster.csv"
    roster.write_text("이름,번호,부서\n=HYPERLINK(\"x\"),1,총무\n", encoding="utf-8")
    assert main(["roster", "import", str(roster)]) == 0
    capsys.readouterr()
    assert main(["audit", "--csv"]) == 0
    lines = capsys.readouterr().out.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("seq,at (KST),via")
    assert lines[1].startswith("1,") and ",cli,," in lines[1] and "roster.import" in lines[1]
    assert main(["audit", "--verify"]) == 0
    assert "intact: 1 records" in capsys.readouterr().out
    conn = sqlite3.connect(database)
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("UPDATE audit_log SET detail = 'entries=0' WHERE seq = 1")
    conn.commit()
    conn.close()
    assert main(["audit", "--verify"]) == 1
    assert "BROKEN at record 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["audit", "--since", "not-a-day"])


# --- the chain itself (no database) ---------------------------------------------------------------
_texts = st.text(max_size=20)
_events = st.builds(
    Event,
    st.sampled_from(list(Action)),
    st.sampled_from(list(Target)),
    st.none() | st.integers(0, 2**40),
    _texts,
)
_actors = st.builds(Actor, st.none() | st.integers(1, 2**40), st.sampled_from(list(Via)))


def _chain(items: list[tuple[Actor, Event]]) -> list[AuditRecord]:
    records, prev = [], audit.GENESIS
    for seq, (actor, event) in enumerate(items, start=1):
        at = NOW + timedelta(microseconds=seq)
        prev = chain_hash(prev, *fields(seq, at, actor, event))
        records.append(AuditRecord(seq, at, actor, event, prev))
    return records


@pytest.mark.unit
@given(st.lists(st.tuples(_actors, _events), min_size=1, max_size=8), st.data())
def test_any_changed_field_breaks_the_chain_there(
    items: list[tuple[Actor, Event]], data: st.DataObject
) -> None:
    records = _chain(items)
    head = records[-1]
    assert audit.verify(records, head.seq, head.hash).intact
    index = data.draw(st.integers(0, len(records) - 1))
    original = records[index]
    changed_event = data.draw(_events.filter(lambda e: e != original.event))
    records[index] = replace(original, event=changed_event)
    check = audit.verify(records, head.seq, head.hash)
    assert check.broken_at == original.seq


@pytest.mark.unit
def test_describe_names_who_did_what() -> None:
    record = AuditRecord(
        7, NOW, audit.by(3), Event(Action.CLOSE, Target.SURVEY, 5), "0" * 64, "김관리", "회식"
    )
    assert describe(record) == "#7 12/03 16:30 김관리: 마감 · 5번 설문 회식"
    cli = replace(record, actor=audit.CLI, event=Event(Action.ROSTER_IMPORT, Target.ROSTER,
                                                          None, "entries=3 added=3 updated=0"))
    assert describe(cli) == "#7 12/03 16:30 운영자(서버): 명단 가져오기 (entries=3 added=3 updated=0)"
