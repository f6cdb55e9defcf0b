"""Keys on SQL (issue 13): the start-up check, and resealing rows in batches while the bot serves.

`check_keys` compares the keyring table (migration 0007: which keys sealed this database, with
a fingerprint of each) with the process's keys, and registers its own. `reseal` walks one table
in primary-key order, a batch per transaction, and rewrites every row that is plaintext or sealed
with another key than the first of DATA_KEYS. Each rewrite is conditional on the row being as
read (its sealed value, or its version), so a row the bot rewrote meanwhile, already under the new
key, is left alone: rotation never loses or reverts an answer. A run stopped anywhere can be run
again; it skips what is done.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from surveybot.crypto import CryptoError, key_id_of
from surveybot.store.base import NotMigrated
from surveybot.store.dialect import Dialect, Tx
from surveybot.store.sealing import STATE_KEY, Sealing

TABLES = ("users", "roster", "responses", "sessions")

KEYRING_ROWS = "SELECT purpose, key_id, check_value FROM keyring"
KEYRING_ADD = """
INSERT INTO keyring (purpose, key_id, check_value) VALUES (:purpose, :key_id, :check_value)
ON CONFLICT (purpose, key_id) DO NOTHING
"""
KEYRING_RETIRE = "DELETE FROM keyring WHERE purpose = 'data' AND key_id <> :key_id"

# Each read returns (cursor, row...) after the cursor, in cursor order.
READ = {
    "users": """SELECT id, user_key, sealed, name, member_no, department FROM users
        WHERE id > :after ORDER BY id LIMIT :limit""",
    "roster": """SELECT id, person_idx, sealed, name, member_no, department FROM roster
        WHERE id > :after ORDER BY id LIMIT :limit""",
    "responses": """SELECT id, survey_id, respondent, answers, answered_sealed, answered_as,
        answered_no, user_id, submitted_at FROM responses
        WHERE id > :after ORDER BY id LIMIT :limit""",
    "sessions": """SELECT user_key, state, version FROM sessions
        WHERE user_key > :after ORDER BY user_key LIMIT :limit""",
}
WRITE_USER = """
UPDATE users SET name = :name, member_no = :member_no, department = :department,
    sealed = :sealed, name_idx = :name_idx
WHERE id = :id AND coalesce(sealed, '') = :old
"""
WRITE_ROSTER = """
UPDATE roster SET name = :name, member_no = :member_no, department = :department,
    sealed = :sealed, name_idx = :name_idx, person_idx = :person_idx
WHERE id = :id AND coalesce(sealed, '') = :old
"""
WRITE_SESSION = (
    "UPDATE sessions SET state = :state WHERE user_key = :user_key AND version = :version"
)
# PostgreSQL updates a response in place (its triggers count the change, net nothing).
WRITE_RESPONSE_PG = """
UPDATE responses SET answers = :answers::jsonb, answered_as = :name, answered_no = :member_no,
    answered_sealed = :answered_sealed
WHERE id = :id AND answers = :old_answers::jsonb AND coalesce(answered_sealed, '') = :old
"""
# SQLite's responses are replaced, never updated (migration 0002): same id, same counts after.
SAME_RESPONSE_SQLITE = """
SELECT 1 FROM responses WHERE id = :id AND answers = :old_answers
    AND coalesce(answered_sealed, '') = :old
"""
DELETE_RESPONSE_SQLITE = "DELETE FROM responses WHERE id = :id"
INSERT_RESPONSE_SQLITE = """
INSERT INTO responses (id, survey_id, respondent, user_id, answers, submitted_at, answered_as,
    answered_no, answered_sealed)
VALUES (:id, :survey_id, :respondent, :user_id, :answers, :submitted_at, :name, :member_no,
    :answered_sealed)
