"""The router: one message in, one reply out, with every rule about who may do what."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from surveybot.conversation import admin, answering, creating, member, people
from surveybot.conversation.commands import Command, parse_command
from surveybot.conversation.context import Context, Handler, Settings
from surveybot.domain import utcnow
from surveybot.kakao.reply import Reply
from surveybot.kakao.request import SkillRequest
from surveybot.store.base import Store

ANYONE: dict[str, Handler] = {"menu": people.menu, "register": people.register}
MEMBERS: dict[str, Handler] = {
    "me": people.me,
    "surveys": member.surveys,
    "join": answering.start,
    "mine": member.mine,
    "cancel": member.cancel,
    "confirm_cancel": member.confirm_cancel,
    "admin_code": people.admin_code,
}
ADMINS: dict[str, Handler] = {
    "create": creating.start,
    "manage": admin.manage,
    "results": admin.results,
    "pending": admin.pending,
    "close": admin.close,
    "reopen": admin.reopen,
    "delete": admin.delete,
    "confirm_delete": admin.confirm_delete,
    "export": admin.export,
    "grant": admin.grant,
    "revoke": admin.revoke,
    "roster": admin.roster,
}
FlowHandler = Callable[[Context, Command | None], Reply | None]
FLOWS: dict[str, FlowHandler] = {
    answering.FLOW: answering.on_input,
    creating.FLOW: creating.on_input,
}


class Bot:
    """Answers one Kakao message; state is read from and written to the store, never kept here."""

    def __init__(
        self, store: Store, settings: Settings, now: Callable[[], datetime] = utcnow
    ) -> None:
        self._store = store
        self._settings = settings
        self._now = now

    def handle(self, request: SkillRequest) -> Reply:
        reply = self._answer(request)
        if not reply.quick_replies:
            # Every reply leaves a way on: with a single fallback block, a dead end is a dead bot.
            reply.quick("메뉴", "메뉴")
        return reply

    def _answer(self, request: SkillRequest) -> Reply:
        now = self._now()
        user, session = self._store.load_context(request.user_key, now)
        ctx = Context(
            store=self._store,
            settings=self._settings,
            user_key=request.user_key,
            utterance=request.utterance,
            extra=request.client_extra,
            now=now,
            user=user,
            state=dict(session.state) if session else {},
            version=session.version if session else None,
        )
        command = parse_command(request.utterance)
        if command is not None and command.name == "next":
            command = _resume_paging(ctx)
            if command is None:
                return Reply().text("더 볼 내용이 없습니다.").quick("메뉴", "메뉴")
        flow = FLOWS.get(str(ctx.state.get("flow")))
        if flow is not None and user is not None:
            reply = flow(ctx, command)
            if reply is not None:
                return reply
        return _route(ctx, command)


def _resume_paging(ctx: Context) -> Command | None:
    """다음 carries the paged command and page number in the quick reply's extra."""
    more, page = ctx.extra.get("more"), ctx.extra.get("page")
    if not isinstance(more, str) or not isinstance(page, int):
        return None
    ctx.page = page
    return parse_command(more)


def _route(ctx: Context, command: Command | None) -> Reply:
    if command is None:
        return people.unknown(ctx, command)
    if command.name in ANYONE:
        return ANYONE[command.name](ctx, command)
    if ctx.user is None:
        return people.need_registration(ctx, command)
    if command.name in MEMBERS:
        return MEMBERS[command.name](ctx, command)
    if command.name in ADMINS:
        if not ctx.user.is_admin:
            return people.admin_only(ctx, command)
        return ADMINS[command.name](ctx, command)
    return people.nothing_pending(ctx, command)
