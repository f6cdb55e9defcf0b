"""Realistic KakaoTalk traffic for surveybot: whole conversations of members and admins.

    .venv-load/bin/locust -f loadtest/locustfile.py --host http://127.0.0.1:8000 \\
        --headless -u 100 -r 20 -t 1m --csv var/load/run --html var/load/run.html
    LOAD_SHAPE=ramp .venv-load/bin/locust -f loadtest/locustfile.py,loadtest/shapes.py ...

Seed the database first (loadtest/seed.py): every simulated person takes one seeded Kakao user key
(`load-member-00001`..., `load-admin-001`...), never shared with another simulated person, so the
conversations cannot disturb each other. Every reply is checked: HTTP 200 within Kakao's 5 s, a
valid Kakao reply (devstack.openbuilder, independent of the bot's own builder) and the text the step
expects; anything else is a failure in the statistics, named after the command that got it.

An overloaded bot answers a message it had no time for with its busy reply (surveybot's shedding,
SHED_AFTER_MS): a valid reply, so not a failure, but nothing was done; the simulated person sends
the same message again after a pause, as the reply asks. The summary counts those busy replies,
connection errors (no HTTP reply at all) and replies slower than 5 s apart from other failures.

Environment (all optional):
  LOAD_MEMBERS=1000 LOAD_ADMINS=5   what was seeded (seed.py --members / --admins)
  LOAD_ADMIN_USERS=2                simulated admins (fixed count); every other user is a member
  LOAD_WAIT=0.5,1.5                 think time between two messages, seconds (0 = none)
  LOAD_WITHDRAW=0.15                share of member conversations that withdraw and answer again
  LOAD_EXPORT=1 LOAD_CREATE=1       0 turns off the admins' downloads / survey creation
  LOAD_SUMMARY=path.json            write a summary (shape, users, locust CPU warning) at the end
  SKILL_SECRET, SKILL_SECRET_HEADER the bot's shared secret, sent on every /skill request
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from locust import FastHttpUser, between, constant, task
from locust.exception import StopUser

# locust puts the working directory (the repository root) on sys.path: `loadtest` is a package.
from loadtest.kakao import (
    FREE_TEXTS,
    SEED_TITLES,
    admin_key,
    admin_name,
    encode,
    member_key,
    member_name,
    payload,
    quick_replies,
    reply_problems,
    reply_text,
)
from loadtest.keypool import KeyPool
from loadtest.locust_run import BUSY_REPLY, DEFAULT_HOST, check_target, count
from surveybot.kakao.reply import BUSY


def _env_float_pair(name: str, default: str) -> tuple[float, float]:
    parts = [float(p) for p in os.environ.get(name, default).split(",")]
    return (parts[0], parts[-1])


SKILL_PATH = os.environ.get("LOAD_SKILL_PATH", "/skill")
MEMBERS = int(os.environ.get("LOAD_MEMBERS", "1000"))
ADMINS = int(os.environ.get("LOAD_ADMINS", "5"))
ADMIN_USERS = int(os.environ.get("LOAD_ADMIN_USERS", "2"))
WAIT = _env_float_pair("LOAD_WAIT", "0.5,1.5")
WITHDRAW = float(os.environ.get("LOAD_WITHDRAW", "0.15"))
EXPORT = os.environ.get("LOAD_EXPORT", "1") != "0"
CREATE = os.environ.get("LOAD_CREATE", "1") != "0"
HEADERS = {"Content-Type": "application/json;charset=UTF-8"}
DEADLINE_S = 5.0  # Kakao drops a slower reply: the person sees nothing
RESENDS = 3  # times a person sends a message again after a busy reply
if os.environ.get("SKILL_SECRET"):
    HEADERS[os.environ.get("SKILL_SECRET_HEADER", "X-Skill-Secret")] = os.environ["SKILL_SECRET"]

QUESTION = re.compile(r"질문 (\d+)/(\d+) \((하나 선택|여러 개 선택 가능|자유 응답)\)")
LISTING = re.compile(r"^(\d+)\. (.+)\n\s+마감 .*· (✅ 응답함|⬜ 미응답)", re.MULTILINE)
MANAGED = re.compile(r"^(\d+)\. (.+)$", re.MULTILINE)
PUBLISHED = re.compile(r"설문 (\d+) '")
KIND_NAMES = {"하나 선택": "답(하나)", "여러 개 선택 가능": "답(복수)", "자유 응답": "답(자유)"}
MAX_QUESTIONS = 20  # surveybot.domain.QUESTIONS_MAX: a conversation always ends
Expect = str | tuple[str, ...]


MEMBER_KEYS = KeyPool(member_key, MEMBERS)
ADMIN_KEYS = KeyPool(admin_key, ADMINS)


class KakaoUser(FastHttpUser):
    """One KakaoTalk user: a seeded key, and a `say` that checks every reply."""

    abstract = True
    host = DEFAULT_HOST
    wait_time = between(*WAIT) if WAIT[1] > 0 else constant(0)
    keys: KeyPool
    key = ""
    number = 0

    def on_start(self) -> None:
        check_target(self.host)  # before this user sends anything
        key = self.keys.take(self.environment)
        if key is None:
            self._fail("seed", f"no free seeded key for another {type(self).__name__}: seed more")
            raise StopUser()
        self.key = key
        self.number = int(key.rsplit("-", 1)[1])
        self.last: dict[str, Any] = {}
        if self.keys.returned(key):
            # locust stops users in the middle of a conversation (a shape lowering the count, or
            # spreading users over --processes); the bot still holds that person's open question,
            # where the next person's "메뉴" would be taken as the answer. Leave it first.
            self.say("그만", "그만(이어받기)", "")

    def on_stop(self) -> None:
        if self.key:
            self.keys.give(self.key)
            self.key = ""

    def _fail(self, name: str, message: str) -> None:
        """A failure that is not an HTTP response (a conversation that went off the rails)."""
        self.environment.events.request.fire(
            request_type="CHECK",
            name=name,
            response_time=0,
            response_length=0,
            exception=AssertionError(message),
            context={},
        )

    def say(
        self, text: str, name: str, expect: Expect, extra: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """Send one message; the reply when it is valid and says what `expect` says, else None.
        A busy reply gets the message sent again after a pause, as a person would."""
        for attempt in range(RESENDS + 1):
            reply = self._say_once(text, name, expect, extra)
            if reply is not BUSY_REPLY:
                return reply
            if attempt < RESENDS:
                self.wait()
        return None

    def _say_once(
        self, text: str, name: str, expect: Expect, extra: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        body = encode(payload(self.key, text, extra))
        began = time.monotonic()
        with self.client.post(
            SKILL_PATH, data=body, headers=HEADERS, name=name, catch_response=True
        ) as response:
            took = time.monotonic() - began
            if response.status_code == 0:
                count("connection_errors")
                response.failure(f"connection error: {response.error}"[:200])
                return None
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}: {(response.text or '')[:200]}")
                return None
            if took > DEADLINE_S:
                count("over_deadline")
                response.failure(f"reply after {took:.1f} s: Kakao gives up after {DEADLINE_S:g} s")
                return None
            try:
                reply = json.loads(response.content or b"")
            except ValueError:
                response.failure(f"not JSON: {(response.text or '')[:200]}")
                return None
            problems = reply_problems(reply)
            if problems:
                response.failure("invalid Kakao reply: " + "; ".join(problems[:3]))
                return None
            said = reply_text(reply)
            if said == BUSY:
                count("shed")
                response.success()  # a valid reply within the deadline; the person sends again
                return BUSY_REPLY
            wanted = (expect,) if isinstance(expect, str) else expect
            if not any(part in said for part in wanted):
                response.failure(f"{text[:30]!r} expected {wanted[0]!r}, got {said[:160]!r}")
                return None
            response.success()
        self.last = reply
        return reply

    def tap(self, label: str, name: str, expect: Expect) -> dict[str, Any] | None:
        """Tap the quick reply of the last reply whose label starts with `label`."""
        for quick in quick_replies(self.last):
            if str(quick.get("label", "")).startswith(label):
                return self.say(str(quick["messageText"]), name, expect, quick.get("extra"))
        labels = [q.get("label") for q in quick_replies(self.last)]
        self._fail(name, f"no quick reply {label!r} in {labels}")
        return None


class Member(KakaoUser):
    """메뉴, 설문목록, 참여 n, every question, 제출, 내응답 n; sometimes 취소 n, 취소확인 n, again."""

    keys = MEMBER_KEYS

    @task
    def conversation(self) -> None:
        name = member_name(self.number)
        if not self.say("메뉴", "메뉴", f"{name}님, 무엇을 할까요?"):
            return
        self.wait()
        listing = self.say("설문목록", "설문목록", "[진행 중인 설문]")
        if listing is None:
            return
        seeded = [int(m[1]) for m in LISTING.finditer(reply_text(listing)) if m[2] in SEED_TITLES]
        if not seeded:
            self._fail("설문목록", "no seeded survey in the list: run loadtest/seed.py first")
            return
        survey = random.choice(seeded)
        self.wait()
        if not self.answer(self.say(f"참여 {survey}", "참여", ("질문 ", "[응답 확인]"))):
            return
        self.wait()
        if not self.tap("내 응답 보기", "내응답", "[내 응답]"):
            return
        if random.random() < WITHDRAW:
            self.wait()
            if not self.tap("응답 철회", "취소", "철회할까요?"):
                return
            self.wait()
            if not self.tap("철회 확인", "취소확인", "응답을 철회했습니다"):
                return
            self.wait()
            self.answer(self.tap(f"다시 참여 {survey}", "참여", ("질문 ", "[응답 확인]")))

    def answer(self, reply: dict[str, Any] | None) -> bool:
        """From a question (or the summary) to a saved response."""
        for _ in range(MAX_QUESTIONS + 1):
            if reply is None:
                return False
            text = reply_text(reply)
            if "[응답 확인]" in text:
                self.wait()
                return self.tap("제출", "제출", "응답이 저장되었습니다") is not None
            found = QUESTION.search(text)
            if found is None:
                self._fail("참여", f"no question in {text[:120]!r}")
                return False
            step, total, kind = int(found[1]), int(found[2]), found[3]
            expect = f"질문 {step + 1}/{total}" if step < total else "[응답 확인]"
            self.wait()
            reply = self.answer_question(kind, expect)
        self._fail("참여", f"more than {MAX_QUESTIONS} questions")
        return False

    def answer_question(self, kind: str, expect: str) -> dict[str, Any] | None:
        """Tap an option's quick reply (its extra comes back as clientExtra) or type the answer."""
        name = KIND_NAMES[kind]
        options = [q for q in quick_replies(self.last) if "o" in (q.get("extra") or {})]
        if kind == "자유 응답":
            if random.random() < 0.3:
                return self.tap("건너뛰기", name, expect)
            return self.say(random.choice(FREE_TEXTS), name, expect)
        if not options:
            self._fail(name, "no option quick replies")
            return None
        if kind == "여러 개 선택 가능" and random.random() < 0.5:
            picked = random.sample(
                range(1, len(options) + 1), random.randint(1, min(3, len(options)))
            )
            return self.say(",".join(map(str, sorted(picked))), name, expect)
        if random.random() < 0.2:
            return self.say(str(random.randint(1, len(options))), name, expect)
        quick = random.choice(options)
        return self.say(str(quick["messageText"]), name, expect, quick.get("extra"))


