"""What Kakao's Event API takes and sends on, for the fake (fake_kakao.py) and the tests.

check_talk: the first thing Kakao would refuse in a talk call; failure: a person's failure as a
task result lists it; skill_request: the skill call Kakao makes when the reminder block runs.
Standard library only.
"""

from __future__ import annotations

import json
import time
from typing import Any

Node = dict[str, Any]
USERS_MAX = 100
USER_TYPES = ("botUserKey", "appUserId", "plusfriendUserKey")


def skill_request(user_key: str, bot_id: str, event: str, params: Node, data: Node) -> Node:
    """The skill request of the reminder block run for one person (our best reading of Kakao's
    guide: the call's params arrive as block parameters; where `data` goes is not documented)."""
    block = {"id": "fake-reminder-block", "name": "알림 블록"}
    return {
        "intent": dict(block),
        "userRequest": {
            "timezone": "Asia/Seoul",
            "params": {"surface": "Kakaotalk.plusfriend", **params},
            "block": dict(block),
            "utterance": "",
            "lang": "ko",
            "user": {"id": user_key, "type": "botUserKey",
                     "properties": {"botUserKey": user_key, "bot_user_key": user_key}},
            "event": {"name": event, "data": data},
        },  # fmt: skip
        "bot": {"id": bot_id, "name": "fake"},
        "action": {"id": "fake-action", "name": "skill", "params": dict(params),
                   "detailParams": {}, "clientExtra": {}},  # fmt: skip
        "contexts": [],
    }


def failure(key: str, kind: int, message: str) -> Node:
    return {"userId": key, "reqUserType": "botUserKey", "createdAt": int(time.time()),
            "errorMsg": {"errorType": kind, "msg": message}}  # fmt: skip


def check_talk(content_type: str, raw: bytes, event_name: str | None) -> tuple[str | None, Node]:
    """The first thing Kakao would refuse in a talk call, or None, and the body."""
    if not content_type.split(";")[0].strip().lower() == "application/json":
        return f"Content-Type must be application/json, got {content_type!r}", {}
    try:
        body = json.loads(raw)
    except ValueError:
        return "the body is not JSON", {}
    if not isinstance(body, dict):
        return "the body is not an object", {}
    event = body.get("event")
    if not isinstance(event, dict) or not isinstance(event.get("name"), str) or not event["name"]:
        return "event.name is required", body
    if event_name is not None and event["name"] != event_name:
        return f"no block has the event {event['name']!r}", body
    if "data" in event and not isinstance(event["data"], dict):
        return "event.data must be an object", body
    params = body.get("params", {})
    if not isinstance(params, dict) or not all(isinstance(v, str) for v in params.values()):
        return "params must be an object of strings", body
    return check_users(body.get("user")), body


def check_users(users: object) -> str | None:
    if not isinstance(users, list) or not 1 <= len(users) <= USERS_MAX:
        return f"user must be a list of 1 to {USERS_MAX} users"
    ids = []
    for user in users:
        if not isinstance(user, dict) or user.get("type") not in USER_TYPES:
            return f"every user needs a type of {USER_TYPES}"
        if not isinstance(user.get("id"), str) or not user["id"]:
            return "every user needs an id"
        if not isinstance(user.get("properties", {}), dict):
            return "user.properties must be an object"
        ids.append(user["id"])
    if len(set(ids)) != len(ids):
        return "the same user twice in one call"
    return None
