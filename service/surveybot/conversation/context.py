"""What every command handler gets: the person, their conversation state, the store, the clock."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from surveybot import audit
from surveybot.conversation.commands import Command
from surveybot.domain import KST, PendingCursor, Survey, User
from surveybot.kakao.reply import Reply, paginate
from surveybot.store.base import Store


@dataclass(frozen=True, slots=True)
class Settings:
    secret_key: bytes
    public_base_url: str
    admin_code: str | None = None
    export_ttl_seconds: int = 600
    session_ttl_seconds: int = 1800
    admin_code_tries_per_hour: int = 5
    admin_code_tries_per_hour_total: int = 20  # wrong codes per hour for the whole bot
    # KAKAO_REST_API_KEY and KAKAO_BOT_ID are set (Config.reminders_enabled): reminders are queued.
    reminders_enabled: bool = False


@dataclass(slots=True)
class Context:
    store: Store
    settings: Settings
    user_key: str
    utterance: str
    extra: dict[str, Any]
    now: datetime
    user: User | None = None
    state: dict[str, Any] = field(default_factory=dict)
    version: int | None = None  # of the stored session; None when there is none
    surveys_version: int | None = None  # from load_context, for Context.survey
    page: int = 0
    # Where a 미응답 page starts (from the page marker); None: from the first person.
    page_after: PendingCursor | None = None
    # Set by `paged` when the reply has a next page: the bot then remembers it in the session so
    # that a typed 다음 pages only right after a paged reply.
    next_page: dict[str, Any] | None = None

    def survey(self, survey_id: int) -> Survey | None:
        """The survey, reused from this worker's copy while no survey has changed."""
        return self.store.get_survey(survey_id, self.surveys_version)

    @property
    def registered(self) -> User:
        """The registered person; handlers call this only after the router checked it."""
        assert self.user is not None
        return self.user

    @property
    def actor(self) -> audit.Actor:
        """The registered person as the one acting, for the audit trail."""
        return audit.by(self.registered.id)

    def respondent(self, survey: Survey) -> str:
        """The response's unique key: the person for named surveys, a keyed hash for anonymous.

        The hash keeps one response per person (so it can be replaced or withdrawn) while the
        stored row names nobody; only a holder of SECRET_KEY could recompute it.
        """
        return self.respondent_key(survey.id, survey.anonymous)

    def respondent_key(self, survey_id: int, anonymous: bool) -> str:
        if not anonymous:
            return f"u:{self.registered.id}"
        message = f"anon:{survey_id}:{self.registered.user_key}".encode()
        return "a:" + hmac.new(self.settings.secret_key, message, hashlib.sha256).hexdigest()[:40]

    def save_state(self, state: dict[str, Any]) -> bool:
        """Store the conversation state; False when a concurrent request changed it first."""
        expires = self.now.timestamp() + self.settings.session_ttl_seconds
        version = self.store.save_session(
            self.user_key,
            state,
            self.version,
            datetime.fromtimestamp(expires, self.now.tzinfo),
            self.now,
        )
        if version is None:
            return False
        self.state, self.version = dict(state), version
        return True

    def clear_state(self) -> None:
        """End the conversation: no flow, no pending confirmation, no paging."""
        self.store.clear_session(self.user_key)
        self.state, self.version = {}, None

    def ask_confirmation(self, action: str, survey: Survey, **details: Any) -> bool:
        """Remember that `action` on `survey` awaits its 확인 command (삭제확인, 취소확인).

        A confirmation command is honoured only while this is pending, so a typed or forged
        삭제확인 without the question first does nothing. `details` are kept with it.
        """
        pending = {**details, "action": action, "survey": survey.id, "anonymous": survey.anonymous}
        return self.save_state({**self.state, "confirm": pending})

    def pending_confirmation(self, action: str, survey_id: int) -> dict[str, Any] | None:
        pending = self.state.get("confirm")
        if not isinstance(pending, dict):
            return None
        if pending.get("action") != action or pending.get("survey") != survey_id:
            return None
        return pending

    def forget(self, key: str) -> None:
        """Drop one part of the state (a used confirmation, an old page marker)."""
        if key not in self.state:
            return
        rest = {k: v for k, v in self.state.items() if k != key}
        if rest:
            self.save_state(rest)
        else:
            self.clear_state()


Handler = Callable[[Context, Command], Reply]
# The furthest page a 다음 may ask for (a pending list of 200,000 people, 20 a page).
MAX_PAGE = 10_000


def paged(ctx: Context, command_text: str, text: str) -> Reply:
    """Show one page of a long text, with a 다음 quick reply that asks for the next one."""
    pages = paginate(text)
    index = min(max(ctx.page, 0), len(pages) - 1)
    body = pages[index]
    if len(pages) > 1:
        body = f"{body}\n\n({index + 1}/{len(pages)}쪽)"
    reply = Reply().text(body)
    if index + 1 < len(pages):
        label = f"다음 ({index + 2}/{len(pages)})"
        ctx.next_page = {"more": command_text, "page": index + 1}
        reply.quick(label, "다음", ctx.next_page)
    return reply


def kst(moment: datetime | None, with_year: bool = False) -> str:
    """A UTC moment as Korea time for people, e.g. 12/10(수) 18:00."""
    if moment is None:
        return "없음"
    local = moment.astimezone(KST)
    weekday = "월화수목금토일"[local.weekday()]
    date = (
        f"{local.year}-{local.month:02d}-{local.day:02d}"
        if with_year
        else f"{local.month}/{local.day}"
    )
    return f"{date}({weekday}) {local:%H:%M}"
