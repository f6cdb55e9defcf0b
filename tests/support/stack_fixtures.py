"""Helpers for the tests that run the native stack (devstack.stack): a stack folder, a
Kakao-like client going through nginx, and a bounded load of answer conversations.

The fixtures (stack_folder, module_stack_folder) are a plugin of tests/conftest.py; import the rest
by name: `from support.stack_fixtures import Kakao, Load, ...`.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.binaries import find_binary
from devstack.openbuilder import assert_valid_reply, reply_texts
from devstack.paths import scratch_folder
from devstack.settings import derived_keys
from devstack.stack import Stack
from support.chat_helper import SURVEY_MESSAGE, payload
from surveybot.crypto import keyring_from_text
from surveybot.store.sealing import Sealing

REPO = Path(__file__).resolve().parents[2]
ADMIN_CODE = "stack-admin-code"
SKILL_SECRET = "stack-skill-secret"
STACK_ENV = {"SURVEYBOT_ADMIN_CODE": ADMIN_CODE, "SKILL_SECRET": SKILL_SECRET}
SAVED = "저장되었습니다"
APOLOGY = "죄송합니다"
# The survey of chat_helper without its deadline, which would close it in December 2026.
SURVEY = "\n".join(line for line in SURVEY_MESSAGE.splitlines() if not line.startswith("마감"))


def require_nginx() -> None:
    """Fail with the fix when nginx is missing (scripts/stack installs it)."""
    if find_binary("nginx") is None:
        pytest.fail("nginx is not installed: run `apt-get install -y nginx` (or scripts/stack up)")


@pytest.fixture
def stack_folder() -> Iterator[Path]:
    """An empty folder for a stack that the postgres user can reach (a RAM disk when there is one)."""
    yield from _folder()


@pytest.fixture(scope="module")
def module_stack_folder() -> Iterator[Path]:
    yield from _folder()


def _folder() -> Iterator[Path]:
    folder = scratch_folder("surveybot-stack-")
    try:
        yield folder / "stack"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class Reply:
    status: int
    body: dict[str, Any]
    upstream: str  # the node that answered: the last address of nginx's X-Upstream

    @property
    def text(self) -> str:
        return "\n".join(reply_texts(self.body)) if self.body else ""


class Kakao:
    """Open Builder's side: POSTs skill requests through nginx with the shared secret."""

    def __init__(self, url: str) -> None:
        self.url = url + "/skill"
        self.session = requests.Session()

    def say(self, user: str, text: str) -> Reply:
        response = self.session.post(
            self.url, json=payload(user, text), headers={"X-Skill-Secret": SKILL_SECRET}, timeout=6
        )
        body: dict[str, Any] = {}
        if response.headers.get("Content-Type", "").startswith("application/json"):
            body = response.json()
            assert_valid_reply(body)
        # Tries are separated by ", ", nginx's second pass (@skill_connect) by " : ".
        upstream = re.split(r", | : ", response.headers.get("X-Upstream", ""))[-1]
        return Reply(response.status_code, body, upstream)

    def close(self) -> None:
        self.session.close()


def publish_survey(kakao: Kakao) -> int:
    """Make `boss` an admin (once) and publish a new survey; return its number."""
    kakao.say("boss", "등록 김관리")  # again: the name is unchanged
    kakao.say("boss", f"관리자인증 {ADMIN_CODE}")
    assert "[미리보기]" in kakao.say("boss", SURVEY).text
    published = kakao.say("boss", "확인").text
    assert "게시했습니다" in published, published
    return int(published.split("설문 ", 1)[1].split(" ", 1)[0])


# --- load -------------------------------------------------------------------------------------

# A person's answers as typed, and as the database stores them (0-based option indexes).
CHOICES = [("참석", 0), ("불참", 1)]
MULTI = [("1", [0]), ("2,3", [1, 2]), ("1,3", [0, 2]), ("3", [2])]


@dataclass
class Outcome:
    start: float
    end: float
    user: str
    step: str
    status: int
    kind: str  # ok | apology | unexpected | error
    upstream: str
    text: str = ""


