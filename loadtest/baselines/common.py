"""What the baseline skills share: reading a Kakao request and shaping the reply (Flask-free)."""

from __future__ import annotations

from typing import Any


def simple_text(text: str) -> dict[str, Any]:
    """The smallest valid Open Builder reply: one simpleText."""
    return {"version": "2.0", "template": {"outputs": [{"simpleText": {"text": text}}]}}


def utterance_of(body: Any) -> str:
    request = body.get("userRequest") if isinstance(body, dict) else None
    utterance = request.get("utterance") if isinstance(request, dict) else None
    return utterance if isinstance(utterance, str) else ""


def user_key_of(body: Any) -> str:
    request = body.get("userRequest") if isinstance(body, dict) else None
    user = request.get("user") if isinstance(request, dict) else None
    key = user.get("id") if isinstance(user, dict) else None
    return key if isinstance(key, str) else ""


def name_reply(name: str | None) -> dict[str, Any]:
    """The reply of the study's data-store experiment."""
    if name is None:
        return simple_text("등록되지 않은 사용자입니다.")
    return simple_text(f"{name}님 안녕하세요!")
