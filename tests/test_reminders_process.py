"""`surveybot notifier` as a process: killed mid-batch (SIGKILL) and restarted, every person gets
exactly one accepted call and sees the reminder once; SIGTERM stops it cleanly. Both backends."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from devstack.fake_kakao import FakeKakao
from devstack.ports import free_port
from devstack.settings import app_env
from support.chat_helper import Clock
from support.reminder_helpers import BOT_ID, EVENT, REST_API_KEY, fake_kakao, people, skill_server
from support.store_helpers import NOW, publish, raw
from surveybot.store.base import Store
from surveybot.store.postgres import PostgresStore
from surveybot.store.sqlite import SqliteStore

pytestmark = pytest.mark.system

TIMEOUT_S = 2  # a call's timeout; the lease of a claimed batch is 2 x 2 + 5 = 9 s


def _env(store: Store, kakao: FakeKakao, **extra: str) -> dict[str, str]:
    settings = {
        "SURVEYBOT_ENV": "development",
        "LOG_FORMAT": "text",
        "KAKAO_REST_API_KEY": REST_API_KEY,
        "KAKAO_BOT_ID": BOT_ID,
        "KAKAO_EVENT_NAME": EVENT,
        "KAKAO_EVENT_API_URL": kakao.url,
        "REMINDER_TIMEOUT_SECONDS": str(TIMEOUT_S),
        "REMINDER_UNKNOWN_GRACE_SECONDS": "1",
        "REMINDER_RATE_PER_SECOND": "50",
        **extra,
    }
    if isinstance(store, PostgresStore):
        settings["DATABASE_URL"] = store.url
    else:
        assert isinstance(store, SqliteStore)
        settings["SQLITE_PATH"] = store.path
    return app_env(settings)


@contextmanager
def _notifier(env: dict[str, str], log: Path, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "surveybot.cli", "notifier", *args],
                                   env=env, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def _until(done: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def _settled(store: Store) -> bool:
    unsettled = "SELECT count(*) FROM reminder_batches WHERE state IN ('ready', 'sending', 'unknown')"
    pending = "SELECT count(*) FROM reminder_outbox WHERE state = 'pending'"
    return raw(store, unsettled) == [(0,)] and raw(store, pending) == [(0,)]


@pytest.mark.parametrize("fault", ["accept-timeout", "timeout"], ids=["taken", "not-taken"])
def test_killed_mid_batch_and_restarted_each_person_is_sent_once(
    store: Store, fault: str, tmp_path: Path
) -> None:
    """The second of two batches is in flight when the notifier is killed: Kakao has taken it
    (its deliveries are seen: never resent) or not (nothing seen: sent again, once)."""
    clock = Clock()  # the skill's; the processes run on the real clock
    crowd = people(store, 150)
    survey = publish(store, by=crowd[0])
    assert store.queue_manual_reminder(survey, 1, crowd[0].id, NOW).people == 150
    log = tmp_path / "notifier.log"
    with skill_server(store, clock) as skill, fake_kakao(skill, hold=60) as kakao:
        kakao.fault("ok", fault)
        env = _env(store, kakao)
        with _notifier(env, log) as first:
            # Kakao has the second call (and, when it took it, has delivered it): kill the
            # sender while it waits for the answer.
            _until(lambda: len(kakao.calls) == 2 and len(kakao.deliveries) == (
                150 if fault == "accept-timeout" else 100), 30, "the second call")  # fmt: skip
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        assert raw(store, "SELECT count(*) FROM reminder_batches WHERE state = 'sending'") == [(1,)]
        with _notifier(env, log) as second:
            _until(lambda: _settled(store), 40, "every batch to be settled")
            second.send_signal(signal.SIGTERM)
            assert second.wait(15) == 0, log.read_text()
    keys = Counter(user.user_key for user in crowd)
    assert kakao.calls_per_user(accepted_only=True) == keys, log.read_text()
    if fault == "accept-timeout":  # taken: not a single call more
        assert kakao.calls_per_user() == keys
    assert Counter({key: len(texts) for key, texts in kakao.shown().items()}) == keys
    assert kakao.problems == []
    text = log.read_text()
    assert "a sender stopped mid-call" in text and "notifier stopped" in text
    decided = "accepted" if fault == "accept-timeout" else "retry"
    assert f"an unknown batch was decided: {decided}" in text


def test_sigterm_mid_call_records_the_call_then_stops(store: Store, tmp_path: Path) -> None:
    crowd = people(store, 3)
    survey = publish(store, by=crowd[0])
    store.queue_manual_reminder(survey, 1, crowd[0].id, NOW)
    log = tmp_path / "notifier.log"
    port = free_port()
    with fake_kakao(hold=60) as kakao:
        kakao.fault("timeout", "timeout")
        with _notifier(_env(store, kakao), log, "--metrics-port", str(port)) as process:
            _until(lambda: "deciding from deliveries" in log.read_text(), 30, "the first call")
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as page:
                assert 'surveybot_reminder_calls_total{outcome="unknown"} 1.0' in page.read().decode()
            store.queue_manual_reminder(survey, 2, crowd[0].id, NOW)  # a second call to stop in
            _until(lambda: len(kakao.calls) == 2, 30, "the second call")
            process.send_signal(signal.SIGTERM)
            assert process.wait(TIMEOUT_S + 10) == 0, log.read_text()
    # Its answer never came: recorded as unknown, to be decided from deliveries, not lost.
    assert raw(store, "SELECT state, attempts FROM reminder_batches") == [("unknown", 1)] * 2


def test_without_kakao_settings_it_idles_until_stopped(store: Store, tmp_path: Path) -> None:
    log = tmp_path / "notifier.log"
    with fake_kakao() as kakao:
        env = {k: v for k, v in _env(store, kakao).items() if not k.startswith("KAKAO_")}
        with _notifier(env, log) as process:
            _until(lambda: "reminders are off" in log.read_text(), 30, "the warning")
            process.send_signal(signal.SIGTERM)
            assert process.wait(10) == 0
        with _notifier(env, log, "--once") as process:
            assert process.wait(30) == 0