@dataclass
class Load:
    """Threads answering the survey as distinct people, each `rounds` times (a later answer
    replaces an earlier one), recording every request and every answer acknowledged as saved."""

    url: str
    survey: int
    threads: int = 4
    rounds: int = 2
    prefix: str = "load"
    outcomes: list[Outcome] = field(default_factory=list)
    acked: dict[str, list[Any]] = field(default_factory=dict)  # last answer the bot saved
    # Submits after the last acknowledged one whose fate is unknown (the request failed).
    unsure: dict[str, list[list[Any]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._workers = [
            threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(self.threads)
        ]

    def __enter__(self) -> Load:
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=15)
        assert not any(w.is_alive() for w in self._workers), "load threads did not stop"

    def _run(self, thread: int) -> None:
        kakao = Kakao(self.url)
        try:
            number = 0
            while not self._stop.is_set():
                number += 1
                self._person(kakao, f"{self.prefix}-{thread}-{number}", thread + number)
        finally:
            kakao.close()

    def _person(self, kakao: Kakao, user: str, seed: int) -> None:
        if not self._step(kakao, user, f"등록 {user}", "등록되었습니다"):
            return
        for round_ in range(self.rounds):
            choice, stored_choice = CHOICES[(seed + round_) % len(CHOICES)]
            multi, stored_multi = MULTI[(seed + round_) % len(MULTI)]
            memo = f"{user} r{round_}"
            stored = [stored_choice, stored_multi, memo]
            steps = [(f"참여 {self.survey}", "질문 1/3"), (choice, "질문 2/3"),
                     (multi, "질문 3/3"), (memo, "[응답 확인]")]  # fmt: skip
            if not all(self._step(kakao, user, text, want) for text, want in steps):
                return
            if self._step(kakao, user, "제출", SAVED):
                with self._lock:
                    self.acked[user] = stored
                    self.unsure.pop(user, None)
            else:
                with self._lock:
                    self.unsure.setdefault(user, []).append(stored)
                return

    def _step(self, kakao: Kakao, user: str, text: str, want: str) -> bool:
        start = time.monotonic()
        try:
            reply = kakao.say(user, text)
            kind = (
                "ok" if want in reply.text else "apology" if APOLOGY in reply.text else "unexpected"
            )
            status, upstream, said = reply.status, reply.upstream, reply.text
        except (requests.RequestException, AssertionError, ValueError) as error:
            kind, status, upstream, said = "error", 0, "", repr(error)
        outcome = Outcome(start, time.monotonic(), user, text, status, kind, upstream, said[:200])
        with self._lock:
            self.outcomes.append(outcome)
        if kind != "ok":
            time.sleep(0.05)  # a person waits a moment before trying again
        return kind == "ok"

    # --- reading the results ---
    def failures(self, since: float = 0.0, until: float = float("inf")) -> list[Outcome]:
        return [o for o in self.outcomes if o.kind != "ok" and since <= o.start <= until]

    def served_by(self, since: float = 0.0) -> Counter[str]:
        return Counter(o.upstream for o in self.outcomes if o.kind == "ok" and o.start >= since)

    def summary(self) -> str:
        kinds = Counter(o.kind for o in self.outcomes)
        return f"{len(self.outcomes)} requests {dict(kinds)}, {len(self.acked)} answers saved"


def check_stored(stack: Stack, load: Load) -> int:
    """Every saved answer is in the database exactly once and is what the person last sent;
    return the number of stored responses."""
    rows = stack.psql(
        "SELECT u.user_key, r.answers, r.respondent FROM responses r"
        " JOIN users u ON u.id = r.user_id WHERE r.survey_id = %s",
        (load.survey,),
    )
    # Written texts are sealed with the stack's keys (issue 13): compare what was answered.
    derived = derived_keys(stack.secret_key)
    sealing = Sealing(keyring_from_text(derived["DATA_KEYS"], derived["INDEX_KEY"]))
    stored = {key: sealing.open_answers(load.survey, who, answers) for key, answers, who in rows}
    assert len(stored) == len(rows), "a person has two responses"
    for user, answers in load.acked.items():
        allowed = [answers, *load.unsure.get(user, [])]
        assert user in stored, f"{user}: saved answer missing"
        assert stored[user] in allowed, f"{user}: stored {stored[user]}, sent {allowed}"
    for user, answers in stored.items():
        if user not in load.acked:
            # Only a submit whose reply was lost may have been stored without acknowledgement.
            assert answers in load.unsure.get(user, []), f"{user}: unexpected response {answers}"
    duplicates = stack.psql(
        "SELECT respondent FROM responses WHERE survey_id = %s GROUP BY respondent HAVING count(*) > 1",
        (load.survey,),
    )
    assert duplicates == []
    return len(stored)
