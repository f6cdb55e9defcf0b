"""The `surveybot` command line: migrate, admin and roster management."""

from __future__ import annotations

from pathlib import Path

import pytest

from surveybot.cli import main
from surveybot.store import open_store

# The commands work on a SQLite file.
pytestmark = pytest.mark.store


def test_migrate_then_up_to_date(cli_database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate"]) == 0
    assert "applied: 0001" in capsys.readouterr().out
    assert main(["migrate"]) == 0
    assert "up to date" in capsys.readouterr().out


@pytest.fixture
def production(cli_database: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Production settings without any secret: each test sets what it needs."""
    monkeypatch.setenv("SURVEYBOT_ENV", "production")
    for name in ("SECRET_KEY", "SKILL_SECRET", "SKILL_SECRET_DISABLED"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_maintenance_commands_need_no_server_secrets(
    production: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch = production
    assert main(["migrate"]) == 0
    monkeypatch.setenv("DB_POOL_MAX", "many")
    assert main(["migrate"]) == 2
    assert "DB_POOL_MAX" in capsys.readouterr().err


def test_serve_refuses_production_without_the_skill_secret(
    production: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    production.setenv("SECRET_KEY", "cli-test-secret-key-0123456789")
    assert main(["serve"]) == 2  # before gunicorn is started
    error = capsys.readouterr().err
    assert "SKILL_SECRET" in error and "SKILL_SECRET_DISABLED=true" in error


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_data_command_before_migrating_says_to_migrate(
    backend: str,
    cli_database: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A newcomer's `surveybot admin grant` before the bot ever started: one line, no traceback."""
    if backend == "postgres":
        monkeypatch.setenv("DATABASE_URL", request.getfixturevalue("pg_url"))
    assert main(["admin", "list"]) == 2
    error = capsys.readouterr().err
    assert "run `surveybot migrate` first" in error and "Traceback" not in error, error
    assert main(["migrate"]) == 0
    assert main(["admin", "list"]) == 0


def test_admin_grant_list_revoke(cli_database: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["migrate"])
    store = open_store(None, str(cli_database))
    store.register("kakao-key-1", "홍길동", None)
    store.close()
    assert main(["admin", "grant", "nobody"]) == 1
    assert main(["admin", "grant", "홍길동"]) == 0
    assert main(["admin", "list"]) == 0
    assert "홍길동\t-\tkakao-key-1" in capsys.readouterr().out
    assert main(["admin", "revoke", "kakao-key-1"]) == 1  # the last admin stays
    assert "last admin" in capsys.readouterr().err


def test_roster_import_cp949_list_and_export(
    cli_database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["migrate"])
    source = tmp_path / "명단.csv"
    source.write_bytes("이름,사번,부서\n김민수,1001,총무팀\n박지은,,재무팀\n".encode("cp949"))
    assert main(["roster", "import", str(source)]) == 0
    assert "2 added" in capsys.readouterr().out
    assert main(["roster", "list"]) == 0
    assert "김민수\t1001\t총무팀\t-" in capsys.readouterr().out
    target = tmp_path / "out.csv"
    assert main(["roster", "export", str(target)]) == 0
    assert target.read_bytes().startswith(b"\xef\xbb\xbf")
    assert "박지은" in target.read_text("utf-8-sig")


def test_roster_import_reports_the_bad_line(
    cli_database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["migrate"])
    source = tmp_path / "bad.csv"
    source.write_text("이름,번호\n김민수,1\n,2\n", encoding="utf-8")
    assert main(["roster", "import", str(source)]) == 1
    assert "3" in capsys.readouterr().err
