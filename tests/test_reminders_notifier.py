"""The notifier against the fake Kakao Event API (a real HTTP server), on both backends.

Kakao's delivery is simulated too: the fake runs the reminder block by calling our skill, served
over HTTP on the same database, and records what each person was shown. The notifier's clock is
a test clock: its waits (pacing, backoff, the grace for lost answers) move it, not real time.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from devstack.event_api_shapes import skill_request
from devstack.fake_kakao import FakeKakao
from support.chat_helper import Clock
from support.reminder_helpers import (
    BOT_ID,
    Recording,
    event_api,
    fake_kakao,
    notifier,
    people,
    skill_server,
)
from support.store_helpers import QUESTIONS, raw
from surveybot.domain import KST, SurveyDraft, User
from surveybot.store.base import Store


def _survey(store: Store, author: User, clock: Clock, **draft: object) -> int:
    made = SurveyDraft("Lunch", QUESTIONS, "", **draft)  # type: ignore[arg-type]
    return store.create_survey(made, author.id, uuid.uuid4().hex, clock()).id


def _remind(store: Store, count: int, clock: Clock) -> tuple[int, list[User]]:
    crowd = people(store, count)
    survey = _survey(store, crowd[0], clock)
    assert store.queue_manual_reminder(survey, 1, crowd[0].id, clock()).people == count
    return survey, crowd


def _states(store: Store) -> Counter[str]:
    return Counter(str(r[0]) for r in raw(store, "SELECT state FROM reminder_outbox"))


def _batch(store: Store) -> tuple[str, str | None, int]:
    row = raw(store, "SELECT state, error, attempts FROM reminder_batches")[0]
    return str(row[0]), row[1], int(row[2])


def test_batches_of_at_most_100_each_person_once(store: Store) -> None:
    clock = Clock()
    _, crowd = _remind(store, 250, clock)
    with skill_server(store, clock) as skill, fake_kakao(skill) as kakao:
        notifier(store, kakao, clock).run(once=True)
    assert [len(call.user_keys) for call in kakao.calls] == [100, 100, 50]
    assert kakao.calls_per_user() == Counter(u.user_key for u in crowd)
    shown = kakao.shown()
    assert sorted(shown) == sorted(u.user_key for u in crowd)
    assert all(len(texts) == 1 and "[설문 알림] Lunch" in texts[0][0] for texts in shown.values())
    assert _states(store) == {"delivered": 250}
    assert kakao.problems == []


def test_calls_keep_to_the_configured_rate(store: Store) -> None:
    clock = Clock()
    _remind(store, 5, clock)
    with fake_kakao() as kakao:
        api = Recording(event_api(kakao), clock)
        notifier(store, kakao, clock, api, rate_per_second=2.0, batch_size=1).run(once=True)
    gaps = [(b - a).total_seconds() for a, b in zip(api.sent, api.sent[1:], strict=False)]
    assert len(api.sent) == 5 and all(gap >= 0.5 for gap in gaps), gaps


def test_retries_back_off_and_stop_at_the_bound(store: Store) -> None:
    clock = Clock()
    survey, _ = _remind(store, 3, clock)
    with fake_kakao() as kakao:
        kakao.fault(500, 500, 500, 500, 500, 500)
        api = Recording(event_api(kakao), clock)
        notifier(store, kakao, clock, api, max_attempts=4).run(once=True)
    assert len(kakao.calls) == 4  # and not one more
    gaps = [(b - a).total_seconds() for a, b in zip(api.sent, api.sent[1:], strict=False)]
    assert gaps == sorted(gaps) and gaps[0] >= 1.0, gaps  # exponential, jittered
    state, error, attempts = _batch(store)
    assert (state, attempts) == ("failed", 4)
    assert error is not None and error.startswith("gave up after 4 attempts: HTTP 500")
    assert _states(store) == {"failed": 3}
    status = store.reminder_status(survey)
    assert status is not None and status.failures[0][1] == 3 and "HTTP 500" in status.failures[0][0]


def test_429_and_5xx_are_retried_until_accepted(store: Store) -> None:
    clock = Clock()
    _, crowd = _remind(store, 3, clock)
    with skill_server(store, clock) as skill, fake_kakao(skill) as kakao:
        kakao.fault(429, 503)
        notifier(store, kakao, clock).run(once=True)
    assert [call.outcome for call in kakao.calls] == ["status 429", "status 503", "accepted"]
    assert kakao.calls_per_user(accepted_only=True) == Counter(u.user_key for u in crowd)
    assert _states(store) == {"delivered": 3}


def test_an_unanswered_call_that_kakao_never_took_is_decided_then_sent_once(store: Store) -> None:
    clock = Clock()
    _, crowd = _remind(store, 3, clock)
    with skill_server(store, clock) as skill, fake_kakao(skill, hold=2.0) as kakao:
        kakao.fault("timeout")
        start = clock()
        notifier(store, kakao, clock, unknown_grace=600.0).run(once=True)
    assert [call.outcome for call in kakao.calls] == ["timeout", "accepted"]
    # Not resent before the grace for deliveries was over.
    assert kakao.calls[1].at - kakao.calls[0].at < 60  # real seconds; the test clock moved on
    assert clock() - start >= timedelta(seconds=600)
    assert kakao.calls_per_user(accepted_only=True) == Counter(u.user_key for u in crowd)
    assert all(len(texts) == 1 for texts in kakao.shown().values())
    assert _states(store) == {"delivered": 3}


@pytest.mark.parametrize("fault", ["accept-drop", "accept-timeout"])
def test_a_lost_answer_after_kakao_took_the_call_is_never_resent(store: Store, fault: str) -> None:
    clock = Clock()
    _, crowd = _remind(store, 3, clock)
    with skill_server(store, clock) as skill, fake_kakao(skill, hold=2.0) as kakao:
        kakao.fault(fault)
        notifier(store, kakao, clock).run(once=True)
    assert [call.outcome for call in kakao.calls] == [fault]
    assert kakao.calls_per_user() == Counter(u.user_key for u in crowd)
    state, error, _ = _batch(store)
    assert state == "done" and error is not None and "deliveries show it accepted" in error
    assert _states(store) == {"delivered": 3}


def test_a_late_delivery_of_a_resent_reminder_shows_nothing_twice(store: Store) -> None:
    clock = Clock()
    _, crowd = _remind(store, 2, clock)
    with skill_server(store, clock) as skill:
        # The first call is taken but its deliveries reach no skill (as if they came late), and
        # its answer is lost: with no delivery seen, the notifier sends it again.
        with FakeKakao(rest_api_key="test-rest-api-key", bot_id=BOT_ID,
                       skill_url="http://127.0.0.1:9/skill") as kakao:  # fmt: skip
            kakao.fault("accept-drop")
            run = notifier(store, kakao, clock)
            run.tick()
            assert _batch(store)[0] == "unknown"
            kakao.skill_url = skill
            run.run(once=True)
            first = kakao.calls[0]
        assert [call.outcome for call in kakao.calls] == ["accept-drop", "accepted"]
        assert all(len(texts) == 1 for texts in kakao.shown().values())
        # Now the first call's deliveries arrive after all: they show nothing.
        for user in crowd:
            payload = skill_request(user.user_key, BOT_ID, first.event, first.params, first.data)
            request = urllib.request.Request(skill, json.dumps(payload).encode(),
                                             {"Content-Type": "application/json"})  # fmt: skip
            with urllib.request.urlopen(request, timeout=5) as response:
                assert json.loads(response.read())["template"]["outputs"] == []


def test_task_results_record_each_person(store: Store) -> None:
    clock = Clock()
    _remind(store, 4, clock)
    with fake_kakao() as kakao:
        kakao.unreachable("p001")
        kakao.task_not_final_for(2)
        notifier(store, kakao, clock).run(once=True)
    assert len(kakao.task_reads) == 3  # read again until every person is counted
    rows = dict(raw(store, "SELECT user_key, state FROM reminder_outbox"))
    assert rows == {"p000": "delivered", "p001": "failed", "p002": "delivered",
                    "p003": "delivered"}  # fmt: skip
    error = raw(store, "SELECT error FROM reminder_outbox WHERE user_key = 'p001'")[0][0]
    assert "has not added the channel" in error


def test_deadline_reminders_fire_once_at_the_right_korea_time(store: Store) -> None:
    clock = Clock()  # 2026-11-25
    crowd = people(store, 3)
    deadline = datetime(2026, 12, 10, 18, 0, tzinfo=KST)
    survey = _survey(store, crowd[0], clock, deadline=deadline.astimezone(UTC),
                     reminders=(1440, 120))  # fmt: skip
    store.submit_response(survey, crowd[2], f"u:{crowd[2].id}", (0, [1], ""), clock())
    with skill_server(store, clock) as skill, fake_kakao(skill) as kakao:
        run = notifier(store, kakao, clock)
        for moment, calls in [
            (datetime(2026, 12, 9, 17, 59, 59, tzinfo=KST), 0),
            (datetime(2026, 12, 9, 18, 0, tzinfo=KST), 1),  # 24 hours before, Korea time
            (datetime(2026, 12, 9, 23, 0, tzinfo=KST), 1),
            (datetime(2026, 12, 10, 15, 59, tzinfo=KST), 1),
            (datetime(2026, 12, 10, 16, 0, tzinfo=KST), 2),  # 2 hours before
            (datetime(2026, 12, 10, 17, 0, tzinfo=KST), 2),
        ]:
            clock.now = moment.astimezone(UTC)
            while run.tick():
                pass
            assert len(kakao.calls) == calls, moment
    assert [sorted(call.user_keys) for call in kakao.calls] == [["p000", "p001"]] * 2
    assert kakao.calls[0].params["reminder"] != kakao.calls[1].params["reminder"]
    assert "마감: 12/10(목) 18:00 (24시간 남음)" in kakao.shown()["p001"][0][0]


def test_the_callback_sends_nothing_to_someone_who_answered_after_queueing(store: Store) -> None:
    clock = Clock()
    survey, crowd = _remind(store, 3, clock)
    with skill_server(store, clock) as skill, fake_kakao(skill) as kakao:
        # The batch is formed and its people chosen; then p001 answers; then Kakao delivers.
        assert store.form_batch(clock(), 100)
        claimed = store.claim_batch(clock(), clock() + timedelta(minutes=1), "test")
        assert claimed is not None and len(claimed.user_keys) == 3
        store.submit_response(survey, crowd[1], f"u:{crowd[1].id}", (0, [1], ""), clock())
        event_api(kakao).send(claimed.reminder_id, claimed.survey_id, claimed.user_keys)
    outcome = {d.user_key: d.texts for d in kakao.deliveries}
    assert outcome["p001"] == []  # outputs []: Kakao sends nothing
    assert outcome["p000"] and outcome["p002"]
    assert dict(raw(store, "SELECT user_key, state FROM reminder_outbox"))["p001"] == "skipped"


def test_people_who_answered_before_sending_are_not_sent(store: Store) -> None:
    clock = Clock()
    survey, crowd = _remind(store, 3, clock)
    store.submit_response(survey, crowd[0], f"u:{crowd[0].id}", (0, [1], ""), clock())
    with fake_kakao() as kakao:
        notifier(store, kakao, clock).run(once=True)
    assert kakao.calls_per_user() == Counter({"p001": 1, "p002": 1})
    assert _states(store) == {"delivered": 2, "skipped": 1}
