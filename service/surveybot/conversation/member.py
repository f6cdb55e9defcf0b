"""Member commands around surveys: list, my answers, withdraw."""

from __future__ import annotations

from surveybot.conversation.commands import Command
from surveybot.conversation.context import Context, kst, paged
from surveybot.conversation.replies import answers_text, number_from, survey_from
from surveybot.kakao.reply import Reply
from surveybot.korean import quoted
from surveybot.store.base import WriteOutcome


def surveys(ctx: Context, command: Command) -> Reply:
    """Open surveys, newest first, with deadline and whether I answered."""
    listings = ctx.store.list_open_surveys(ctx.registered.id, ctx.now)
    if not listings:
        return Reply().text("지금 진행 중인 설문이 없습니다.").quick("메뉴")
    lines = ["[진행 중인 설문]"]
    for listing in listings:
        survey = listing.survey
        mark = "✅ 응답함" if listing.answered else "⬜ 미응답"
        lines.append(f"{survey.id}. {survey.title}\n   마감 {kst(survey.deadline)} · {mark}")
    lines.append("\n'참여 <번호>'로 응답합니다.")
    reply = paged(ctx, "설문목록", "\n".join(lines))
    for listing in listings[:8]:
        verb = "내응답" if listing.answered else "참여"
        reply.quick(f"{verb} {listing.survey.id}")
    return reply.quick("메뉴")


def mine(ctx: Context, command: Command) -> Reply:
    """My submitted answers to one survey."""
    survey = survey_from(ctx, command)
    if survey.purged_at is not None:
        text = f"{survey.id}번 설문의 응답은 보존 기한이 지나 모두 파기되었습니다."
        return Reply().text(text).quick("설문목록")
    response = ctx.store.get_response(survey.id, ctx.respondent(survey))
    if response is None:
        reply = Reply().text(f"{survey.id}번 설문 '{survey.title}'에 아직 응답하지 않았습니다.")
        if survey.is_open(ctx.now):
            reply.quick(f"참여 {survey.id}")
        return reply.quick("설문목록")
    when = f"\n제출: {kst(response.submitted_at)}" if response.submitted_at else ""
    text = (
        f"[내 응답] {survey.id}. {survey.title}{when}\n\n{answers_text(survey, response.answers)}"
    )
    reply = paged(ctx, f"내응답 {survey.id}", text)
    if survey.is_open(ctx.now):
        reply.quick("다시 응답", f"참여 {survey.id}").quick("응답 철회", f"취소 {survey.id}")
    return reply.quick("설문목록")


def cancel(ctx: Context, command: Command) -> Reply:
    """Ask before withdrawing: the withdrawal itself is 취소확인 n, honoured only after this."""
    survey = survey_from(ctx, command)
    if not survey.is_open(ctx.now):
        return Reply().text(f"{survey.id}번 설문은 마감되어 응답을 철회할 수 없습니다.")
    ctx.ask_confirmation("cancel", survey)
    text = (
        f"{survey.id}번 설문 '{survey.title}'의 내 응답을 철회할까요? 철회하면 되돌릴 수 없습니다."
    )
    return (
        Reply()
        .text(text)
        .quick("철회 확인", f"취소확인 {survey.id}")
        .quick("그대로 두기", f"내응답 {survey.id}")
    )


def confirm_cancel(ctx: Context, command: Command) -> Reply:
    number = number_from(command)
    pending = ctx.pending_confirmation("cancel", number)
    if pending is None:
        # Only right after 취소 n: a stray or forged 취소확인 withdraws nothing.
        text = f"철회하려면 먼저 {quoted(f'취소 {number}', '을/를')} 보내 주세요."
        return Reply().text(text).quick(f"취소 {number}")
    respondent = ctx.respondent_key(number, bool(pending.get("anonymous")))
    outcome = ctx.store.withdraw_response(number, ctx.registered, respondent, ctx.now)
    ctx.forget("confirm")
    if outcome is WriteOutcome.CLOSED:
        return Reply().text(f"{number}번 설문은 마감되어 응답을 철회할 수 없습니다.")
    if outcome is WriteOutcome.MISSING:
        text = f"{number}번 설문에 철회할 응답이 없습니다."
    else:
        text = f"{number}번 설문 응답을 철회했습니다."
    return Reply().text(text).quick(f"다시 참여 {number}", f"참여 {number}").quick("설문목록")
