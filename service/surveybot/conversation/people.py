"""Commands about the person: menu, registration, my details, the admin bootstrap code."""

from __future__ import annotations

import hmac
import logging
from datetime import timedelta

from surveybot import audit
from surveybot.conversation.commands import Command
from surveybot.conversation.context import Context
from surveybot.domain import Role
from surveybot.kakao.reply import Reply
from surveybot.names import InvalidName, split_name_number
from surveybot.store.base import RegisterOutcome, RoleOutcome

log = logging.getLogger("surveybot.people")

REGISTER_HINT = "'등록 홍길동' 처럼 이름을 보내 주세요. 명단에 번호가 있으면 '등록 홍길동 1234'."

MEMBER_HELP = """\
• 설문목록 — 진행 중인 설문
• 참여 <번호> — 설문에 응답 (다시 응답하면 바뀝니다)
• 내응답 <번호> — 내가 낸 응답
• 취소 <번호> — 내 응답 철회
• 내정보 — 등록된 내 정보"""

ADMIN_HELP = """\
[관리자]
• 설문만들기 — 새 설문 (한 번에 쓰는 방법도 안내)
• 설문관리 — 모든 설문과 응답 수
• 결과 <번호> · 미응답 <번호> · 다운로드 <번호>
• 마감 <번호> · 재개 <번호> · 삭제 <번호>
• 관리자지정 <이름> · 관리자해제 <이름> · 명단
• 등록해제 <이름> — 잘못 등록된 명단 항목 풀기
• 알림 <번호> · 알림현황 <번호> — 응답하지 않은 사람에게 카카오톡 알림
• 기록 [번호] — 누가 언제 무엇을 했는지 (관리 기록)"""


def menu(ctx: Context, command: Command) -> Reply:
    """The role-aware menu; an unregistered person learns how to register."""
    if ctx.user is None:
        return (
            Reply()
            .text(f"안녕하세요! 설문봇입니다.\n먼저 이름을 등록해 주세요.\n{REGISTER_HINT}")
            .quick("도움말")
        )
    text = f"{ctx.user.name}님, 무엇을 할까요?\n\n{MEMBER_HELP}"
    reply = Reply()
    if ctx.user.is_admin:
        text = f"{text}\n\n{ADMIN_HELP}"
    reply.text(text).quick("설문목록")
    if ctx.user.is_admin:
        reply.quick("설문관리").quick("설문만들기").quick("명단")
    return reply.quick("내정보")


def register(ctx: Context, command: Command) -> Reply:
    """Register or rename; with a roster the name (and number) must match an entry."""
    try:
        name, member_no = split_name_number(command.arg)
    except InvalidName as error:
        return Reply().text(f"{error}\n{REGISTER_HINT}").quick("도움말")
    if not name:
        return Reply().text(f"이름이 없습니다.\n{REGISTER_HINT}").quick("도움말")
    result = ctx.store.register(ctx.user_key, name, member_no)
    if result.outcome is RegisterOutcome.OK and result.user is not None:
        user = result.user
        verb = "이름을 바꿨습니다" if ctx.user is not None else "등록되었습니다"
        text = f"{user.name}님, {verb}{_details(user.member_no, user.department)}."
        return Reply().text(text).quick("설문목록").quick("메뉴")
    return Reply().text(_REGISTER_REFUSALS[result.outcome]).quick("도움말")


_REGISTER_REFUSALS = {
    RegisterOutcome.NOT_ON_ROSTER: "명단에서 찾을 수 없습니다. 이름(과 번호)을 확인하거나 관리자에게 "
    "문의해 주세요.",
    RegisterOutcome.NUMBER_REQUIRED: "명단의 번호도 함께 보내 주세요. 예: '등록 홍길동 1234'",
    RegisterOutcome.CLAIMED: "이 명단 항목은 이미 다른 카카오 계정이 등록했습니다. 관리자에게 "
    "문의해 주세요.",
    # Moving to another entry would move this person's answers under another name.
    RegisterOutcome.HAS_CLAIM: "이미 명단의 다른 사람으로 등록되어 있어 바꿀 수 없습니다. 잘못 "
    "등록했다면 관리자에게 '등록해제 <이름>'을 요청해 주세요.",
}


def _details(member_no: str | None, department: str | None) -> str:
    parts = [part for part in (member_no, department) if part]
    return f" ({', '.join(parts)})" if parts else ""


def me(ctx: Context, command: Command) -> Reply:
    user = ctx.registered
    role = "관리자" if user.is_admin else "회원"
    text = (
        f"[내 정보]\n이름: {user.name}\n번호: {user.member_no or '-'}\n"
        f"부서: {user.department or '-'}\n권한: {role}"
    )
    return Reply().text(text).quick("설문목록").quick("메뉴")


def admin_code(ctx: Context, command: Command) -> Reply:
    """Become admin with the bootstrap code; a few wrong tries per hour, then a pause."""
    user = ctx.registered
    settings = ctx.settings
    if user.is_admin:
        return Reply().text("이미 관리자입니다.").quick("메뉴")
    if settings.admin_code is None:
        return Reply().text("관리자 코드가 설정되어 있지 않습니다. 운영자에게 문의해 주세요.")
    since = ctx.now - timedelta(hours=1)
    failures, everyone = ctx.store.count_admin_code_failures(ctx.user_key, since)
    # Per person and for the whole bot: many Kakao accounts must not multiply the guesses.
    if (
        failures >= settings.admin_code_tries_per_hour
        or everyone >= settings.admin_code_tries_per_hour_total
    ):
        log.warning("admin code locked", extra={"user_key": ctx.user_key, "failures": everyone})
        return Reply().text("틀린 시도가 많아 잠시 막혔습니다. 한 시간 뒤에 다시 해 주세요.")
    # Constant-time comparison: the code is a password.
    if not hmac.compare_digest(command.arg.encode(), settings.admin_code.encode()):
        ctx.store.record_admin_code_failure(ctx.user_key, ctx.now)
        log.warning("wrong admin code", extra={"user_key": ctx.user_key, "failures": everyone + 1})
        left = settings.admin_code_tries_per_hour - failures - 1
        return Reply().text(f"코드가 올바르지 않습니다. (남은 시도 {left}회)").quick("메뉴")
    outcome = ctx.store.set_role(user.id, Role.ADMIN.value, audit.by(user.id))
    if outcome is RoleOutcome.MISSING:
        return Reply().text(f"등록 정보가 없습니다.\n{REGISTER_HINT}")
    return Reply().text("관리자가 되었습니다.").quick("설문관리").quick("메뉴")


def need_registration(ctx: Context, command: Command) -> Reply:
    return Reply().text(f"먼저 이름을 등록해 주세요.\n{REGISTER_HINT}").quick("도움말")


def admin_only(ctx: Context, command: Command) -> Reply:
    return Reply().text("관리자만 쓸 수 있는 명령입니다.").quick("메뉴")


def unknown(ctx: Context, command: Command | None) -> Reply:
    text = "무슨 말인지 모르겠어요. '메뉴'를 보내면 할 수 있는 일을 알려 드립니다."
    return Reply().text(text).quick("메뉴").quick("설문목록")


def nothing_pending(ctx: Context, command: Command) -> Reply:
    """이전/그만/제출/확인/다음 with no conversation in progress (often a late double tap)."""
    text = "지금 진행 중인 작업이 없습니다."
    return Reply().text(text).quick("설문목록").quick("메뉴")
