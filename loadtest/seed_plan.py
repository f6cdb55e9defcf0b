"""What loadtest/seed.py writes: the people, surveys and answers of a load test, as the app writes
them (see seed.py's docstring for the rows), generated without the database."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from loadtest.kakao import (
    FREE_TEXTS,
    SEED_SURVEYS,
    admin_key,
    admin_name,
    department,
    extra_key,
    member_key,
    member_name,
)

ANSWER_VARIANTS = 1009  # distinct answer lists per survey; encoding 1M of them one by one is slow


class Person(NamedTuple):  # a tuple: millions are made, one per seeded person and response
    key: str
    name: str
    member_no: str | None
    department: str | None
    role: str


@dataclass
class Plan:
    members: int
    admins: int
    answers: int
    answers_survey: int  # 1-based index into SEED_SURVEYS
    secret_key: bytes | None
    now: datetime
    rng_seed: int = 20261125

    def people(self) -> Iterator[Person]:
        for n in range(1, self.admins + 1):
            yield Person(admin_key(n), admin_name(n), f"A{n:03d}", "총무팀", "admin")
        for n in range(1, self.members + 1):
            yield self.member(n)
        for n in range(1, max(self.answers - self.members, 0) + 1):
            yield self.extra(n)

    def member(self, n: int) -> Person:
        return Person(member_key(n), member_name(n), f"{n:05d}", department(n), "member")

    def extra(self, n: int) -> Person:
        number = self.members + n
        return Person(extra_key(n), member_name(number), f"X{n:07d}", department(number), "member")

    def respondent_keys(self) -> Iterator[str]:
        """Who holds the pre-filled answers: members first, then the extra people."""
        for n in range(1, min(self.answers, self.members) + 1):
            yield member_key(n)
        for n in range(1, max(self.answers - self.members, 0) + 1):
            yield extra_key(n)

    def respondents(self) -> Iterator[Person]:
        """The people of respondent_keys, in its order (a sealed response names its person)."""
        for n in range(1, min(self.answers, self.members) + 1):
            yield self.member(n)
        for n in range(1, max(self.answers - self.members, 0) + 1):
            yield self.extra(n)

    def surveys(self) -> list[dict[str, Any]]:
        rows = []
        for index, spec in enumerate(SEED_SURVEYS, start=1):
            days = spec["deadline_days"]
            questions = [
                {"kind": kind, "title": title, "options": list(options)}
                for kind, title, options in spec["questions"]
            ]
            rows.append(
                {
                    "title": spec["title"],
                    "description": spec["description"],
                    "questions": dump_json(questions),
                    "deadline_at": None if days is None else self.now + timedelta(days=days),
                    "anonymous": bool(spec["anonymous"]),
                    "draft_key": f"load-seed-{index}",
                }
            )
        return rows

    def answer_pool(self) -> list[str]:
        """Encoded answer lists for the answered survey, as encode_answers + dump_json write them."""
        rng = random.Random(self.rng_seed)
        questions = SEED_SURVEYS[self.answers_survey - 1]["questions"]
        pool = []
        for _ in range(ANSWER_VARIANTS):
            answers: list[Any] = []
            for kind, _title, options in questions:
                if kind == "single":
                    answers.append(rng.randrange(len(options)))
                elif kind == "multi":
                    picked = rng.sample(range(len(options)), rng.randint(1, min(3, len(options))))
                    answers.append(sorted(picked))
                else:
                    answers.append(rng.choice((*FREE_TEXTS, "")))
            pool.append(dump_json(answers))
        return pool

    def responses(
        self, survey_id: int, anonymous: bool, ids: dict[str, int]
    ) -> Iterator[tuple[str, int | None, str, datetime | None, int]]:
        """(respondent, user_id, answers JSON, submitted_at, participant user id) per response, in
        the order of respondent_keys."""
        rng = random.Random(self.rng_seed + 1)
        pick = rng.random
        answer_pool = self.answer_pool()
        # Submission times within the last week; drawn from a pool, which is much faster.
        week = 7 * 24 * 3600 * 10**6
        times = [self.now - timedelta(microseconds=rng.randrange(week)) for _ in range(4099)]
        for key in self.respondent_keys():
            user_id = ids[key]
            answers = answer_pool[int(pick() * ANSWER_VARIANTS)]
            if anonymous:
                assert self.secret_key is not None
                message = f"anon:{survey_id}:{key}".encode()
                digest = hmac.new(self.secret_key, message, hashlib.sha256).hexdigest()[:40]
                yield "a:" + digest, None, answers, None, user_id
            else:
                yield f"u:{user_id}", user_id, answers, times[int(pick() * len(times))], user_id


def dump_json(value: object) -> str:
    """store/rows.dump_json."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
