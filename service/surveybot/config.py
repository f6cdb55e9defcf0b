"""Configuration, parsed once from the environment, typed, and loud when wrong."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from surveybot.crypto import KeyError_, Keyring, keyring_from_text, load_key_file

DEV_SECRET_KEY = "dev-only-secret-key-do-not-use-in-production"
PLACEHOLDERS = {"", "change-me", "changeme", "secret", "please-change-me", DEV_SECRET_KEY}
ENVIRONMENTS = {"development", "production"}
SECRET_KEY_MIN = 16
SECRET_KEY_MIN_DISTINCT = 10
BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


class ConfigError(ValueError):
    """A configuration variable is missing or malformed; the message names it."""


# No slots: from_env reads the defaults back from the class attributes.
@dataclass(frozen=True)
class Config:
    environment: str = "production"
    database_url: str | None = None
    sqlite_path: str = "data/surveybot.sqlite3"
    secret_key: str = DEV_SECRET_KEY
    skill_secret: str | None = None
    skill_secret_header: str = "X-Skill-Secret"
    admin_code: str | None = None
    public_base_url: str = "http://127.0.0.1:8000"
    export_ttl_seconds: int = 600
    session_ttl_seconds: int = 1800
    db_pool_min: int = 1
    db_pool_max: int = 4
    db_connect_timeout: float = 2.0
    db_statement_timeout_ms: int = 2000
    # How long `surveybot migrate` (and `serve`, before it starts) waits for a (re)starting database.
    db_migrate_wait_seconds: float = 60.0
    # An export is one long read over a cursor, not a chat reply: it gets its own budget.
    export_statement_timeout_ms: int = 600_000
    max_body_bytes: int = 64 * 1024
    log_level: str = "INFO"
    log_format: str = "json"
    metrics_dir: str | None = None  # PROMETHEUS_MULTIPROC_DIR: metrics of all workers of a node
    # A /skill request that waited longer than this for a worker (nginx's X-Request-Start) gets
    # the short busy reply without reaching the bot; 0 turns shedding off. 2 s leaves the rest
    # of nginx's 4 s (and Kakao's 5 s) for the request itself, and lets the waits of a graceful
    # reload (about 2 s on a loaded 2-core machine) through.
    shed_after_ms: int = 2000
    # Reminders through Kakao's Event API (issue 10): on when both the key and the bot id are set.
    kakao_rest_api_key: str | None = None
    kakao_bot_id: str | None = None
    kakao_event_name: str = "surveybot_reminder"  # the event name set on the reminder block
    kakao_event_api_url: str = "https://bot-api.kakao.com"
    reminder_rate_per_second: float = 5.0  # Event API calls per second, per notifier
    reminder_max_attempts: int = 6
    reminder_timeout_seconds: int = 10
    # How long the notifier waits for deliveries before deciding a call whose answer was lost.
    reminder_unknown_grace_seconds: int = 600
    # Encryption at rest (issue 13, crypto.py): DATA_KEYS (id:base64, the first seals) and
    # INDEX_KEY (the blind index). Without them, development uses a key file made beside its data
    # and production refuses to start, unless ENCRYPTION_DISABLED=true says plaintext on purpose.
    data_keys: str | None = field(default=None, repr=False)
    index_key: str | None = field(default=None, repr=False)
    encryption_disabled: bool = False
    key_file: str | None = None

    @property
    def reminders_enabled(self) -> bool:
        return self.kakao_rest_api_key is not None and self.kakao_bot_id is not None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, serving: bool = True) -> Config:
        """Build from environment variables; raise ConfigError naming the bad variable.

        `serving=False` is for the maintenance commands (migrate, admin, roster), which touch
        only the database and so do not insist on the server's secrets.
        """
        env = os.environ if env is None else env
        environment = _choice(env, "SURVEYBOT_ENV", "production", ENVIRONMENTS)
        config = cls(
            environment=environment,
            database_url=env.get("DATABASE_URL") or None,
            sqlite_path=env.get("SQLITE_PATH") or cls.sqlite_path,
            secret_key=_secret_key(env, environment if serving else "development"),
            skill_secret=_skill_secret(env, environment if serving else "development"),
            skill_secret_header=env.get("SKILL_SECRET_HEADER") or cls.skill_secret_header,
            admin_code=env.get("SURVEYBOT_ADMIN_CODE") or None,
            public_base_url=_url(env, "PUBLIC_BASE_URL", cls.public_base_url),
            export_ttl_seconds=_int(env, "EXPORT_TTL_SECONDS", cls.export_ttl_seconds, 30, 86400),
            session_ttl_seconds=_int(
                env, "SESSION_TTL_SECONDS", cls.session_ttl_seconds, 60, 86400
            ),
            db_pool_min=_int(env, "DB_POOL_MIN", cls.db_pool_min, 0, 100),
            db_pool_max=_int(env, "DB_POOL_MAX", cls.db_pool_max, 1, 100),
            db_connect_timeout=_int(env, "DB_CONNECT_TIMEOUT", 2, 1, 4),
            db_migrate_wait_seconds=_float(
                env, "DB_MIGRATE_WAIT_SECONDS", cls.db_migrate_wait_seconds, 0, 3600
            ),
            db_statement_timeout_ms=_int(
                env, "DB_STATEMENT_TIMEOUT_MS", cls.db_statement_timeout_ms, 100, 4000
            ),
            export_statement_timeout_ms=_int(
                env,
                "EXPORT_STATEMENT_TIMEOUT_MS",
                cls.export_statement_timeout_ms,
                1000,
                3_600_000,
            ),
            log_level=_choice(env, "LOG_LEVEL", "INFO", {"DEBUG", "INFO", "WARNING", "ERROR"}),
            log_format=_choice(
                env,
                "LOG_FORMAT",
                "text" if environment == "development" else "json",
                {"json", "text"},
            ),
            metrics_dir=env.get("PROMETHEUS_MULTIPROC_DIR") or None,
            shed_after_ms=_int(env, "SHED_AFTER_MS", cls.shed_after_ms, 0, 4000),
        )
        config = _with_reminders(config, env)
        config = _with_keys(config, env)
        if config.db_pool_min > config.db_pool_max:
            raise ConfigError("DB_POOL_MIN must not exceed DB_POOL_MAX")
        if config.admin_code is not None and len(config.admin_code) < 8:
            raise ConfigError("SURVEYBOT_ADMIN_CODE must be at least 8 characters")
        return config


def _secret_key(env: Mapping[str, str], environment: str) -> str:
    value = env.get("SECRET_KEY", "")
    if environment == "development":
        return value or DEV_SECRET_KEY
    # Length alone lets "aaaaaaaaaaaaaaaa" or "passwordpassword" through: a generated key of this
    # length has many different characters, a repeated word or character has few.
    weak = len(value) < SECRET_KEY_MIN or len(set(value)) < SECRET_KEY_MIN_DISTINCT
    if value.strip().lower() in PLACEHOLDERS or weak:
        raise ConfigError(
            f"SECRET_KEY must be a random string of {SECRET_KEY_MIN}+ characters, at least "
            f"{SECRET_KEY_MIN_DISTINCT} of them different, outside development (generate one "
            "with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return value


def _skill_secret(env: Mapping[str, str], environment: str) -> str | None:
    value = env.get("SKILL_SECRET") or None
    disabled = _bool(env, "SKILL_SECRET_DISABLED")
    if value is not None and disabled:
        raise ConfigError("SKILL_SECRET is set but SKILL_SECRET_DISABLED=true: remove one")
    # Without the secret anyone who finds /skill can talk to the bot as any Kakao user: production
    # only runs that way when someone said so on purpose.
    if value is None and not disabled and environment != "development":
        raise ConfigError(
            "SKILL_SECRET must be set in production (the header value Kakao sends); to serve "
            "without it, set SKILL_SECRET_DISABLED=true"
        )
    return value


def _bool(env: Mapping[str, str], key: str) -> bool:
    raw = (env.get(key) or "false").strip().lower()
    if raw not in BOOLEANS:
        raise ConfigError(f"{key} must be true or false, got {raw!r}")
    return BOOLEANS[raw]


def _int(env: Mapping[str, str], key: str, default: int, low: int, high: int) -> int:
    raw = env.get(key)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{key} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{key} must be between {low} and {high}, got {value}")
    return value


def _choice(env: Mapping[str, str], key: str, default: str, allowed: set[str]) -> str:
    raw = (env.get(key) or default).strip()
    value = raw.upper() if key == "LOG_LEVEL" else raw.lower()
    if value not in allowed:
        raise ConfigError(f"{key} must be one of {', '.join(sorted(allowed))}, got {raw!r}")
    return value


def _url(env: Mapping[str, str], key: str, default: str) -> str:
    value = (env.get(key) or default).strip().rstrip("/")
    # Kakao only opens http(s) links, and the export link is built from this.
    if not value.startswith(("http://", "https://")):
        raise ConfigError(f"{key} must start with http:// or https://, got {value!r}")
    return value


def _with_reminders(config: Config, env: Mapping[str, str]) -> Config:
    """The Event API settings: the key and the bot id together, or neither (reminders off)."""
    key = (env.get("KAKAO_REST_API_KEY") or "").strip() or None
    bot = (env.get("KAKAO_BOT_ID") or "").strip() or None
    if (key is None) != (bot is None):
        missing = "KAKAO_REST_API_KEY" if key is None else "KAKAO_BOT_ID"
        raise ConfigError(f"{missing} must be set too to send reminders (or unset both)")
    if key is not None and (key.lower() in PLACEHOLDERS or len(key) < 8):
        raise ConfigError("KAKAO_REST_API_KEY must be the app's REST API key (Kakao Developers)")
    name = (env.get("KAKAO_EVENT_NAME") or Config.kakao_event_name).strip()
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", name):
        raise ConfigError(f"KAKAO_EVENT_NAME must be letters, digits, _ . or -, got {name!r}")
    return replace(
        config,
        kakao_rest_api_key=key,
        kakao_bot_id=bot,
        kakao_event_name=name,
        kakao_event_api_url=_url(env, "KAKAO_EVENT_API_URL", Config.kakao_event_api_url),
        reminder_rate_per_second=_float(env, "REMINDER_RATE_PER_SECOND", 5.0, 0.01, 100.0),
        reminder_max_attempts=_int(env, "REMINDER_MAX_ATTEMPTS", 6, 1, 50),
        reminder_timeout_seconds=_int(env, "REMINDER_TIMEOUT_SECONDS", 10, 1, 60),
        reminder_unknown_grace_seconds=_int(env, "REMINDER_UNKNOWN_GRACE_SECONDS", 600, 1, 86400),
    )


def _with_keys(config: Config, env: Mapping[str, str]) -> Config:
    """The encryption keys, checked now (a malformed key is named at start, not at first use)."""
    data = (env.get("DATA_KEYS") or "").strip() or None
    index = (env.get("INDEX_KEY") or "").strip() or None
    disabled = _bool(env, "ENCRYPTION_DISABLED")
    if (data is None) != (index is None):
        missing = "DATA_KEYS" if data is None else "INDEX_KEY"
        raise ConfigError(f"{missing} must be set too (surveybot keys generate makes both)")
    if data is not None and disabled:
        raise ConfigError("DATA_KEYS is set but ENCRYPTION_DISABLED=true: remove one")
    if data is not None and index is not None:
        try:
            keyring = keyring_from_text(data, index)
        except KeyError_ as error:
            raise ConfigError(f"DATA_KEYS / INDEX_KEY: {error}") from None
        raw_secret = config.secret_key.encode()
        if raw_secret == keyring.index_key or any(raw_secret == k for _, k in keyring.data_keys):
            raise ConfigError("DATA_KEYS and INDEX_KEY must differ from SECRET_KEY")
    key_file = (env.get("KEY_FILE") or "").strip() or os.path.join(
        os.path.dirname(config.sqlite_path) or ".", "surveybot.keys.json"
    )
    return replace(
        config, data_keys=data, index_key=index, encryption_disabled=disabled, key_file=key_file
    )


def keyring_from_config(config: Config, *, maintenance: bool = False) -> Keyring | None:
    """The keyring every process touching personal data opens the store with; None = plaintext.

    Called by the server and the data commands, not by `migrate`, which needs no keys.
    `maintenance`: a command run beside a development bot (`surveybot admin grant` in another
    terminal, without SURVEYBOT_ENV) uses the key file that bot made, if there is one.
    """
    if config.data_keys is not None and config.index_key is not None:
        return keyring_from_text(config.data_keys, config.index_key)
    if config.encryption_disabled:
        return None
    key_file = None if config.key_file is None else Path(config.key_file)
    if key_file is not None and (
        config.environment == "development" or (maintenance and key_file.exists())
    ):
        return load_key_file(key_file)
    raise ConfigError(
        "DATA_KEYS and INDEX_KEY must be set in production to encrypt personal data at rest "
        "(make them with: surveybot keys generate); to store plaintext on purpose, set "
        "ENCRYPTION_DISABLED=true"
    )


def _float(env: Mapping[str, str], key: str, default: float, low: float, high: float) -> float:
    raw = env.get(key)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{key} must be a number, got {raw!r}") from None
    if not low <= value <= high:  # also refuses nan
        raise ConfigError(f"{key} must be between {low} and {high}, got {raw!r}")
    return value
