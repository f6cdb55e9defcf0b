"""The router: one message in, one reply out, with every rule about who may do what."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from surveybot.conversation import (
    admin,
    answering,
    auditing,
    creating,
    member,
    people,
    reminding,
)
from surveybot.conversation.commands import Command, control_word, parse_command
from surveybot.conversation.context import MAX_PAGE, Context, Handler, Settings
from surveybot.conversation.replies import Refused
from surveybot.domain import PendingCursor, utcnow
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
    "release": admin.release,
    "remind": reminding.remind,
    "confirm_remind": reminding.confirm,
    "remind_status": reminding.status,
    "history": auditing.history,
    "preview": creating.show_preview,  # reached by paging a long preview
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
        if request.event is not None:
            # Kakao runs the reminder block: no conversation, and nothing shown unless wanted.
            return reminding.deliver(self._store, request.user_key, request.event, self._now())
        reply = self._answer(request)
        if not reply.quick_replies:
            # Every reply leaves a way on: with a single fallback block, a dead end is a dead bot.
            reply.quick("메뉴")
        return reply

    def _answer(self, request: SkillRequest) -> Reply:
        now = self._now()
        user, session, surveys_version = self._store.load_context(request.user_key, now)
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
            surveys_version=surveys_version,
        )
        try:
            reply = _dispatch(ctx, parse_command(request.utterance))
        except Refused as refused:
            reply = refused.reply
        _remember_paging(ctx)
        return reply


def _dispatch(ctx: Context, command: Command | None) -> Reply:
    paging = _paging(ctx)
    if paging is not None:
        ctx.page, ctx.page_after = paging[1], paging[2]
        paged_command = parse_command(paging[0])
        if paged_command is None or paged_command.name == "next":
            return Reply().text("더 볼 내용이 없습니다.").quick("메뉴")
        return _route(ctx, paged_command)
    flow = FLOWS.get(str(ctx.state.get("flow")))
    if flow is not None and ctx.user is not None:
        reply = flow(ctx, command)
        if reply is not None:
            return reply
    if command is not None and command.name == "next":
        return Reply().text("더 볼 내용이 없습니다.").quick("메뉴")
    return _route(ctx, command)


def _paging(ctx: Context) -> tuple[str, int, PendingCursor | None] | None:
    """The paged command and page a 다음 asks for, or None when this message is not paging.

    A tap of our 다음 quick reply carries both in its extra; a typed 다음 goes on from the page
    marker the last reply left in the session. Anything else, '다음 주에 가능' included, is not
    paging: inside an answer it is the answer.
    """
    if control_word(ctx.utterance) != "next":
        return None
    for source in (ctx.extra, ctx.state.get("paging")):
        if not isinstance(source, dict):
            continue
        more, page = source.get("more"), source.get("page")
        # Values from extra are untrusted: exactly a string and a small whole number.
        if isinstance(more, str) and type(page) is int and 0 < page <= MAX_PAGE and more:
            return more, page, _cursor(source.get("after"))
    return None


def _cursor(value: object) -> PendingCursor | None:
    """A 미응답 page's start from a marker: [name, number, id], checked like any client value."""
    if not isinstance(value, list) or len(value) != 3:
        return None
    name, number, person_id = value
    if not (isinstance(name, str) and isinstance(number, str) and type(person_id) is int):
        return None
    if len(name) > 100 or len(number) > 100 or not 0 <= person_id < 2**63:
        return None
    return name, number, person_id


def _remember_paging(ctx: Context) -> None:
    """Keep the page marker for a typed 다음 only while the last reply is the paged one."""
    if ctx.next_page is not None:
        if ctx.state.get("paging") != ctx.next_page:
            ctx.save_state({**ctx.state, "paging": ctx.next_page})
    elif "paging" in ctx.state:
        ctx.forget("paging")


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
