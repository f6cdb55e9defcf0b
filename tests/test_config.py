"""Configuration is parsed once, typed, and names the variable at fault."""

from __future__ import annotations

import secrets

import pytest

from surveybot.config import DEV_SECRET_KEY, Config, ConfigError

GOOD = {"SECRET_KEY": "a-long-random-production-key", "SKILL_SECRET": "kakao-header-value"}


def test_defaults_in_development() -> None:
    config = Config.from_env({"SURVEYBOT_ENV": "development"})
    assert config.database_url is None and config.sqlite_path == "data/surveybot.sqlite3"
    assert config.secret_key == DEV_SECRET_KEY and config.export_ttl_seconds == 600


def test_production_is_the_default_and_needs_a_real_secret() -> None:
    for key in ("", "change-me", "short"):
        with pytest.raises(ConfigError, match="SECRET_KEY"):
            Config.from_env({**GOOD, "SECRET_KEY": key})
    assert Config.from_env(GOOD).environment == "production"


def test_values_are_typed() -> None:
    config = Config.from_env(
        {
            **GOOD,
            "DATABASE_URL": "postgresql://db/surveybot",
            "PUBLIC_BASE_URL": "https://bot.example.com/",
            "DB_POOL_MAX": "8",
            "SKILL_SECRET": "s",
            "LOG_LEVEL": "debug",
        }
    )
    assert config.public_base_url == "https://bot.example.com"
    assert config.db_pool_max == 8 and config.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("DB_POOL_MAX", "lots"),
        ("DB_POOL_MAX", "0"),
        ("EXPORT_TTL_SECONDS", "5"),
        ("PUBLIC_BASE_URL", "ftp://x"),
        ("SURVEYBOT_ENV", "staging"),
        ("SURVEYBOT_ADMIN_CODE", "short"),
        ("DB_STATEMENT_TIMEOUT_MS", "10000"),
        ("EXPORT_STATEMENT_TIMEOUT_MS", "500"),
        ("EXPORT_STATEMENT_TIMEOUT_MS", "3600001"),
        ("SKILL_SECRET_DISABLED", "maybe"),
        ("LOG_LEVEL", "loud"),
    ],
)
def test_bad_values_name_the_variable(key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=key):
        Config.from_env({**GOOD, key: value})


def test_pool_min_above_max() -> None:
    with pytest.raises(ConfigError, match="DB_POOL_MIN"):
        Config.from_env({**GOOD, "DB_POOL_MIN": "5", "DB_POOL_MAX": "2"})


@pytest.mark.parametrize(
    "key",
    ["a" * 32, "passwordpassword", "abcabcabcabcabcabcabc", "0123456780123456", "qwertyuiqwertyui"],
)
def test_a_secret_key_without_entropy_is_refused(key: str) -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY") as caught:
        Config.from_env({**GOOD, "SECRET_KEY": key})
    assert "10 of them different" in str(caught.value)
    assert "secrets.token_urlsafe" in str(caught.value)


def test_a_generated_secret_key_is_accepted() -> None:
    key = secrets.token_urlsafe(32)
    assert Config.from_env({**GOOD, "SECRET_KEY": key}).secret_key == key


def test_production_refuses_to_serve_without_the_skill_secret() -> None:
    with pytest.raises(ConfigError) as caught:
        Config.from_env({"SECRET_KEY": GOOD["SECRET_KEY"]})
    assert "SKILL_SECRET" in str(caught.value) and "SKILL_SECRET_DISABLED=true" in str(caught.value)
    for off in ("false", "0", ""):
        with pytest.raises(ConfigError, match="SKILL_SECRET_DISABLED"):
            Config.from_env({"SECRET_KEY": GOOD["SECRET_KEY"], "SKILL_SECRET_DISABLED": off})


def test_serving_without_the_skill_secret_must_be_said_explicitly() -> None:
    env = {"SECRET_KEY": GOOD["SECRET_KEY"], "SKILL_SECRET_DISABLED": "true"}
    assert Config.from_env(env).skill_secret is None
    assert Config.from_env({"SURVEYBOT_ENV": "development"}).skill_secret is None
    # Maintenance commands (migrate, admin, roster) never answer /skill.
    assert Config.from_env({}, serving=False).skill_secret is None


def test_a_skill_secret_and_its_disabling_together_are_refused() -> None:
    with pytest.raises(ConfigError, match="SKILL_SECRET_DISABLED"):
        Config.from_env({**GOOD, "SKILL_SECRET_DISABLED": "true"})


def test_exports_get_their_own_statement_timeout() -> None:
    assert Config.from_env(GOOD).export_statement_timeout_ms == 600_000
    config = Config.from_env({**GOOD, "EXPORT_STATEMENT_TIMEOUT_MS": "120000"})
    assert config.export_statement_timeout_ms == 120_000
