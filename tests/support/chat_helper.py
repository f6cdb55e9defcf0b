"""Drive the bot as Kakao users do, checking every reply against Kakao's limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import falcon.testing

from devstack.openbuilder import assert_valid_reply, quick_labels, quick_texts, reply_texts
from surveybot.domain import KST
from surveybot.kakao.payload import build_payload as payload


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 25, 3, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Person:
    """One KakaoTalk user talking to the bot through the HTTP app."""

    def __init__(self, client: falcon.testing.TestClient, key: str) -> None:
        self.client = client
        self.key = key
        self.last: dict[str, Any] = {}

    def say(self, utterance: str, extra: dict[str, Any] | None = None) -> str:
        result = self.client.simulate_post("/skill", json=payload(self.key, utterance, extra))
        assert result.status_code == 200, result.text
        self.last = result.json
        assert_valid_reply(self.last)
        assert self.commands, "every reply offers a next step"
        return self.text

    def tap(self, label: str) -> str:
        """Tap the quick reply whose label starts with `label`, as the Kakao client would."""
        for quick in self.last["template"].get("quickReplies", []):
            if quick["label"].startswith(label):
                return self.say(quick["messageText"], quick.get("extra"))
        raise AssertionError(f"no quick reply {label!r} in {self.labels}")

    def quick(self, label: str) -> dict[str, Any]:
        for quick in self.last["template"].get("quickReplies", []):
            if quick["label"].startswith(label):
                return dict(quick)
        raise AssertionError(f"no quick reply {label!r} in {self.labels}")

    @property
    def text(self) -> str:
        return "\n".join(reply_texts(self.last))

    @property
    def labels(self) -> list[str]:
        return quick_labels(self.last)

    @property
    def commands(self) -> list[str]:
        return quick_texts(self.last)


def survey_message(due: str = "2026-12-10 18:00") -> str:
    """The issue's example survey, due at `due` (Korea time)."""
    return f"""설문만들기 12월 송년회 참석 조사
설명 12월 20일 18시, 본관 식당
Q 참석하시나요? / 참석, 불참
Q 선호 메뉴 (복수) / 한식, 중식, 양식
Q 건의사항
마감 {due}"""


# For tests on the Clock above (2026-11-25): the deadline lies ahead of that clock.
SURVEY_MESSAGE = survey_message()


def future_survey_message() -> str:
    """For tests against real servers on the real clock: due a month from now."""
    due = datetime.now(KST) + timedelta(days=30)
    return survey_message(due.strftime("%Y-%m-%d %H:%M"))
