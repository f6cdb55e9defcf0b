"""The sealing primitives (crypto.py) and the key settings: round trips, refusals, the index."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from support.keys import DATA_KEYS, INDEX_KEY, OLD_DATA_KEYS, keyring_of
from surveybot.config import Config, ConfigError, keyring_from_config
from surveybot.crypto import KeyError_, SealBroken, UnknownKey, key_id_of, load_key_file, new_key

pytestmark = pytest.mark.unit

KEYS = keyring_of(f"{DATA_KEYS},{OLD_DATA_KEYS}")
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(value=json_values, aad=st.text())
def test_what_is_sealed_opens_to_itself_and_only_for_its_row(value: Any, aad: str) -> None:
    sealed = KEYS.seal(value, aad)
    assert key_id_of(sealed) == "t1" and KEYS.open(sealed, aad) == value
    with pytest.raises(SealBroken):
        KEYS.open(sealed, aad + "x")


@given(text=st.text(min_size=1, max_size=50), position=st.integers(min_value=0))
def test_a_changed_ciphertext_never_opens(text: str, position: int) -> None:
    sealed = KEYS.seal(text, "users/k1")
    prefix, body = sealed.split(":", 1)
    i = position % (len(body) - 1)  # the last character may carry only padding bits
    flipped = body[:i] + ("A" if body[i] != "A" else "B") + body[i + 1 :]
    with pytest.raises(SealBroken):
        KEYS.open(f"{prefix}:{flipped}", "users/k1")


def test_the_same_value_seals_differently_each_time() -> None:
    assert KEYS.seal("홍길동", "a") != KEYS.seal("홍길동", "a")  # random nonces: no equality leak


def test_a_key_not_in_the_ring_is_named() -> None:
    only_old = keyring_of(OLD_DATA_KEYS)
    with pytest.raises(UnknownKey, match="'t1'"):
        only_old.open(KEYS.seal("x", "a"), "a")
    assert keyring_of(DATA_KEYS).open(KEYS.seal("x", "a"), "a") == "x"
    older = only_old.seal("y", "b")  # sealed under t0, opened by the ring that has both
    assert KEYS.open(older, "b") == "y"


@given(name=st.text(min_size=1, max_size=30))
def test_the_blind_index_is_equal_for_equal_names_only(name: str) -> None:
    index = KEYS.index("name", name)
    assert index == KEYS.index("name", f" {name} ")  # stored input has no outer spaces
    assert index != KEYS.index("person", name, None)  # kinds never collide
    assert index != keyring_of(DATA_KEYS, new_key()).index("name", name)  # keyed
    assert len(index) == 22


@pytest.mark.parametrize(
    ("data_keys", "index_key", "problem"),
    [
        ("t1", INDEX_KEY, "id:base64key"),
        ("t1:not base64!", INDEX_KEY, "not valid base64"),
        ("t1:" + new_key()[:20], INDEX_KEY, "must be 32 bytes"),
        (f"{DATA_KEYS},{DATA_KEYS}", INDEX_KEY, "same key id twice"),
        ("bad id!:" + new_key(), INDEX_KEY, "key id"),
        (DATA_KEYS, new_key()[:20], "INDEX_KEY must be 32 bytes"),
    ],
)
def test_malformed_keys_are_refused_at_start(data_keys: str, index_key: str, problem: str) -> None:
    with pytest.raises(KeyError_, match=problem):
        keyring_of(data_keys, index_key)
    env = {"DATA_KEYS": data_keys, "INDEX_KEY": index_key}
    with pytest.raises(ConfigError, match="DATA_KEYS / INDEX_KEY"):
        Config.from_env({**env, "SURVEYBOT_ENV": "development"})


def test_production_needs_keys_or_says_plaintext_on_purpose() -> None:
    production = {"SURVEYBOT_ENV": "production", "SECRET_KEY": "0123456789abcdefghij",
                  "SKILL_SECRET_DISABLED": "true"}  # fmt: skip
    with pytest.raises(ConfigError, match="DATA_KEYS and INDEX_KEY must be set in production"):
        keyring_from_config(Config.from_env(production))
    plain = Config.from_env({**production, "ENCRYPTION_DISABLED": "true"})
    assert keyring_from_config(plain) is None
    with pytest.raises(ConfigError, match="INDEX_KEY must be set too"):
        Config.from_env({**production, "DATA_KEYS": DATA_KEYS})
    with pytest.raises(ConfigError, match="remove one"):
        Config.from_env({**production, "DATA_KEYS": DATA_KEYS, "INDEX_KEY": INDEX_KEY,
                         "ENCRYPTION_DISABLED": "true"})  # fmt: skip
    keyed = Config.from_env({**production, "DATA_KEYS": DATA_KEYS, "INDEX_KEY": INDEX_KEY})
    assert "DATA_KEYS" not in repr(keyed) and DATA_KEYS not in repr(keyed)  # never logged


def test_development_makes_one_key_file_beside_its_data(tmp_path: Path) -> None:
    config = Config.from_env({"SURVEYBOT_ENV": "development",
                              "SQLITE_PATH": str(tmp_path / "bot.sqlite3")})  # fmt: skip
    first = keyring_from_config(config)
    assert config.key_file == str(tmp_path / "surveybot.keys.json")
    assert stat.S_IMODE(os.stat(config.key_file).st_mode) == 0o600
    again = keyring_from_config(config)
    assert first is not None and again is not None and first.checks() == again.checks()
    assert load_key_file(Path(config.key_file)).index_check() == first.index_check()


def test_a_command_beside_a_development_bot_uses_its_key_file(tmp_path: Path) -> None:
    """`surveybot admin grant` in another terminal has no SURVEYBOT_ENV: production by default."""
    data = {"SQLITE_PATH": str(tmp_path / "bot.sqlite3")}
    bot = keyring_from_config(Config.from_env({**data, "SURVEYBOT_ENV": "development"}))
    command = Config.from_env(data, serving=False)
    assert command.environment == "production" and bot is not None
    found = keyring_from_config(command, maintenance=True)
    assert found is not None and found.checks() == bot.checks()
    elsewhere = Config.from_env({"SQLITE_PATH": str(tmp_path / "x" / "bot.sqlite3")}, serving=False)
    with pytest.raises(ConfigError, match="must be set in production"):  # no file: no keys made
        keyring_from_config(elsewhere, maintenance=True)
