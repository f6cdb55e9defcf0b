"""Property-based fuzzing of whole conversations through the HTTP app, on both backends (issue 7).

Hypothesis writes scripts (support/fuzz_scripts.py): an admin publishes surveys in the one-message form,
members register and answer, and everybody sends what attackers and confused phone users send:
option numbers and labels, control words, free text that begins with a command word, 600-character
texts, emoji, NUL, control, zero-width and bidi characters, taps of the quick replies actually
offered (messageText plus extra, as Kakao sends them), forged taps whose extra carries booleans,
floats, huge ints, strings, lists or objects, double taps, and admin commands. Every reply must be
HTTP 200, carry no apology, fit Kakao's limits and offer a quick reply. A text typed under a
free-text question is its answer unless it is exactly a control word or a bare command word
(`이전`, `설문목록`); `등록 홍길동`, `참여 2` or `건너뛰기 해도 되나요` are answers. After each
script every stored answer must fit its question (read straight from the database, checked by a
validator written here, not imported from the app), and a submitted free-text answer must be the
text that was typed.

Each example starts from an empty database (surveys, people, sessions), so a failure replays the
same way and a bad row is blamed on the script that wrote it. A failure is shrunk to a short
script and printed with the requests it sent; it is kept in .pytest_cache and replayed first on
the next run. `--fuzz` runs ten times the examples; the request count and wall time are printed
at the end of each test (visible without -s).
"""

from __future__ import annotations

import itertools
import json
import re
import time
import unicodedata
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import falcon.testing
import pytest
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis.database import DirectoryBasedExampleDatabase

from support.chat_helper import Clock, payload
from support.fuzz_checks import (
    BARE_COMMANDS,
    FREE_TEXT_MAX,
    Database,
    canonical,
    check_free_text_taken,
    check_limits,
    check_no_apology,
    check_quick_reply,
    check_status,
    check_stored_answers,
    check_texts_kept,
)
from support.fuzz_scripts import (
    DROP,
    Again,
    Command,
    Forge,
    ForgeOption,
    Join,
    Proceed,
    Say,
    Script,
    SurveySpec,
    Tap,
    scripts,
)
from surveybot.app import create_app
from surveybot.config import Config
from surveybot.store.base import Store

ADMIN_CODE = "fuzz-admin-code-7"
# Per backend. Tuned on a 2-core machine: both backends together send over 20,000 requests in
# under a minute; PostgreSQL takes most of it.
EXAMPLES = 100
FUZZ_FACTOR = 10
KEYS = itertools.count()
TOTAL = {"requests": 0, "seconds": 0.0}
class Position(NamedTuple):
    survey: int
    step: int
    free_text: bool


def position(reply: dict[str, Any] | None) -> Position | None:
    """The survey and step a reply of the answering flow shows, from its quick replies' extras."""
    quick = (reply or {}).get("template", {}).get("quickReplies") or []
    marked = [q for q in quick if isinstance(q.get("extra"), dict) and "s" in q["extra"]]
    if not marked:
        return None
    extra = marked[0]["extra"]
    if not isinstance(extra.get("s"), int) or not isinstance(extra.get("q"), int):
        return None
    options = any("o" in q["extra"] for q in marked)
    skip = any(q.get("messageText") == "건너뛰기" for q in marked)
    return Position(extra["s"], extra["q"], skip and not options)


def is_answer(text: str) -> bool:
    """At a free-text question, is `text` an answer the app must take? (see the module doc)"""
    seen = canonical(text)
    if seen.casefold() in BARE_COMMANDS:
        return False
    # Blank, too long or carrying control characters: the app may ask again instead.
    controls = any(unicodedata.category(c) == "Cc" and c not in "\n\r\t" for c in text)
    return bool(seen) and len(text.strip()) <= FREE_TEXT_MAX and not controls