"""


class KeyProblem(CryptoError):
    """The keys given do not fit this database; the message names the key and what to do."""


@dataclass
class Batch:
    """One batch of one table: where it ended and what it did."""

    after: Any  # the cursor to continue from; None when the table is done
    scanned: int = 0
    resealed: int = 0
    skipped: int = 0  # changed by the bot meanwhile (already under the new key)
    due: int = 0  # with verify_only: rows still plaintext or under another key
    broken: list[str] = field(default_factory=list)  # rows that do not open: which and why


def _missing_table(error: Exception) -> bool:
    """PostgreSQL's undefined_table, or SQLite's "no such table" (0007 made `keyring`)."""
    return getattr(error, "sqlstate", None) == "42P01" or "no such table" in str(error)


class KeysStore:
    """The key methods of the Store; SqlStore provides `_d` and `_seal`."""

    _d: Dialect
    _seal: Sealing

    def check_keys(self) -> None:
        """Raise KeyProblem unless this process can open everything this database has sealed.

        Checked before this process's keys are registered (a node with wrong keys leaves no
        trace), and again after: two first nodes with different keys cannot both pass.
        """
        keys = self._seal.keys
        with self._d.transaction(write=True) as tx:
            try:
                registered = tx.all(KEYRING_ROWS)
            except Exception as error:
                if _missing_table(error):
                    raise NotMigrated(
                        "the database has no surveybot tables of this version yet: "
                        "run `surveybot migrate` first"
                    ) from error
                raise
            self._refuse_unfit(registered)
            if keys is None:
                return
            primary = {"purpose": "data", "key_id": keys.primary,
                       "check_value": keys.checks()[keys.primary]}  # fmt: skip
            tx.run(KEYRING_ADD, primary)
            tx.run(KEYRING_ADD, {"purpose": "index", "key_id": "index",
                                 "check_value": keys.index_check()})  # fmt: skip
            self._refuse_unfit(tx.all(KEYRING_ROWS))

    def _refuse_unfit(self, stored: Sequence[Any]) -> None:
        keys = self._seal.keys
        data = {str(key_id): str(check) for purpose, key_id, check in stored if purpose == "data"}
        if keys is None:
            if data:
                raise KeyProblem(
                    f"this database holds personal data sealed with key(s) "
                    f"{', '.join(sorted(data))}; set DATA_KEYS and INDEX_KEY to serve it"
                )
            return
        mine = keys.checks()
        for key_id, check in sorted(data.items()):
            if key_id not in mine:
                raise KeyProblem(
                    f"data in this database is sealed with key '{key_id}', which DATA_KEYS does "
                    f"not have (it has {', '.join(sorted(mine))}); add it back, or the data it "
                    "sealed cannot be read"
                )
            if mine[key_id] != check:
                raise KeyProblem(
                    f"DATA_KEYS key '{key_id}' is not the key this database was sealed with "
                    "(same id, other key material)"
                )
        for purpose, _, check in stored:
            if purpose == "index" and check != keys.index_check():
                raise KeyProblem(
                    "INDEX_KEY is not the index key this database was built with: people could "
                    "not be found by name; use the INDEX_KEY it was built with"
                )

    def retire_other_keys(self) -> None:
        """After a verified full reseal: only the first key of DATA_KEYS is needed from now on."""
        keys = self._seal.keys
        assert keys is not None
        with self._d.transaction(write=True) as tx:
            tx.run(KEYRING_RETIRE, {"key_id": keys.primary})

    def reseal(self, table: str, after: Any, limit: int, verify_only: bool = False) -> Batch:
        """Reseal (or with verify_only, just open) the next `limit` rows of `table`."""
        if table not in TABLES:
            raise ValueError(f"no sealed data in table {table!r}")
        first = 0 if table != "sessions" else ""
        with self._d.transaction(write=not verify_only) as tx:
            rows = tx.all(READ[table], {"after": first if after is None else after, "limit": limit})
            batch = Batch(after=rows[-1][0] if len(rows) == limit else None, scanned=len(rows))
            for row in rows:
                try:
                    changed = getattr(self, f"_reseal_{table}")(tx, row, verify_only)
                except CryptoError as error:
                    batch.broken.append(f"{table} {row[0]}: {error}")
                    continue
                if changed == "due":
                    batch.due += 1
                elif changed == "resealed":
                    batch.resealed += 1
                elif changed == "skipped":
                    batch.skipped += 1
        return batch

    # Each _reseal_<table> opens a row (a row that does not open raises) and says what it did:
    # "ok" (nothing due), "due" (verify_only), "resealed", or "skipped" (the conditional rewrite
    # found the row rewritten by the bot meanwhile, under the new key).
    def _due(self, *sealed: str | None, plain: bool) -> bool:
        keys = self._seal.keys
        if keys is None:
            raise KeyProblem("resealing needs DATA_KEYS and INDEX_KEY")
        return plain or any(s is not None and key_id_of(s) != keys.primary for s in sealed)

    @staticmethod
    def _status(due: bool, verify_only: bool) -> str | None:
        """The status when no rewrite is to be done, else None."""
        if not due:
            return "ok"
        return "due" if verify_only else None

    @staticmethod
    def _took(rows: int) -> str:
        return "resealed" if rows == 1 else "skipped"

    def _reseal_users(self, tx: Tx, row: Sequence[Any], verify_only: bool) -> str:
        user_id, user_key, sealed = row[0], row[1], row[2]
        person = self._seal.open_user(user_key, sealed, row[3:6])
        status = self._status(self._due(sealed, plain=sealed is None), verify_only)
        if status is not None:
            return status
        columns = self._seal.user_columns(user_key, *person)
        return self._took(tx.run(WRITE_USER, {**columns, "id": user_id, "old": sealed or ""}))

    def _reseal_roster(self, tx: Tx, row: Sequence[Any], verify_only: bool) -> str:
        entry_id, person_idx, sealed = row[0], row[1], row[2]
        person = self._seal.open_roster(person_idx, sealed, row[3:6])
        status = self._status(self._due(sealed, plain=sealed is None), verify_only)
        if status is not None:
            return status
        columns = self._seal.roster_columns(*person)
        return self._took(tx.run(WRITE_ROSTER, {**columns, "id": entry_id, "old": sealed or ""}))

    def _reseal_responses(self, tx: Tx, row: Sequence[Any], verify_only: bool) -> str:
        response_id, survey_id, respondent, stored, answered = row[0:5]
        items = self._d.read_json(stored)
        opened = self._seal.open_answers(survey_id, respondent, items)
        name, member_no = self._seal.open_answered(survey_id, respondent, answered)
        if answered is None:
            name, member_no = row[5], row[6]
        texts = [item.get("s") for item in items if isinstance(item, dict)]
        plain_texts = any(isinstance(item, str) and item for item in items)
        plain = plain_texts or row[5] is not None or row[6] is not None
        status = self._status(self._due(answered, *texts, plain=plain), verify_only)
        if status is not None:
            return status
        params: dict[str, Any] = {
            "id": response_id, "survey_id": survey_id, "respondent": respondent,
            "user_id": row[7], "submitted_at": row[8], "old": answered or "",
            "old_answers": stored if isinstance(stored, str) else self._d.json(items),
            "answers": self._d.json(self._seal.answers(survey_id, respondent, opened)),
            "name": None, "member_no": None, "answered_sealed": None,
        }  # fmt: skip
        if name is not None:
            params.update(self._seal.answered(survey_id, respondent, name, member_no))
        if self._d.name == "postgres":
            return self._took(tx.run(WRITE_RESPONSE_PG, params))
        if tx.one(SAME_RESPONSE_SQLITE, params) is None:
            return "skipped"
        tx.run(DELETE_RESPONSE_SQLITE, params)
        tx.run(INSERT_RESPONSE_SQLITE, params)
        return "resealed"

    def _reseal_sessions(self, tx: Tx, row: Sequence[Any], verify_only: bool) -> str:
        user_key, stored, version = row[0], self._d.read_json(row[1]), row[2]
        state = self._seal.open_state(user_key, stored)
        sealed = stored.get(STATE_KEY)
        status = self._status(self._due(sealed, plain=sealed is None), verify_only)
        if status is not None:
            return status
        params = {"user_key": user_key, "version": version,
                  "state": self._d.json(self._seal.state(user_key, state))}  # fmt: skip
        return self._took(tx.run(WRITE_SESSION, params))
