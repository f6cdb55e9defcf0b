"""The keys the tests seal with (issue 13): fixed, so a store reopened in a test opens its data.

Every store fixture and served node seals with these unless a test says otherwise; the whole
suite therefore runs on sealed data, and plaintext mode is tested where it is named.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from surveybot.crypto import Keyring, keyring_from_text
from surveybot.store.sealing import Sealing


def _key(label: str) -> str:
    return base64.b64encode(
        hashlib.sha256(f"surveybot test key {label}".encode()).digest()
    ).decode()


DATA_KEYS = f"t1:{_key('data t1')}"
OLD_DATA_KEYS = f"t0:{_key('data t0')}"
INDEX_KEY = _key("index")
KEY_ENV = {"DATA_KEYS": DATA_KEYS, "INDEX_KEY": INDEX_KEY}


def keyring_of(data_keys: str = DATA_KEYS, index_key: str = INDEX_KEY) -> Keyring:
    return keyring_from_text(data_keys, index_key)


TEST_KEYRING = keyring_of()


def opened_answers(survey_id: int, respondent: str, stored: Any) -> list[Any]:
    """A responses row's answers as the bot reads them: JSON decoded, sealed texts opened."""
    answers = json.loads(stored) if isinstance(stored, str) else stored
    return SEALING.open_answers(survey_id, respondent, answers)


SEALING = Sealing(TEST_KEYRING)
