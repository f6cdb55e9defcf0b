"""The browser simulator at /dev/chat: a KakaoTalk-like chat room for trying the bot locally.

Development mode only (`create_app` registers it when SURVEYBOT_ENV=development; production
answers 404). The page is static HTML, CSS and one hand-written script (`static/`). It never
builds a skill request itself: it posts what the user typed or tapped to /dev/chat/send, which
builds the request with `kakao.payload.build_payload` (what `surveybot chat`, the tests and the
load tools send), passes it through the app's own POST /skill in-process, with the skill secret
when one is configured, and answers with the request, the reply and its limit problems.
"""

from __future__ import annotations

from surveybot.devchat.resources import add_dev_chat

__all__ = ["add_dev_chat"]
