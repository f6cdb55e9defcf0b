"""scripts/backup and scripts/restore against a real PostgreSQL (as they work with DATABASE_URL,
outside compose): a round trip, files only their owner may read, and a failed restore that
changes nothing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psycopg
import pytest

from devstack.postgres import Server

# The scripts run pg_dump and psql.
pytestmark = pytest.mark.system
ROOT = Path(__file__).resolve().parent.parent


def script(name: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts" / name), *args], capture_output=True, text=True, timeout=60,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
    )  # fmt: skip


def test_backup_and_restore_round_trip(pg_server: Server, tmp_path: Path) -> None:
    source, target = pg_server.create_database(), pg_server.create_database()
    try:
        with psycopg.connect(source, autocommit=True) as conn:
            conn.execute("CREATE TABLE answers (id int PRIMARY KEY, text text)")
            conn.execute("INSERT INTO answers VALUES (1, '참석'), (2, '불참')")
        with psycopg.connect(target, autocommit=True) as conn:
            conn.execute("CREATE TABLE newer (id int)")  # a table the dump does not know
        dump = tmp_path / "backups" / "surveybot-20260101T000000Z.dump"
        done = script("backup", str(dump), env={"DATABASE_URL": source, "KEEP": "1"})
        assert done.returncode == 0, done.stderr
        assert dump.read_bytes()[:5] == b"PGDMP" and not list(dump.parent.glob("*.partial"))
        # It holds every answer: only its owner may read it, whatever the caller's umask.
        assert dump.stat().st_mode & 0o777 == 0o600
        assert dump.parent.stat().st_mode & 0o777 == 0o700

        refused = script("restore", str(dump), env={"DATABASE_URL": target})
        assert refused.returncode == 2 and "--yes" in refused.stderr
        done = script("restore", str(dump), "--yes", env={"DATABASE_URL": target})
        assert done.returncode == 0, done.stderr
        with psycopg.connect(target) as conn:
            rows = conn.execute("SELECT id, text FROM answers ORDER BY id").fetchall()
            tables = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            assert rows == [(1, "참석"), (2, "불참")]
            assert [name for (name,) in tables] == ["answers"]
    finally:
        for url in (source, target):
            pg_server.drop_database(url.rsplit("/", 1)[1])


def test_a_failed_restore_changes_nothing(pg_server: Server, tmp_path: Path) -> None:
    target = pg_server.create_database()
    try:
        with psycopg.connect(target, autocommit=True) as conn:
            conn.execute("CREATE TABLE answers (id int)")
        broken = tmp_path / "broken.dump"
        broken.write_bytes(b"PGDMP" + b"\0" * 64)
        done = script("restore", str(broken), "--yes", env={"DATABASE_URL": target})
        assert done.returncode != 0
        with psycopg.connect(target) as conn:
            assert conn.execute("SELECT count(*) FROM answers").fetchone() == (0,)
    finally:
        pg_server.drop_database(target.rsplit("/", 1)[1])
