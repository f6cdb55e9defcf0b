"""A client of Kakao's Event API: one call per batch, and the task result that follows.

http.client rather than urllib: it tells a failure before the request was sent (nothing reached
Kakao: safe to try again) from one after (Kakao may have accepted it: the outcome is unknown),
which is the difference between a retry and a possible duplicate.
"""

from __future__ import annotations

import http.client
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from surveybot.reminders.model import BATCH_MAX, EVENT_MARK, TaskResult

log = logging.getLogger("surveybot.notifier")

ANSWER_MAX = 64 * 1024  # bytes of an answer read at most
RETRY_AFTER_MAX = 3600.0


@dataclass(frozen=True, slots=True)
class Accepted:
    task_id: str


@dataclass(frozen=True, slots=True)
class Failed:
    """The call did not end in a task id; `reason` says why, for the batch's record."""

    reason: str


@dataclass(frozen=True, slots=True)
class Retry(Failed):
    """Kakao did not take the call (429, 5xx, not reachable): try again later."""

    retry_after: float | None = None  # seconds, from a Retry-After header


class Refused(Failed):
    """Kakao refused the call itself (400, 401, ...): trying again would be refused again."""

    __slots__ = ()


class Unknown(Failed):
    """The call was sent and no answer came back: Kakao may have accepted it."""

    __slots__ = ()


SendResult = Accepted | Retry | Refused | Unknown
Connect = Callable[[str, int, float], http.client.HTTPConnection]


def _connect(scheme: str) -> Connect:
    if scheme == "https":
        return lambda host, port, timeout: http.client.HTTPSConnection(host, port, timeout=timeout)
    return lambda host, port, timeout: http.client.HTTPConnection(host, port, timeout=timeout)


class EventApi:
    """POST {base}/v2/bots/{bot}/talk and GET {base}/v1/tasks/{task}, with the REST API key."""

    def __init__(
        self, base_url: str, rest_api_key: str, bot_id: str, event_name: str, timeout: float = 10.0
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._prefix = parts.path.rstrip("/")
        self._connect = _connect(parts.scheme)
        self._timeout = timeout
        self._auth = f"KakaoAK {rest_api_key}"
        self._bot = quote(bot_id, safe="!")  # a development bot's id ends with '!'
        self._event = event_name

    def send(self, reminder_id: int, survey_id: int, user_keys: list[str]) -> SendResult:
        """Ask Kakao to run the reminder block for these people (at most 100, no repeats)."""
        if not 0 < len(user_keys) <= BATCH_MAX or len(set(user_keys)) != len(user_keys):
            raise ValueError("1 to 100 different user keys per call")
        # Params are strings (Kakao passes them on as block parameters); data may be anything.
        marks = {"surveybot": EVENT_MARK, "reminder": str(reminder_id), "survey": str(survey_id)}
        body = {
            "event": {"name": self._event, "data": marks},
            "user": [{"type": "botUserKey", "id": key, "properties": {}} for key in user_keys],
            "params": marks,
        }
        answer = self._call("POST", f"/v2/bots/{self._bot}/talk", body)
        if not isinstance(answer, tuple):
            return answer
        status, headers, data = answer
        if status == 200:
            task = data.get("taskId") if isinstance(data, dict) else None
            if isinstance(task, str) and task:
                return Accepted(task)
            return Refused(f"HTTP 200 without a taskId: {_brief(data)}")
        if status in (408, 425, 429) or status >= 500:
            return Retry(f"HTTP {status}: {_brief(data)}", _retry_after(headers))
        return Refused(f"HTTP {status}: {_brief(data)}")

    def task(self, task_id: str) -> TaskResult | None:
        """The task's per-person outcome so far; None when it cannot be read now."""
        answer = self._call("GET", f"/v1/tasks/{quote(task_id, safe='')}", None)
        if not isinstance(answer, tuple) or answer[0] != 200 or not isinstance(answer[2], dict):
            log.info("task %s not readable now: %s", task_id, answer)
            return None
        return parse_task(answer[2])

    def _call(
        self, method: str, path: str, body: dict[str, Any] | None
    ) -> tuple[int, http.client.HTTPMessage, Any] | Retry | Unknown:
        payload = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        headers = {"Authorization": self._auth, "Accept": "application/json"}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        conn = self._connect(self._host, self._port, self._timeout)
        try:
            try:
                conn.request(method, self._prefix + path, payload, headers)
            except (OSError, http.client.HTTPException) as error:
                # Refused, unreachable, or cut off while sending: Kakao has no whole request.
                return Retry(f"could not send to Kakao: {_describe(error)}")
            try:
                response = conn.getresponse()
                raw = response.read(ANSWER_MAX)
            except (OSError, http.client.HTTPException) as error:
                return Unknown(f"no answer from Kakao: {_describe(error)}")
            return response.status, response.headers, _json(raw)
        finally:
            conn.close()


def parse_task(data: dict[str, Any]) -> TaskResult:
    """Read Kakao's task result; lenient, since its fields are only partly documented."""
    total = _count(data.get("allRequestCount"))
    success = _count(data.get("successCount"))
    found = data.get("fail")
    fail: dict[str, Any] = found if isinstance(found, dict) else {}
    count = _count(fail.get("count"))
    failed: dict[str, str] = {}
    entries = fail.get("list")
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        key = entry.get("userId") or entry.get("id")
        message = entry.get("errorMsg")
        error: dict[str, Any] = message if isinstance(message, dict) else entry
        if isinstance(key, str) and key:
            kind, msg = error.get("errorType"), error.get("msg")
            failed[key] = f"Kakao: {msg or 'failed'}" + (f" ({kind})" if kind is not None else "")
    status = str(data.get("status") or "")
    complete = total > 0 and success + count >= total
    return TaskResult(complete, failed, max(count - len(failed), 0), status)


def _count(value: object) -> int:
    return value if type(value) is int and value >= 0 else 0


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return raw[:200].decode("utf-8", "replace")


def _brief(data: Any) -> str:
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return text[:200]


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _retry_after(headers: http.client.HTTPMessage) -> float | None:
    value = headers.get("Retry-After")
    try:
        seconds = float(value) if value else None
    except ValueError:
        return None  # an HTTP date: the backoff decides instead
    return None if seconds is None or seconds < 0 else min(seconds, RETRY_AFTER_MAX)
