"""Common requests take at most three database round trips.

Each Store method used on these paths is one statement on PostgreSQL (autocommit, data-modifying
CTEs for writes), so counting the store calls a request makes counts its round trips.
"""

from __future__ import annotations

from typing import Any

import falcon.testing
import pytest

from surveybot.app import create_app
from surveybot.config import Config
from surveybot.store.base import Store

from chat_helper import SURVEY_MESSAGE, Clock, Person

SINGLE_STATEMENT = {
    "load_context", "get_survey", "save_session", "clear_session", "submit_response",
    "list_open_surveys", "get_response", "withdraw_response", "create_survey", "pool_stats",
}  # fmt: skip


class CountingStore:
    """Passes every call through to the real store and records the method names."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._store, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return method(*args, **kwargs)

        return counted


@pytest.mark.parametrize(
    "utterance",
    [
        "메뉴",
        "설문목록",
        "참여 1",
        "1",
        "1,3",
        "좋아요",
        "제출",
        "내응답 1",
        "취소 1",
        "취소확인 1",
        "내정보",
    ],
)
def test_common_requests_take_at_most_three_round_trips(pg_store: Store, utterance: str) -> None:
    counting = CountingStore(pg_store)
    client = falcon.testing.TestClient(
        create_app(Config(environment="development", admin_code="code-1234"), counting, Clock())  # type: ignore[arg-type]
    )
    admin, member = Person(client, "admin"), Person(client, "member")
    admin.say("등록 관리자")
    admin.say("관리자인증 code-1234")
    admin.say(SURVEY_MESSAGE)
    admin.say("확인")
    member.say("등록 회원")
    script = ["참여 1", "1", "1,3", "좋아요", "제출", "내응답 1", "취소 1", "취소확인 1"]
    for earlier in script[: script.index(utterance)] if utterance in script else []:
        member.say(earlier)
    counting.calls.clear()
    member.say(utterance)
    if utterance == "취소확인 1":
        assert "철회했습니다" in member.text  # the real withdrawal, not a refusal
    database_calls = [call for call in counting.calls if call != "pool_stats"]
    assert set(database_calls) <= SINGLE_STATEMENT, database_calls
    assert len(database_calls) <= 3, database_calls
