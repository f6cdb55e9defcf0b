"""Reminders (issue 10): 알림 n shows who and what it costs, 알림확인 n queues them, 알림현황 n
shows how it went; and the text a member gets, built when Kakao delivers it (`deliver`)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from surveybot.conversation.commands import Command
from surveybot.conversation.context import Context, kst
from surveybot.conversation.replies import Refused, no_survey, number_from, survey_from
from surveybot.conversation.survey_text import SurveyTextError, offset_label, parse_alerts
from surveybot.kakao.reply import Reply
from surveybot.kakao.request import EventCall
from surveybot.kakao.silence import Silence
from surveybot.korean import quoted
from surveybot.reminders.model import (
    MESSAGE_WON,
    Delivery,
    OutboxState,
    QueueOutcome,
    ReminderKind,
    ReminderLine,
)
from surveybot.store.base import Store, StoreUnavailable

log = logging.getLogger("surveybot.reminders")

HOW_TO_ENABLE = (
    "알림이 아직 켜져 있지 않아 보내지 않았습니다. 운영자가 서버에 KAKAO_REST_API_KEY(카카오 "
    "디벨로퍼스 앱의 REST API 키)와 KAKAO_BOT_ID를 설정하고, 챗봇 관리자센터에서 이 스킬을 쓰는 "
    "알림 블록에 이벤트 이름(KAKAO_EVENT_NAME)을 달고, 'surveybot notifier'를 실행하면 켜집니다. "
    f"메시지 1건에 약 {MESSAGE_WON}원(VAT 별도)이며 월렛 연결이 필요합니다."
)
NAMES_SHOWN = 10
OFF_WORDS = {"끄기", "off", "없음", "none"}
STATE_WORDS = {"대기": (OutboxState.PENDING, OutboxState.BATCHED), "발송": (OutboxState.SENT,),
               "전달": (OutboxState.DELIVERED,), "생략": (OutboxState.SKIPPED,),
               "실패": (OutboxState.FAILED,)}  # fmt: skip


def _enabled(ctx: Context) -> None:
    if not ctx.settings.reminders_enabled:
        raise Refused(Reply().text(HOW_TO_ENABLE).quick("설문관리"))


def remind(ctx: Context, command: Command) -> Reply:
    """알림 n: who would get a reminder now; 알림 n 24시간 전, 2시간 전: automatic ones."""
    _enabled(ctx)
    number, _, rest = command.arg.partition(" ")
    survey = survey_from(ctx, Command(command.name, number))
    if not survey.is_open(ctx.now):
        return Reply().text(f"{survey.id}번 설문은 마감되어 알림을 보낼 수 없습니다.").quick("설문관리")
    if rest.strip():
        return _set_auto(ctx, survey.id, rest)
    preview = ctx.store.reminder_preview(survey.id, NAMES_SHOWN)
    if preview is None:
        return no_survey(survey.id)
    lines = [f"[알림 미리보기] {survey.id}. {survey.title}"]
    if preview.last_manual_at is not None:
        lines.append(f"지난 알림: {kst(preview.last_manual_at)} ({preview.manual_sent}번째)")
    lines.append(f"받을 사람: {preview.recipients}명{_names(preview.sample, preview.recipients)}")
    if preview.unreachable:
        lines.append(
            f"연락할 수 없음 (명단에만 있고 등록하지 않음): {preview.unreachable}명"
            + _names(preview.unreachable_sample, preview.unreachable)
        )
    reply = Reply()
    if preview.recipients == 0:
        lines.append("\n보낼 사람이 없습니다 (모두 응답했거나 등록하지 않았습니다).")
        return reply.text("\n".join(lines)).quick(f"미응답 {survey.id}").quick("설문관리")
    ctx.ask_confirmation("remind", survey, seq=preview.manual_sent + 1)
    lines += [
        f"예상 비용: 약 {preview.recipients * MESSAGE_WON:,}원 (1건 {MESSAGE_WON}원, VAT 별도)",
        "",
        f"{quoted(f'알림확인 {survey.id}', '을/를')} 누르면 보냅니다. 그 사이 응답한 사람에게는 "
        "보내지 않습니다.",
    ]
    reply.text("\n".join(lines)).quick("알림 보내기", f"알림확인 {survey.id}")
    return reply.quick("그대로 두기", "설문관리").quick(f"미응답 {survey.id}")


def _names(names: list[str], total: int) -> str:
    if not names:
        return ""
    more = f" 외 {total - len(names)}명" if total > len(names) else ""
    return " — " + ", ".join(names) + more


def _set_auto(ctx: Context, survey_id: int, text: str) -> Reply:
    minutes: tuple[int, ...] = ()
    if " ".join(text.split()).casefold() not in OFF_WORDS:
        try:
            notice, minutes = parse_alerts(text)
        except SurveyTextError as error:
            return Reply().text(error.message).quick(f"알림현황 {survey_id}")
        if notice or not minutes:
            text = "공지는 설문을 게시할 때만 보낼 수 있습니다. 예: '알림 3 24시간 전, 2시간 전'"
            return Reply().text(text).quick(f"알림현황 {survey_id}")
    due = ctx.store.set_auto_reminders(survey_id, minutes, ctx.registered.id, ctx.now)
    if due is None:
        text = f"{survey_id}번 설문은 마감이 없어 마감 전 알림을 걸 수 없습니다."
    elif not minutes:
        text = f"{survey_id}번 설문의 마감 전 알림을 껐습니다."
    else:
        asked = ", ".join(offset_label(m) for m in minutes)
        when = ", ".join(kst(t) for t in due) or "없음 (시각이 이미 지났거나 보냈습니다)"
        text = f"{survey_id}번 설문: 마감 {asked}에 응답하지 않은 사람에게 알림을 보냅니다.\n예정: {when}"
    return Reply().text(text).quick(f"알림현황 {survey_id}").quick("설문관리")


def confirm(ctx: Context, command: Command) -> Reply:
    """알림확인 n: queue the reminder shown by 알림 n; the same one twice queues nobody."""
    _enabled(ctx)  # off: say how to turn them on, not "send 알림 n first", which would say the same
    number = number_from(command)
    pending = ctx.pending_confirmation("remind", number)
    seq = None if pending is None else pending.get("seq")
    if type(seq) is not int or seq < 1:
        # Only right after 알림 n: a stray or forged 알림확인 sends nothing.
        text = f"알림을 보내려면 먼저 {quoted(f'알림 {number}', '으로/로')} 받을 사람을 확인해 주세요."
        return Reply().text(text).quick(f"알림 {number}")
    queued = ctx.store.queue_manual_reminder(number, seq, ctx.registered.id, ctx.now)
    ctx.forget("confirm")
    if queued.outcome is QueueOutcome.MISSING:
        return no_survey(number)
    if queued.outcome is QueueOutcome.CLOSED:
        return Reply().text(f"{number}번 설문은 마감되어 알림을 보내지 않았습니다.").quick("설문관리")
    if queued.outcome is QueueOutcome.ALREADY:
        text = (
            "이 알림은 이미 보냈습니다 (두 번 눌렸거나 다른 관리자가 먼저 보냈습니다). "
            f"다시 보내려면 '알림 {number}'부터 보내 주세요."
        )
    elif queued.people == 0:
        text = "보낼 사람이 없습니다 (모두 응답했거나 등록하지 않았습니다)."
    else:
        text = (
            f"{number}번 설문에 응답하지 않은 {queued.people}명에게 알림을 보냅니다 "
            f"(약 {queued.people * MESSAGE_WON:,}원). 보내기 전에 응답한 사람은 빠집니다."
        )
    return Reply().text(text).quick(f"알림현황 {number}").quick(f"미응답 {number}")


def status(ctx: Context, command: Command) -> Reply:
    """알림현황 n: each reminder of the survey and where its people are."""
    number = number_from(command)
    found = ctx.store.reminder_status(number)
    if found is None:
        return no_survey(number)
    lines = [f"[알림현황] {number}. {found.survey.title}"]
    if not found.reminders and not ctx.settings.reminders_enabled:
        lines.append(HOW_TO_ENABLE)
    elif not found.reminders:
        lines.append(f"아직 알림이 없습니다. {quoted(f'알림 {number}', '으로/로')} 보냅니다.")
    totals: dict[OutboxState, int] = {}
    for line in found.reminders:
        lines.append(_line(line))
        for state, count in line.counts.items():
            totals[state] = totals.get(state, 0) + count
    if len(found.reminders) > 1 and totals:
        lines.append(f"합계 — {_counts(totals)}")
    for why, count in found.failures:
        lines.append(f"실패 이유 ({count}명): {why[:120]}")
    return Reply().text("\n".join(lines)).quick(f"미응답 {number}").quick("설문관리")


def _line(line: ReminderLine) -> str:
    name = {
        ReminderKind.MANUAL: f"알림 #{line.seq}",
        ReminderKind.AUTO: f"마감 {offset_label(line.seq)}",
        ReminderKind.NOTICE: "게시 공지",
    }[line.kind]
    if line.queued_at is None:
        return f"• {name} · {kst(line.due_at)} 예정"
    return f"• {name} · {kst(line.queued_at)} — {_counts(line.counts) or '보낼 사람 없음'}"


def _counts(counts: dict[OutboxState, int]) -> str:
    parts = []
    for word, states in STATE_WORDS.items():
        total = sum(counts.get(state, 0) for state in states)
        if total:
            parts.append(f"{word} {total}")
    return " · ".join(parts)


def deliver(store: Store, user_key: str, event: EventCall, now: datetime) -> Reply:
    """Kakao runs the reminder block for this person: the text, or nothing when not wanted."""
    try:
        found = store.record_delivery(event.reminder_id, user_key, now) if event.reminder_id else None
    except StoreUnavailable as error:
        # An apology would reach the person as a message out of nowhere: show nothing instead.
        log.warning("reminder not shown, database unavailable: %s", error)
        return Silence()
    except Exception:
        log.exception("reminder not shown")
        return Silence()
    if found is None or not found.show:
        return Silence()
    return reminder_reply(found, now)


def reminder_reply(found: Delivery, now: datetime) -> Reply:
    number = found.survey_id
    if found.kind is ReminderKind.NOTICE:
        lines = [f"[새 설문] {found.title}"]
    else:
        lines = [f"[설문 알림] {found.title}", "아직 응답하지 않으셨어요."]
    if found.deadline is not None:
        lines.append(f"마감: {kst(found.deadline)} ({_left(found.deadline - now)} 남음)")
    lines.append(f"{quoted(f'참여 {number}', '을/를')} 눌러 응답해 주세요.")
    return Reply().text("\n".join(lines)).quick(f"참여 {number}").quick("설문목록")


def _left(left: timedelta) -> str:
    minutes = max(int(left.total_seconds() // 60), 1)
    if minutes >= 2 * 1440:
        return f"{minutes // 1440}일"
    if minutes >= 60:
        return f"{minutes // 60}시간"
    return f"{minutes}분"