@dataclass
class FreeTexts:
    """What each person typed at free-text questions: the drafts, and what was submitted."""

    drafts: dict[tuple[str, int], dict[int, str]] = field(default_factory=dict)
    submitted: dict[tuple[str, int], dict[int, str]] = field(default_factory=dict)
    # The step each person was last shown: a command in between (설문목록) keeps the draft, and
    # the next message may still answer that step.
    shown: dict[str, Position] = field(default_factory=dict)
    checked: int = 0

    def lost(self, key: str, text: str, extra: Any, before: Any, after: Any) -> int | None:
        """Record the answer when the step advanced; the survey when a typed answer went astray."""
        was, now = self.shown.get(key), position(after)
        if now is not None:
            self.shown[key] = now
        if was is None or not was.free_text:
            return None
        advanced = now is not None and (now.survey, now.step) == (was.survey, was.step + 1)
        if advanced:
            self.drafts.setdefault((key, was.survey), {})[was.step] = text
        # Only a text typed right under the question must be its answer.
        if position(before) != was or extra is not None or not is_answer(text):
            return None
        self.checked += 1
        return None if advanced else was.survey

    def saw(self, key: str, reply: dict[str, Any]) -> None:
        """A submission: its free-text answers are the current draft's."""
        found = SAVED.search(json.dumps(reply, ensure_ascii=False))
        if found:
            survey = int(found.group(1))
            self.submitted[(key, survey)] = dict(self.drafts.pop((key, survey), {}))


# --- playing a script ---------------------------------------------------------------------------

PUBLISHED = re.compile(r"설문 (\d+) '.*'을 게시했습니다", re.DOTALL)
SAVED = re.compile(r"설문 (\d+) 응답이 저장되었습니다")
LEAVING = {"그만", "이전"}


def goes_on(quick: dict[str, Any]) -> bool:
    return quick.get("messageText") not in LEAVING


def is_option(quick: dict[str, Any]) -> bool:
    return isinstance(quick.get("extra"), dict) and "o" in quick["extra"]


class Conversation:
    """The people of one script talking to the app; every reply is checked as it arrives."""

    def __init__(self, client: falcon.testing.TestClient, database: Database, people: int) -> None:
        tag = next(KEYS)
        self.client = client
        self.database = database
        self.keys = [f"fuzz{tag}-{'admin' if i == 0 else f'member{i}'}" for i in range(people)]
        self.last: dict[str, dict[str, Any]] = {}
        self.sent: dict[str, tuple[str, Any]] = {}
        self.published: list[int] = []
        self.texts = FreeTexts()
        self.requests = 0

    def say(self, actor: int, text: str, extra: Any = None) -> dict[str, Any]:
        key = self.keys[actor % len(self.keys)]
        body = payload(key, text)
        if extra is not None:
            body["action"]["clientExtra"] = extra
        where = f"{key}: {text!r} extra={extra!r}"
        note(where)
        result = self.client.simulate_post("/skill", json=body)
        self.requests += 1
        self.sent[key] = (text, extra)
        check_status(result.status_code, result.text, where)
        reply = result.json
        check_limits(reply, where)
        check_no_apology(reply, where)
        check_quick_reply(reply, where)
        before, self.last[key] = self.last.get(key), reply
        astray = self.texts.lost(key, text, extra, before, reply)
        # Leaving the flow is right when the survey was closed or deleted meanwhile.
        lost = astray is not None and self.database.is_open(astray)
        check_free_text_taken(lost, f"{where} -> {json.dumps(reply, ensure_ascii=False)[:300]}")
        self.texts.saw(key, reply)
        return reply

    def offered(self, actor: int, keep: Any = None) -> list[dict[str, Any]]:
        """The quick replies of the actor's last reply that `keep` accepts (a 메뉴 tap if none)."""
        reply = self.last.get(self.keys[actor % len(self.keys)], {})
        quick = reply.get("template", {}).get("quickReplies") or []
        chosen = [q for q in quick if keep is None or keep(q)]
        return chosen or quick or [{"messageText": "메뉴"}]

    def tap(self, actor: int, index: int, keep: Any = None, forged: Any = None) -> None:
        """Send an offered quick reply as Kakao does, its extra changed by `forged`."""
        choices = self.offered(actor, keep)
        quick = choices[index % len(choices)]
        extra = quick.get("extra")
        if forged is not None:
            extra = dict(extra or {})
            for name, value in forged.items():
                if value is DROP:
                    extra.pop(name, None)
                else:
                    extra[name] = value
        self.say(actor, quick["messageText"], extra)

    def survey(self, ref: int) -> int:
        return self.published[ref % len(self.published)] if self.published else ref

    def publish(self, spec: SurveySpec) -> None:
        self.say(0, spec.message())
        if not any(q.get("messageText") == "확인" for q in self.offered(0)):
            return  # the survey text was refused, which is fine
        self.tap(0, 0, keep=lambda q: q.get("messageText") == "확인")
        found = PUBLISHED.search(json.dumps(self.last[self.keys[0]], ensure_ascii=False))
        if found:
            self.published.append(int(found.group(1)))

    def step(self, step: Any) -> None:
        if isinstance(step, Say):
            self.say(step.actor, step.text, step.extra)
        elif isinstance(step, Tap):
            self.tap(step.actor, step.index)
        elif isinstance(step, Proceed):
            for _ in range(step.times):
                self.tap(step.actor, step.index, keep=goes_on)
        elif isinstance(step, Forge):
            self.tap(step.actor, step.index, forged={step.key: step.value})
        elif isinstance(step, ForgeOption):
            self.tap(step.actor, step.index, keep=is_option, forged={"o": step.value})
        elif isinstance(step, Join | Command):
            word = step.word if isinstance(step, Command) else "참여"
            self.say(step.actor, f"{word} {self.survey(step.survey)}")
        elif isinstance(step, Again):
            self.say(step.actor, *self.sent.get(self.keys[step.actor % len(self.keys)], ("메뉴",)))

    def play(self, script: Script) -> None:
        self.say(0, "등록 김관리")
        self.say(0, f"관리자인증 {ADMIN_CODE}")
        for spec in script.surveys:
            self.publish(spec)
        for actor, name in enumerate(script.names, start=1):
            self.say(actor, f"등록 {name}")
        for step in script.steps:
            self.step(step)


