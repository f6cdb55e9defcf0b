"""Skill requests as Open Builder sends them: for `surveybot chat`, the tests and the load tools.

Standard library only. The shape follows the fallback-block example of the reference
(kakao-skill-api.md); loadtest/wrk/skill.lua hand-copies it for typed text, keep the two in step.
"""

from __future__ import annotations

from typing import Any

TEXT_INPUT = "TEXT_INPUT"
QUICK_REPLY = "QUICKREPLY_BUTTON_MESSAGE"
BLOCK = {"id": "65f0c2a1b7e3d51a2c9f0a11", "name": "폴백 블록"}
BOT = {"id": "65e9d0f1a2b3c4d5e6f70812", "name": "행정봇"}
ACTION = {"id": "65f0c29f", "name": "survey_skill"}


def build_payload(
    user_key: str,
    utterance: str,
    extra: dict[str, Any] | None = None,
    *,
    trigger: str | None = None,
    test_panel: bool = False,
) -> dict[str, Any]:
    """Return the request of `user_key` typing `utterance`, or tapping a reply carrying `extra`."""
    # test_panel: sent from the admin centre's test panel to the development bot.
    # Kakao always sends a plusfriend key too; a per-user stand-in keeps per-user logic honest.
    friend_key = "pf" + user_key[-10:]
    return {
        "intent": dict(BLOCK),
        "userRequest": {
            "timezone": "Asia/Seoul",
            "params": {"surface": "BuilderBotTest" if test_panel else "Kakaotalk.plusfriend"},
            "block": dict(BLOCK),
            "utterance": utterance,
            "lang": "ko",
            "user": {
                "id": user_key,
                "type": "botUserKey",
                "properties": {
                    "botUserKey": user_key,
                    "bot_user_key": user_key,
                    "plusfriendUserKey": friend_key,
                    "plusfriend_user_key": friend_key,
                    "isFriend": True,
                },
            },
        },
        # The development channel's bot id ends with '!'.
        "bot": {**BOT, "id": BOT["id"] + "!"} if test_panel else dict(BOT),
        "action": {**ACTION, "params": {}, "detailParams": {}, "clientExtra": dict(extra or {})},
        "contexts": [],
        "flow": {
            "trigger": {"type": trigger or (QUICK_REPLY if extra else TEXT_INPUT)},
            "lastBlock": dict(BLOCK),
        },
    }
