"""A local stand-in for Kakao's Event API: a real HTTP server for tests and for trying reminders.

- POST /v2/bots/{botId}/talk checks what Kakao checks (the `Authorization: KakaoAK <key>` header,
  JSON, an event name, 1-100 different users of a known type, string params), records the call
  and answers `{"taskId", "status": "SUCCESS", "timestamp"}`; a malformed call gets 400 (401 for
  the key) and is noted in `problems`.
- GET /v1/tasks/{taskId} (and /v2/) serves the task's result in Kakao's shape.
- With `skill_url` an accepted call is delivered as Open Builder does it: the reminder block runs
  for each person, i.e. a skill request goes to the skill, and its answer is recorded (the texts
  shown, or nothing for `"outputs": []`). A person whose skill call fails counts as a failure in
  the task result, as Kakao counts "Bot skill server responded with an HTTP error".
- Faults, one per call in order (`fault(...)`): "ok" (none), an HTTP status (429, 500, ...),
  "timeout" (hold the answer past the client's timeout, not accepted), "drop" (close the
  connection without an answer, not accepted), "accept-timeout" and "accept-drop" (the same
  after accepting and delivering: the client never learns the taskId).

Standard library only; no surveybot import (like openbuilder.py). By hand:
`python -m devstack.fake_kakao --port 9100 --skill-url http://127.0.0.1:8000/skill`.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from devstack.event_api_shapes import Node, check_talk, failure, skill_request
from devstack.openbuilder import reply_problems, reply_texts

FAULTS = ("ok", "timeout", "drop", "accept-timeout", "accept-drop")
_TALK = re.compile(r"^/v2/bots/([^/]+)/talk$")
_TASK = re.compile(r"^/v[12]/tasks/([^/?]+)$")


@dataclass
class Call:
    """One call of the Event API that reached the fake."""

    bot: str
    event: str
    user_keys: list[str]
    params: Node
    data: Node
    outcome: str = ""  # "accepted", "status 500", "timeout", "drop", ...
    task_id: str | None = None
    at: float = field(default_factory=time.time)


@dataclass
class Delivery:
    """The reminder block run for one person: what the skill answered."""

    user_key: str
    params: Node
    status: int  # the skill's HTTP status (0: unreachable)
    texts: list[str] | None  # what the person saw; [] for outputs []; None: the skill failed


class FakeKakao:
    """Start with `with FakeKakao(...) as kakao:`; `kakao.url` is the base URL to give the app."""

    def __init__(
        self,
        *,
        rest_api_key: str = "fake-rest-api-key",
        bot_id: str = "fake-bot",
        event_name: str | None = None,
        skill_url: str | None = None,
        skill_headers: Mapping[str, str] | None = None,
        hold: float = 30.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.rest_api_key = rest_api_key
        self.bot_id = bot_id
        self.event_name = event_name  # None: any name
        self.skill_url = skill_url
        self.skill_headers = dict(skill_headers or {})
        self.hold = hold  # seconds a "timeout" keeps the client waiting
        self.problems: list[str] = []
        self.calls: list[Call] = []
        self.deliveries: list[Delivery] = []
        self.task_reads: list[str] = []
        self._faults: list[int | str] = []
        self._unreachable: set[str] = set()
        self._pending_reads = 0
        self._tasks: dict[str, Node] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # --- control ------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeKakao:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases held answers
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeKakao:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def fault(self, *faults: int | str) -> None:
        """Answer the next calls with these faults, one each, then normally again."""
        for item in faults:
            if not isinstance(item, int) and item not in FAULTS:
                raise ValueError(f"unknown fault {item!r}; use a status or one of {FAULTS}")
        with self._lock:
            self._faults.extend(faults)

    def unreachable(self, *user_keys: str) -> None:
        """These people have not added the channel: their sends fail in the task result."""
        with self._lock:
            self._unreachable.update(user_keys)

    def task_not_final_for(self, reads: int) -> None:
        """The next `reads` task reads answer before every person is counted."""
        with self._lock:
            self._pending_reads = reads

    # --- what happened ------------------------------------------------------------------------
    def calls_per_user(self, accepted_only: bool = False) -> Counter[str]:
        """How many calls named each person (all that reached the fake, or the accepted)."""
        with self._lock:
            calls = list(self.calls)
        chosen = [c for c in calls if c.outcome.startswith("accept") or not accepted_only]
        return Counter(key for call in chosen for key in call.user_keys)

    def shown(self) -> dict[str, list[list[str]]]:
        """Per person, the texts of every reminder the skill showed them (none for outputs [])."""
        seen: dict[str, list[list[str]]] = {}
        with self._lock:
            for item in self.deliveries:
                if item.texts:
                    seen.setdefault(item.user_key, []).append(item.texts)
        return seen

    # --- the API ------------------------------------------------------------------------------
    def talk(self, bot: str, headers: Mapping[str, str], raw: bytes) -> tuple[int, Node, str]:
        """(status, answer, fault) of one call; fault is "" or one of FAULTS. `headers` have
        lower-case names."""
        if headers.get("authorization") != f"KakaoAK {self.rest_api_key}":
            return 401, {"code": -401, "message": "invalid or missing KakaoAK key"}, ""
        problem, body = check_talk(headers.get("content-type", ""), raw, self.event_name)
        if problem is None and bot != self.bot_id:
            problem = f"unknown bot id {bot!r}"
        if problem is not None:
            with self._lock:
                self.problems.append(problem)
            return 400, {"code": -400, "message": problem}, ""
        event = body["event"]
        call = Call(bot, event["name"], [u["id"] for u in body["user"]],
                    dict(body.get("params") or {}), dict(event.get("data") or {}))  # fmt: skip
        with self._lock:
            self.calls.append(call)
            fault = self._faults.pop(0) if self._faults else None
        fault = None if fault == "ok" else fault
        if isinstance(fault, int):
            call.outcome = f"status {fault}"
            return fault, {"code": -fault, "message": "injected by the fake"}, ""
        if fault in ("timeout", "drop"):
            call.outcome = str(fault)
            return 0, {}, str(fault)
        task_id = str(uuid.uuid4())
        call.task_id, call.outcome = task_id, "accepted" if fault is None else str(fault)
        self._deliver(call, task_id)
        answer = {"taskId": task_id, "status": "SUCCESS", "timestamp": int(time.time() * 1000)}
        return 200, answer, "" if fault is None else str(fault).removeprefix("accept-")

    def task(self, headers: Mapping[str, str], task_id: str) -> tuple[int, Node]:
        if headers.get("authorization") != f"KakaoAK {self.rest_api_key}":
            return 401, {"code": -401, "message": "invalid or missing KakaoAK key"}
        with self._lock:
            self.task_reads.append(task_id)
            result = self._tasks.get(task_id)
            early = self._pending_reads > 0
            self._pending_reads -= 1 if early else 0
        if result is None:
            return 404, {"code": -404, "message": "no such task"}
        if early:
            return 200, {**result, "status": "PROCESSING", "successCount": 0,
                         "fail": {"count": 0, "list": []}}  # fmt: skip
        return 200, result

    def wait(self, seconds: float) -> None:
        """Hold an answer (a "timeout"), ending early when the fake stops."""
        self._stopping.wait(seconds)

    def _deliver(self, call: Call, task_id: str) -> None:
        failures: list[Node] = []
        for key in call.user_keys:
            with self._lock:
                unreachable = key in self._unreachable
            if unreachable:
                failures.append(failure(key, 102, "The user has not added the channel."))
                continue
            if self.skill_url is None:
                continue
            item = self._run_block(call, key)
            with self._lock:
                self.deliveries.append(item)
            if item.texts is None:
                failures.append(failure(key, 201, "Bot skill server responded with an HTTP error."))
        total = len(call.user_keys)
        result = {
            "taskId": task_id,
            "status": f"{len(failures)} FAIL" if failures else "ALL SUCCESS",
            "allRequestCount": total,
            "successCount": total - len(failures),
            "userKeyResolvingFailCount": 0,
            "fail": {"count": len(failures), "list": failures},
        }
        with self._lock:
            self._tasks[task_id] = result

    def _run_block(self, call: Call, key: str) -> Delivery:
        assert self.skill_url is not None
        payload = skill_request(key, self.bot_id, call.event, call.params, call.data)
        request = urllib.request.Request(
            self.skill_url,
            json.dumps(payload, ensure_ascii=False).encode(),
            {"Content-Type": "application/json;charset=UTF-8", **self.skill_headers},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                status, reply = response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return Delivery(key, call.params, error.code, None)
        except (OSError, ValueError):
            return Delivery(key, call.params, 0, None)
        outputs = reply.get("template", {}).get("outputs") if isinstance(reply, dict) else None
        if outputs == []:
            return Delivery(key, call.params, status, [])  # Kakao sends nothing
        problems = reply_problems(reply)
        if problems:  # Kakao would drop it: the send fails
            with self._lock:
                self.problems.append(f"skill reply for {key}: {problems}")
            return Delivery(key, call.params, status, None)
        return Delivery(key, call.params, status, reply_texts(reply))


def _handler(fake: FakeKakao) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            match = _TALK.match(self.path)
            if match is None:
                self._answer(404, {"code": -404, "message": "not found"})
                return
            status, answer, fault = fake.talk(match.group(1), self._headers(), raw)
            if fault == "timeout":
                fake.wait(fake.hold)
            if fault:
                self.close_connection = True  # no answer at all: the client sees it cut off
                return
            self._answer(status, answer)

        def do_GET(self) -> None:
            match = _TASK.match(self.path)
            if match is None:
                self._answer(404, {"code": -404, "message": "not found"})
                return
            self._answer(*fake.task(self._headers(), match.group(1)))

        def _headers(self) -> dict[str, str]:
            return {name.lower(): value for name, value in self.headers.items()}

        def _answer(self, status: int, body: Node) -> None:
            data = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the calls are recorded; stderr stays quiet in tests

    return Handler


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.fake_kakao", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--key", default="fake-rest-api-key", help="the REST API key to expect")
    parser.add_argument("--bot", default="fake-bot", help="the bot id to expect")
    parser.add_argument("--event", default=None, help="the only event name to accept")
    parser.add_argument("--skill-url", default=None, help="deliver to this skill, as Kakao does")
    parser.add_argument("--skill-header", action="append", default=[], metavar="NAME=VALUE",
                        help="a header for the skill (e.g. X-Skill-Secret=...)")  # fmt: skip
    args = parser.parse_args(argv)
    headers = dict(item.split("=", 1) for item in args.skill_header)
    fake = FakeKakao(rest_api_key=args.key, bot_id=args.bot, event_name=args.event,
                     skill_url=args.skill_url, skill_headers=headers, host=args.host,
                     port=args.port)  # fmt: skip
    print(f"fake Kakao Event API at {fake.url} (KAKAO_EVENT_API_URL); Ctrl-C stops", flush=True)
    with fake:
        try:
            seen = 0
            while True:
                time.sleep(0.5)
                for call in fake.calls[seen:]:
                    print(f"{call.outcome}: {len(call.user_keys)} users, params {call.params}",
                          flush=True)  # fmt: skip
                seen = len(fake.calls)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    raise SystemExit(main())
