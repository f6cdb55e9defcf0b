"""Reminder parts without a database: settings, the text of offsets, recognising Kakao's event
call, the Event API client's reading of every answer (against the fake), and the fake's checks."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from devstack.event_api_shapes import skill_request
from devstack.fake_kakao import FakeKakao
from devstack.ports import free_port
from surveybot.config import Config, ConfigError
from surveybot.conversation.survey_text import SurveyTextError, offset_label, parse_alerts
from surveybot.kakao.payload import build_payload
from surveybot.kakao.request import EventCall, decode_request
from surveybot.kakao.silence import Silence
from surveybot.reminders.event_api import Accepted, EventApi, Refused, Retry, Unknown, parse_task

KEY, BOT, EVENT = "unit-rest-api-key", "unit-bot!", "surveybot_reminder"


def test_reminders_are_off_until_both_kakao_settings_are_given() -> None:
    assert not Config.from_env({}, serving=False).reminders_enabled
    config = Config.from_env({"KAKAO_REST_API_KEY": KEY, "KAKAO_BOT_ID": BOT,
                              "REMINDER_RATE_PER_SECOND": "0.5"}, serving=False)  # fmt: skip
    assert config.reminders_enabled and config.reminder_rate_per_second == 0.5
    assert config.kakao_event_api_url == "https://bot-api.kakao.com"
    assert config.kakao_event_name == "surveybot_reminder"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"KAKAO_REST_API_KEY": KEY}, "KAKAO_BOT_ID"),
        ({"KAKAO_BOT_ID": BOT}, "KAKAO_REST_API_KEY"),
        ({"KAKAO_REST_API_KEY": "change-me", "KAKAO_BOT_ID": BOT}, "KAKAO_REST_API_KEY"),
        ({"KAKAO_EVENT_NAME": "two words"}, "KAKAO_EVENT_NAME"),
        ({"KAKAO_EVENT_API_URL": "ftp://x"}, "KAKAO_EVENT_API_URL"),
        ({"REMINDER_RATE_PER_SECOND": "fast"}, "REMINDER_RATE_PER_SECOND"),
        ({"REMINDER_RATE_PER_SECOND": "nan"}, "REMINDER_RATE_PER_SECOND"),
        ({"REMINDER_MAX_ATTEMPTS": "0"}, "REMINDER_MAX_ATTEMPTS"),
    ],
)
def test_bad_reminder_settings_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        Config.from_env(env, serving=False)


def test_offsets_before_the_deadline() -> None:
    assert parse_alerts("24시간 전, 2시간 전") == (False, (1440, 120))
    assert parse_alerts("공지, 1d, 30 minutes before") == (True, (1440, 30))
    assert parse_alerts("2시간 전，2 hours") == (False, (120,))
    for bad in ("내일", "5분 전", "31일 전", "1일, 2일, 3일, 4일"):
        with pytest.raises(SurveyTextError):
            parse_alerts(bad)
    assert [offset_label(m) for m in (2880, 1440, 90, 30)] == ["2일 전", "24시간 전", "90분 전", "30분 전"]


def _event_body(where: str, marks: dict[str, Any]) -> dict[str, Any]:
    body = build_payload("u1", "")
    if where == "userRequest.params":
        body["userRequest"]["params"].update(marks)
    elif where == "action.params":
        body["action"]["params"] = marks
    else:
        body["userRequest"]["event"] = {"name": EVENT, "data": marks}
    return body


@pytest.mark.parametrize("where", ["userRequest.params", "action.params", "userRequest.event"])
def test_our_event_call_is_recognised_wherever_kakao_puts_its_marks(where: str) -> None:
    marks = {"surveybot": "reminder", "reminder": "17", "survey": 3}
    request = decode_request(json.dumps(_event_body(where, marks)))
    assert request.event == EventCall(17, 3)


def test_anything_else_is_an_ordinary_message() -> None:
    assert decode_request(json.dumps(build_payload("u1", "메뉴"))).event is None
    odd = _event_body("action.params", {"surveybot": "reminder", "reminder": "1e9", "survey": "-2"})
    assert decode_request(json.dumps(odd)).event == EventCall(0, 0)  # names nothing: silence
    other = _event_body("userRequest.params", {"surveybot": "other", "reminder": "1"})
    assert decode_request(json.dumps(other)).event is None


def test_silence_is_outputs_empty() -> None:
    assert json.loads(Silence().to_json()) == {"version": "2.0", "template": {"outputs": []}}
    assert Silence().text("ignored").to_dict() == {"version": "2.0", "template": {"outputs": []}}


@pytest.fixture
def kakao() -> Any:
    with FakeKakao(rest_api_key=KEY, bot_id=BOT, event_name=EVENT, hold=3) as fake:
        yield fake


def _api(kakao: FakeKakao, key: str = KEY, timeout: float = 0.5) -> EventApi:
    return EventApi(kakao.url, key, BOT, EVENT, timeout=timeout)


def test_every_answer_of_kakao_is_read_right(kakao: FakeKakao) -> None:
    api = _api(kakao)
    accepted = api.send(7, 3, ["a", "b"])
    assert isinstance(accepted, Accepted)
    kakao.fault(429, 503, 400, "timeout", "drop", "accept-drop")
    assert isinstance(api.send(7, 3, ["a"]), Retry)
    assert isinstance(api.send(7, 3, ["a"]), Retry)
    assert isinstance(api.send(7, 3, ["a"]), Refused)
    assert isinstance(api.send(7, 3, ["a"]), Unknown)  # sent; no answer in time
    assert isinstance(api.send(7, 3, ["a"]), Unknown)  # sent; the connection was cut
    assert isinstance(api.send(7, 3, ["a"]), Unknown)  # taken, and the answer lost
    assert isinstance(_api(kakao, key="wrong-key-123").send(7, 3, ["a"]), Refused)
    unreachable = EventApi(f"http://127.0.0.1:{free_port()}", KEY, BOT, EVENT, timeout=0.5)
    assert isinstance(unreachable.send(7, 3, ["a"]), Retry)  # nothing was sent
    call = kakao.calls[0]
    assert (call.bot, call.event, call.user_keys) == (BOT, EVENT, ["a", "b"])
    assert call.params == {"surveybot": "reminder", "reminder": "7", "survey": "3"}
    assert kakao.problems == []
    result = api.task(accepted.task_id)
    assert result is not None and result.complete and result.failed == {}
    assert api.task("no-such-task") is None


def test_task_results_name_who_failed() -> None:
    result = parse_task({
        "taskId": "t", "status": "2 FAIL", "allRequestCount": 3, "successCount": 1,
        "userKeyResolvingFailCount": 1,
        "fail": {"count": 2, "list": [{"userId": "k1", "errorMsg": {"errorType": 201,
                                                                   "msg": "skill error"}}]},
    })  # fmt: skip
    assert result.complete and result.failed == {"k1": "Kakao: skill error (201)"}
    assert result.unattributed == 1
    assert not parse_task({"allRequestCount": 3, "successCount": 1}).complete


def _post(kakao: FakeKakao, body: Any, key: str = KEY) -> int:
    request = urllib.request.Request(
        f"{kakao.url}/v2/bots/{BOT}/talk", json.dumps(body).encode(),
        {"Authorization": f"KakaoAK {key}", "Content-Type": "application/json"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_the_fake_refuses_what_kakao_would(kakao: FakeKakao) -> None:
    def user(key: str) -> dict[str, str]:
        return {"type": "botUserKey", "id": key}

    good = {"event": {"name": EVENT}, "user": [user("a")]}
    assert _post(kakao, good) == 200
    assert _post(kakao, good, key="other-key-123") == 401
    assert _post(kakao, {**good, "user": [user(str(i)) for i in range(101)]}) == 400
    assert _post(kakao, {**good, "user": [user("a"), user("a")]}) == 400
    assert _post(kakao, {**good, "event": {"name": "other"}}) == 400
    assert _post(kakao, {**good, "params": {"n": 1}}) == 400
    assert _post(kakao, {**good, "user": [{"type": "email", "id": "a"}]}) == 400
    assert len(kakao.problems) == 5 and len(kakao.calls) == 1


def test_the_fakes_delivery_request_is_a_skill_request() -> None:
    body = skill_request("u1", BOT, EVENT, {"surveybot": "reminder", "reminder": "2",
                                            "survey": "5"}, {})  # fmt: skip
    request = decode_request(json.dumps(body))
    assert (request.user_key, request.event) == ("u1", EventCall(2, 5))