class Admin(KakaoUser):
    """결과 n, 미응답 n (and its next page), 다운로드 n + the file, 설문만들기 in one message."""

    keys = ADMIN_KEYS
    fixed_count = ADMIN_USERS
    surveys: list[int]

    def on_start(self) -> None:
        super().on_start()
        self.surveys = []
        self.created = itertools.count(1)
        menu = self.say("메뉴", "메뉴(관리자)", f"{admin_name(self.number)}님, 무엇을 할까요?")
        managed = self.say("설문관리", "설문관리", "[설문관리]") if menu else None
        if managed is not None:
            self.surveys = [
                int(m[1]) for m in MANAGED.finditer(reply_text(managed)) if m[2] in SEED_TITLES
            ]
        if not self.surveys:
            self._fail("설문관리", "no seeded survey: run loadtest/seed.py first")
            raise StopUser()

    @task(5)
    def results(self) -> None:
        survey = random.choice(self.surveys)
        if self.say(f"결과 {survey}", "결과", f"[결과] {survey}.") and random.random() < 0.3:
            self.wait()
            self.tap(f"미응답 {survey}", "미응답", "[미응답]")

    @task(3)
    def pending(self) -> None:
        survey = random.choice(self.surveys)
        reply = self.say(f"미응답 {survey}", "미응답", "[미응답]")
        if reply is not None and random.random() < 0.5:
            labels = [str(q.get("label", "")) for q in quick_replies(reply)]
            if any(label.startswith("다음") for label in labels):
                self.wait()
                self.tap("다음", "미응답 다음", "2쪽")

    @task(1)
    def export(self) -> None:
        if not EXPORT:
            return
        survey = random.choice(self.surveys)
        reply = self.say(f"다운로드 {survey}", "다운로드", "결과 파일")
        if reply is None:
            return
        card = reply["template"]["outputs"][0].get("textCard", {})
        url = str((card.get("buttons") or [{}])[0].get("webLinkUrl", ""))
        if not url:
            return  # an open anonymous survey gives no file yet (README: Anonymity)
        self.wait()
        # The link carries PUBLIC_BASE_URL; fetch its path from the host under test.
        with self.client.get(
            urlsplit(url).path, name="/exports/[token]", catch_response=True
        ) as response:
            content = response.content or b""
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code} for the export link")
            elif not content.startswith(b"\xef\xbb\xbf"):
                response.failure("the export is not UTF-8 CSV with a BOM")
            else:
                response.success()

    @task(1)
    def create(self) -> None:
        if not CREATE:
            return
        title = f"부하 점검 {self.number}-{next(self.created)}"
        due = time.gmtime(time.time() + timedelta(days=7, hours=9).total_seconds())  # KST
        text = (
            f"설문만들기 {title}\n설명 부하 테스트가 만들고 지우는 설문\n"
            "Q 참석하시나요? / 참석, 불참\nQ 선호 메뉴 (복수) / 한식, 중식, 양식\nQ 건의사항\n"
            f"마감 {time.strftime('%Y-%m-%d %H:%M', due)}"
        )
        if not self.say(text, "설문만들기", "[미리보기]"):
            return
        self.wait()
        published = self.tap("확인", "확인(게시)", "게시했습니다")
        found = PUBLISHED.search(reply_text(published)) if published else None
        if found is None:
            return
        survey = int(found[1])
        self.wait()
        if not self.say(f"결과 {survey}", "결과", f"[결과] {survey}."):
            return
        # Delete it again, so the survey lists stay the seeded size however long the run.
        self.wait()
        if self.say(f"삭제 {survey}", "삭제", "삭제할까요?"):
            self.wait()
            self.tap("삭제 확인", "삭제확인", "삭제했습니다")
