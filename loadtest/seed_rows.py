"""The rows the seed writes, plaintext or sealed (issue 13) as a bot with the same keys writes them.

Sealing (surveybot.store.sealing) does the work with the keyring itself; the seed only remembers
the blind index of each name, since the seeded names repeat (600 of them over millions of people).
"""

from __future__ import annotations

import argparse
import functools
import json
from collections.abc import Iterator
from typing import Any

from loadtest.seed_plan import Plan

# seed_plan.dump_json (store/rows.dump_json) with its encoder made once, not once a call
dump_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class SeedKeys:
    """The keyring as Sealing uses it (`seal`, `index`), with `index` remembered."""

    def __init__(self, keyring: Any) -> None:
        self._keyring = keyring
        self.index = functools.lru_cache(maxsize=65536)(keyring.index)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._keyring, name)


def texts_of(pool: list[str]) -> dict[str, list[Any] | None]:
    """Each answer list of the pool, decoded if it has a written text to seal, else None."""
    return {
        answers: decoded if any(isinstance(a, str) and a for a in decoded) else None
        for answers in pool
        for decoded in [json.loads(answers)]
    }


def keyring_of(args: argparse.Namespace) -> Any | None:
    """The keyring of --data-keys and --index-key; None (plaintext) without them."""
    if not args.data_keys:
        return None
    try:
        from surveybot.crypto import CryptoError, keyring_from_text
    except ImportError:
        raise SystemExit("seed with keys needs surveybot: run it with .venv/bin/python") from None
    try:
        return keyring_from_text(args.data_keys, args.index_key)
    except CryptoError as error:
        raise SystemExit(f"seed: {error}") from None


# --- the rows, plaintext or sealed ----------------------------------------------------------------
class Rows:
    """The users and responses rows of a plan, as a bot with `keyring` (None: plaintext) writes
    them; generated one at a time as COPY or executemany takes them."""

    def __init__(self, plan: Plan, keyring: Any | None) -> None:
        self.plan = plan
        self.keyring = keyring
        self.sealing: Any | None = None
        sealed = ()
        if keyring is not None:
            from surveybot.store.sealing import Sealing  # only with keys: needs surveybot

            self.sealing = Sealing(SeedKeys(keyring))
            sealed = ("sealed", "name_idx")
        self.user_columns = ("user_key", "name", "member_no", "department", *sealed, "role",
                             "created_at", "updated_at")  # fmt: skip
        self.response_columns = ("survey_id", "respondent", "user_id", "answers", "submitted_at",
                                 *(("answered_sealed",) if keyring is not None else ()))  # fmt: skip

    def users(self, now: Any) -> Iterator[tuple[Any, ...]]:
        if self.sealing is None:
            for p in self.plan.people():
                yield p.key, p.name, p.member_no, p.department, p.role, now, now
            return
        seal = self.sealing.user_columns
        for p in self.plan.people():
            c = seal(p.key, p.name, p.member_no, p.department)
            yield (p.key, c["name"], c["member_no"], c["department"], c["sealed"], c["name_idx"],
                   p.role, now, now)  # fmt: skip

    def responses(
        self,
        survey_id: int,
        anonymous: bool,
        ids: dict[str, int],
        participants: list[int],
        when: Any = lambda at: at,
    ) -> Iterator[tuple[Any, ...]]:
        """The responses rows (`when` formats submitted_at); each participant's id appended to
        `participants`."""
        rows = self.plan.responses(survey_id, anonymous, ids)
        if self.sealing is None:
            for respondent, user_id, answers, at, participant in rows:
                participants.append(participant)
                yield survey_id, respondent, user_id, answers, when(at)
            return
        seal_answers, seal_answered = self.sealing.answers, self.sealing.answered
        texts = texts_of(self.plan.answer_pool())
        people = self.plan.respondents()  # in the order of the responses: who answered each
        for (respondent, user_id, answers, at, participant), person in zip(
            rows, people, strict=True
        ):
            assert participant == ids[person.key]
            participants.append(participant)
            decoded = texts[answers]
            if decoded is not None:  # a written text in it: sealed, bound to this response
                answers = dump_json(seal_answers(survey_id, respondent, decoded))
            answered = None
            if not anonymous:
                answered = seal_answered(survey_id, respondent, person.name, person.member_no)
                answered = answered["answered_sealed"]
            yield survey_id, respondent, user_id, answers, when(at), answered

    def keyring_rows(self) -> list[tuple[str, str, str]]:
        """(purpose, key id, check value) as KeysStore.check_keys registers a bot's keys."""
        keys = self.keyring
        if keys is None:
            return []
        return [("data", keys.primary, keys.checks()[keys.primary]),
                ("index", "index", keys.index_check())]  # fmt: skip

    def check_keyring(self, stored: Any) -> None:
        """Refuse keys that do not fit what the database says it was sealed with (as a bot would
        refuse to start with them): the seeded rows would be unreadable beside the others."""
        if self.keyring is None:
            return
        mine = dict(self.keyring.checks())
        for purpose, key_id, check in stored:
            if purpose == "data" and mine.get(key_id) != check:
                raise SystemExit(f"seed: this database was sealed with a key '{key_id}' that "
                                 "--data-keys does not have; pass --reset to empty it")  # fmt: skip
            if purpose == "index" and check != self.keyring.index_check():
                raise SystemExit("seed: --index-key is not the index key of this database; pass "
                                 "--reset to empty it")  # fmt: skip