# --- the test -----------------------------------------------------------------------------------


def report(pytestconfig: pytest.Config, line: str) -> None:
    """Print past pytest's capture, so the numbers show in a plain run."""
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    if capture is None:  # -p no:capture
        print(f"\n{line}", flush=True)
        return
    with capture.global_and_fixture_disabled():
        print(f"\n{line}", flush=True)


def example_database(pytestconfig: pytest.Config) -> DirectoryBasedExampleDatabase | None:
    """Failing examples kept in .pytest_cache (ignored by git) and replayed first next time."""
    cache = getattr(pytestconfig, "cache", None)  # absent under -p no:cacheprovider
    return None if cache is None else DirectoryBasedExampleDatabase(str(cache.mkdir("hypothesis")))


def fuzz_settings(fuzz: bool, pytestconfig: pytest.Config) -> settings:
    return settings(
        max_examples=EXAMPLES * (FUZZ_FACTOR if fuzz else 1),
        deadline=None,
        derandomize=False,
        # No explain phase: it replays failures under a line tracer, minutes for little news.
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
        print_blob=True,
        database=example_database(pytestconfig),
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )


def check_something_was_tested(tally: dict[str, int]) -> None:
    """The script reads survey numbers and steps from the replies (their wording, the quick
    replies' extra {"s", "q"}): fail when it no longer can, rather than pass having done nothing."""
    assert tally["published"] > 0, "no survey was published: has the reply's wording changed?"
    assert tally["submitted"] > 0, "no answer was submitted: has the reply's wording changed?"
    assert tally["checked"] > 0, "no typed free-text answer was checked: has `extra` changed?"


@pytest.mark.timeout(1800)  # a failure is shrunk for minutes; --fuzz runs ten times longer
def test_random_conversations_keep_every_promise(
    store: Store, fuzz: bool, pytestconfig: pytest.Config
) -> None:
    config = Config(environment="development", admin_code=ADMIN_CODE)
    client = falcon.testing.TestClient(create_app(config, store, now=Clock()))
    database = Database(store)
    tally = {"requests": 0, "checked": 0, "published": 0, "submitted": 0}

    @fuzz_settings(fuzz, pytestconfig)
    @given(script=scripts)
    def conversations_keep_every_promise(script: Script) -> None:
        database.reset()
        conversation = Conversation(client, database, 1 + len(script.names))
        try:
            conversation.play(script)
        finally:
            tally["requests"] += conversation.requests
            tally["checked"] += conversation.texts.checked
            tally["published"] += len(conversation.published)
            tally["submitted"] += len(conversation.texts.submitted)
        rows = database.rows()
        check_stored_answers(rows)
        check_texts_kept(rows, conversation.texts.submitted)

    started = time.perf_counter()
    try:
        conversations_keep_every_promise()
        check_something_was_tested(tally)
    finally:
        database.close()
        elapsed = time.perf_counter() - started
        TOTAL["requests"] += tally["requests"]
        TOTAL["seconds"] += elapsed
        report(
            pytestconfig,
            f"[fuzz] {type(store).__name__}: {tally['requests']} requests in {elapsed:.1f} s "
            f"({tally['requests'] / max(elapsed, 1e-9):.0f}/s); this module so far: "
            f"{TOTAL['requests']} requests in {TOTAL['seconds']:.1f} s",
        )
