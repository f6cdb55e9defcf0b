"""What the SQL store seals, under which row identity, and how it reads both forms (issue 13).

Every sealed value is bound to its row by the associated data (see crypto.py):

| what | where | associated data |
|---|---|---|
| name, number, department | users.sealed | `users/<Kakao user key>` |
| name, number, department | roster.sealed | `roster/<person index>` |
| name and number answered under | responses.answered_sealed | `responses/<survey>/<respondent>/as` |
| a written text answer | responses.answers[i] = {"s": ...} | `responses/<survey>/<respondent>/<i>` |
| the conversation state | sessions.state = {"~sealed": ...} | `sessions/<Kakao user key>` |

With no keyring (ENCRYPTION_DISABLED=true) values are written in plaintext. Reads accept both
forms at all times: rows written before encryption stay readable while `surveybot keys rotate`
seals them in the background.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from surveybot.crypto import Keyring, SealBroken
from surveybot.domain import FREE_TEXT_MAX, Answer
from surveybot.store.base import InvalidAnswers

STATE_KEY = "~sealed"
Person = tuple[str, str | None, str | None]  # name, member number, department


class Sealing:
    """The store's sealer and opener; `keys` None writes plaintext (and still reads sealed data
    only if it has keys, which a plaintext node never has: it refuses to start, keys.py)."""

    def __init__(self, keys: Keyring | None) -> None:
        self.keys = keys

    # --- people -------------------------------------------------------------------------------
    def name_idx(self, name: str) -> str | None:
        return None if self.keys is None else self.keys.index("name", name)

    def person_idx(self, name: str, member_no: str | None) -> str | None:
        return None if self.keys is None else self.keys.index("person", name, member_no)

    def user_columns(
        self, user_key: str, name: str, member_no: str | None, department: str | None
    ) -> dict[str, Any]:
        """name, member_no, department, sealed and name_idx of a users row being written."""
        if self.keys is None:
            plain = {"name": name, "member_no": member_no, "department": department}
            return {**plain, "sealed": None, "name_idx": None}
        sealed = self.keys.seal([name, member_no, department], f"users/{user_key}")
        return {"name": "", "member_no": None, "department": None, "sealed": sealed,
                "name_idx": self.keys.index("name", name)}  # fmt: skip

    def roster_columns(
        self, name: str, member_no: str | None, department: str | None
    ) -> dict[str, Any]:
        """The users columns of a roster row, plus person_idx (its identity once sealed)."""
        if self.keys is None:
            plain = {"name": name, "member_no": member_no, "department": department}
            return {**plain, "sealed": None, "name_idx": None, "person_idx": None}
        person = self.keys.index("person", name, member_no)
        sealed = self.keys.seal([name, member_no, department], f"roster/{person}")
        return {"name": "", "member_no": None, "department": None, "sealed": sealed,
                "name_idx": self.keys.index("name", name), "person_idx": person}  # fmt: skip

    def open_user(self, user_key: str, sealed: str | None, plain: Sequence[Any]) -> Person:
        """A users row's person from `sealed`, or from its plaintext (name, number, department)."""
        return self._open_person(f"users/{user_key}", sealed, plain)

    def open_roster(
        self, person_idx: str | None, sealed: str | None, plain: Sequence[Any]
    ) -> Person:
        return self._open_person(f"roster/{person_idx}", sealed, plain)

    def _open_person(self, aad: str, sealed: str | None, plain: Sequence[Any]) -> Person:
        if sealed is None:
            return str(plain[0]), plain[1], plain[2]
        name, member_no, department = self._open(sealed, aad)
        return str(name), member_no, department

    # --- responses ----------------------------------------------------------------------------
    def answers(self, survey_id: int, respondent: str, answers: Iterable[Answer]) -> list[Any]:
        """Answers as stored: option indexes as they are, written texts sealed.

        A sealed text's length is hidden from the database's answer check (migration 0002), so
        it is checked here, before sealing: the store still refuses what cannot be right.
        """
        out: list[Any] = []
        for index, answer in enumerate(answers):
            if isinstance(answer, list | tuple):
                out.append(list(answer))
            elif isinstance(answer, str) and (len(answer) > FREE_TEXT_MAX or "\x00" in answer):
                raise InvalidAnswers(f"answer {index + 1} is not a text of {FREE_TEXT_MAX} or less")
            elif isinstance(answer, str) and answer and self.keys is not None:
                aad = f"responses/{survey_id}/{respondent}/{index}"
                out.append({"s": self.keys.seal(answer, aad)})
            else:
                out.append(answer)
        return out

    def open_text(self, survey_id: int, respondent: str, index: int, stored: Any) -> str:
        """A stored text answer: a string (plaintext) or {"s": sealed}."""
        if isinstance(stored, dict):
            return str(self._open(stored.get("s"), f"responses/{survey_id}/{respondent}/{index}"))
        return str(stored)

    def open_answers(self, survey_id: int, respondent: str, stored: Iterable[Any]) -> list[Any]:
        """Stored answers with their texts opened; decode_answers types them."""
        return [
            self.open_text(survey_id, respondent, i, item) if isinstance(item, dict) else item
            for i, item in enumerate(stored)
        ]

    def answered(
        self, survey_id: int, respondent: str, name: str, member_no: str | None
    ) -> dict[str, Any]:
        """answered_as, answered_no and answered_sealed of a named response being written."""
        if self.keys is None:
            return {"name": name, "member_no": member_no, "answered_sealed": None}
        aad = f"responses/{survey_id}/{respondent}/as"
        sealed = self.keys.seal([name, member_no], aad)
        return {"name": None, "member_no": None, "answered_sealed": sealed}

    def open_answered(
        self, survey_id: int, respondent: str, sealed: str | None
    ) -> tuple[str | None, str | None]:
        if sealed is None:
            return None, None
        name, member_no = self._open(sealed, f"responses/{survey_id}/{respondent}/as")
        return name, member_no

    # --- conversation state -------------------------------------------------------------------
    def state(self, user_key: str, state: dict[str, object]) -> dict[str, object]:
        if self.keys is None:
            return state
        return {STATE_KEY: self.keys.seal(state, f"sessions/{user_key}")}

    def open_state(self, user_key: str, stored: dict[str, Any]) -> dict[str, object]:
        if STATE_KEY not in stored:
            return stored
        state = self._open(stored[STATE_KEY], f"sessions/{user_key}")
        if not isinstance(state, dict):
            raise SealBroken("a sealed conversation state is not an object")
        return state

    def _open(self, sealed: Any, aad: str) -> Any:
        if self.keys is None:
            raise SealBroken(
                "this data is sealed, and this process has no keys: set DATA_KEYS and INDEX_KEY"
            )
        return self.keys.open(sealed, aad)
