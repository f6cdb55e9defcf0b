"""Configuration is parsed once, typed, and names the variable at fault."""

from __future__ import annotations

import pytest

from surveybot.config import DEV_SECRET_KEY, Config, ConfigError

GOOD = {"SECRET_KEY": "a-long-random-production-key"}


def test_defaults_in_development() -> None:
    config = Config.from_env({"SURVEYBOT_ENV": "development"})
    assert config.database_url is None and config.sqlite_path == "data/surveybot.sqlite3"
    assert config.secret_key == DEV_SECRET_KEY and config.export_ttl_seconds == 600


def test_production_is_the_default_and_needs_a_real_secret() -> None:
    for bad in ({}, {"SECRET_KEY": "change-me"}, {"SECRET_KEY": "short"}):
        with pytest.raises(ConfigError, match="SECRET_KEY"):
            Config.from_env(bad)
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
        ("LOG_LEVEL", "loud"),
    ],
)
def test_bad_values_name_the_variable(key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=key):
        Config.from_env({**GOOD, key: value})


def test_pool_min_above_max() -> None:
    with pytest.raises(ConfigError, match="DB_POOL_MIN"):
        Config.from_env({**GOOD, "DB_POOL_MIN": "5", "DB_POOL_MAX": "2"})
