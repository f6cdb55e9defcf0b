"""`기록` / `기록 n`: the audit trail (of survey n) in the chat, newest first, 20 a page (admins)."""

from __future__ import annotations

from surveybot.audit import Action, AuditRecord, Target, Via
from surveybot.conversation.commands import Command
from surveybot.conversation.context import Context
from surveybot.domain import KST
from surveybot.kakao.reply import Reply

PAGE = 20
LINE = 60  # characters a line may take: 20 lines stay inside one bubble
LABELS = {
    Action.PUBLISH: "설문 게시",
    Action.CLOSE: "마감",
    Action.REOPEN: "재개",
    Action.DELETE: "삭제",
    Action.EXPORT_ISSUE: "결과 파일 링크 발급",
    Action.EXPORT_DOWNLOAD: "결과 파일 내려받음",
    Action.GRANT: "관리자 지정",
    Action.REVOKE: "관리자 해제",
    Action.ROSTER_IMPORT: "명단 가져오기",
    Action.ROSTER_RELEASE: "명단 등록 해제",
    Action.REMIND: "알림 보냄",
    Action.REMIND_AUTO: "자동 알림 설정",
    Action.KEYS_ROTATE: "암호 키 교체",
    Action.PURGE: "응답 파기",
}
VIA = {Via.CLI: "운영자(서버)", Via.SYSTEM: "시스템"}


def history(ctx: Context, command: Command) -> Reply:
    survey_id = command.number
    if command.arg and survey_id is None:
        return Reply().text("'기록' 또는 '기록 <설문 번호>'로 보내 주세요.").quick("기록")
    # A 다음 tap carries where the last page ended as the cursor's id (bot._cursor checked it).
    before = ctx.page_after[2] if ctx.page_after is not None and ctx.page > 0 else None
    page = ctx.page if before is not None else 0
    records = ctx.store.audit_page(before, PAGE + 1, survey_id)
    which = "" if survey_id is None else f" · {survey_id}번 설문"
    if not records:
        text = "기록이 없습니다." if before is None else "더 오래된 기록이 없습니다."
        return Reply().text(f"[관리 기록{which}] {text}").quick("설문관리")
    shown = records[:PAGE]
    lines = [f"[관리 기록{which}] 최근 것부터 · {page + 1}쪽"]
    lines += [_clip(describe(record)) for record in shown]
    reply = Reply().text("\n".join(lines))
    if len(records) > PAGE:
        more = "기록" if survey_id is None else f"기록 {survey_id}"
        ctx.next_page = {"more": more, "page": page + 1, "after": ["", "", shown[-1].seq]}
        reply.quick(f"다음 ({page + 2}쪽)", "다음", ctx.next_page)
    return reply.quick("설문관리")


def describe(record: AuditRecord) -> str:
    """One line: number, time (KST), who, what, on what."""
    event, actor = record.event, record.actor
    when = record.at.astimezone(KST).strftime("%m/%d %H:%M")
    who = VIA.get(actor.via) or record.actor_name or f"#{actor.user_id}"
    if actor.via is Via.WEB:
        who += "(웹)"
    what = LABELS[event.action]
    target = _target(record)
    detail = f" ({event.detail})" if event.detail and event.target is not Target.USER else ""
    return f"#{record.seq} {when} {who}: {what}{' · ' + target if target else ''}{detail}"


def _target(record: AuditRecord) -> str:
    event = record.event
    label = record.target_label
    if event.target is Target.SURVEY:
        return f"{event.target_id}번 설문" + (f" {label}" if label else "")
    if event.target is Target.USER:
        return label or f"#{event.target_id}"
    return ""


def _clip(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= LINE else flat[: LINE - 1] + "…"
