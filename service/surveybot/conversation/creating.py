"""Creating a survey: in one message, or guided step by step; both end in a preview and 확인.

State: {"flow": "create", "stage": ..., "key": draft key, "draft": {...}}. The draft key makes
publishing idempotent: a double-tapped 확인 publishes one survey.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from surveybot.conversation.commands import Command, control_word, normalise
from surveybot.conversation.context import Context, kst, paged
from surveybot.conversation.people import admin_only, nothing_pending
from surveybot.conversation.survey_text import (
    SurveyTextError,
    check_description,
    check_title,
    offset_label,
    parse_alerts,
    parse_deadline,
    parse_question,
    parse_survey_text,
    question_body,
)
from surveybot.domain import QUESTIONS_MAX, Question, QuestionKind, SurveyDraft
from surveybot.kakao.reply import Reply
from surveybot.korean import quoted

FLOW = "create"
STAGES = ("title", "description", "questions", "deadline", "anonymous", "alerts", "preview")
YES = {"예", "네", "yes", "y", "익명", "anonymous"}
NO = {"아니오", "아니요", "no", "n", "실명"}

EXAMPLE = """\
설문만들기 12월 송년회 참석 조사
설명 12월 20일 18시, 본관 식당
Q 참석하시나요? / 참석, 불참
Q 선호 메뉴 (복수) / 한식, 중식, 양식
Q 건의사항
마감 2026-12-10 18:00
익명"""

# Which words still work at each stage; everything else typed there is the value asked for.
WORDS = {
    "title": "('그만' 만들기 취소)",
    "description": "('건너뛰기' 설명 없이 · '이전' 되돌리기 · '그만' 만들기 취소)",
    "questions": "('완료' 질문 끝 · '이전' 마지막 질문 지우기 · '그만' 만들기 취소)",
    "deadline": "('건너뛰기' 마감 없이 · '이전' 되돌리기 · '그만' 만들기 취소)",
    "anonymous": "('예' · '아니오' · '이전' 되돌리기 · '그만' 만들기 취소)",
    "alerts": "('건너뛰기' 알림 없이 · '이전' 되돌리기 · '그만' 만들기 취소)",
}

PROMPTS = {
    "title": "설문 제목을 보내 주세요 (50자 이내).",
    "description": "설명을 보내 주세요 (400자 이내). 없으면 '건너뛰기'.",
    "questions": "질문을 한 줄로 보내 주세요.\n• 하나 선택: 참석하시나요? / 참석, 불참\n"
    "• 여러 개 선택: 선호 메뉴 (복수) / 한식, 중식, 양식\n• 자유 응답: 건의사항\n"
    "질문을 다 넣었으면 '완료'.",
    "deadline": "마감 일시를 'YYYY-MM-DD HH:MM' (한국 시간)으로 보내 주세요. 없으면 '건너뛰기'.",
    "anonymous": "익명 설문으로 할까요? 익명이면 누가 무엇을 답했는지 관리자도 볼 수 없습니다.",
    "alerts": "카카오톡 알림을 보낼까요? (1건에 약 15원)\n• 마감 전, 응답하지 않은 사람에게: "
    "'24시간 전, 2시간 전'\n• 게시할 때 모두에게: '공지'\n둘 다: '공지, 24시간 전'. "
    "보내지 않으려면 '건너뛰기'.",
}


def start(ctx: Context, command: Command) -> Reply:
    """설문만들기 [제목 + lines]: one-message form straight to preview, else the guided flow."""
    key = uuid.uuid4().hex
    if command.arg or command.rest:
        try:
            draft = parse_survey_text(command.arg, command.rest.splitlines(), ctx.now)
        except SurveyTextError as error:
            text = f"설문을 만들 수 없습니다.\n{error}\n\n예시:\n{EXAMPLE}"
            return Reply().text(text).quick("안내대로 만들기", "설문만들기").quick("메뉴")
        state = {"flow": FLOW, "stage": "preview", "key": key, "draft": draft_to_json(draft)}
        ctx.save_state(state)
        return _preview(ctx, draft)
    ctx.save_state({"flow": FLOW, "stage": "title", "key": key, "draft": {"questions": []}})
    text = (
        "새 설문을 만듭니다. 언제든 '그만'으로 나갈 수 있습니다.\n\n"
        f"한 번에 만들려면 이렇게 보내도 됩니다:\n{EXAMPLE}\n\n{PROMPTS['title']}\n{WORDS['title']}"
    )
    return Reply().text(text).quick("그만")


def on_input(ctx: Context, command: Command | None) -> Reply | None:
    """Handle a message during creation; None lets the general router take it.

    While a title, description, question, deadline or the anonymity is asked, the message is
    that value: only a whole message that is a control word steers (그만, 이전, and where the
    prompt offers them 건너뛰기, 완료, 예/아니오). 설문만들기 starts over. At the preview, which
    asks for nothing typed, other commands go to the router and the draft waits.
    """
    if command is not None and command.name == "create":
        return None  # 설문만들기 starts over, in one message if it carries the survey
    word = control_word(ctx.utterance)
    if word == "stop":
        ctx.clear_state()
        return Reply().text("설문 만들기를 그만두었습니다.").quick("메뉴")
    if not ctx.registered.is_admin:
        ctx.clear_state()
        return admin_only(ctx, command or Command("create"))
    stage = str(ctx.state["stage"])
    if word == "back":
        return _go_back(ctx, stage)
    if stage == "preview":
        return _at_preview(ctx, word, command)
    try:
        return _STAGE_HANDLERS[stage](ctx, ctx.utterance.strip(), word)
    except SurveyTextError as error:
        return _prompt(stage, f"{error.message}\n\n")


def _title(ctx: Context, text: str, word: str | None) -> Reply:
    if word == "skip":
        return _prompt("title", "제목은 건너뛸 수 없습니다.\n\n")
    return _next(ctx, "description", title=check_title(text))


def _description(ctx: Context, text: str, word: str | None) -> Reply:
    return _next(ctx, "questions", description="" if word == "skip" else check_description(text))


def _question(ctx: Context, text: str, word: str | None) -> Reply:
    questions = list(ctx.state["draft"].get("questions", []))
    if word in {"done", "confirm"}:
        if not questions:
            return _prompt("questions", "질문이 하나 이상 있어야 합니다.\n\n")
        return _next(ctx, "deadline")
    questions.append(parse_question(question_body(text)).to_json())
    stage = "deadline" if len(questions) >= QUESTIONS_MAX else "questions"
    preface = f"질문 {len(questions)} 추가: {questions[-1]['title']}\n\n"
    return _next(ctx, stage, preface=preface, questions=questions)


def _deadline(ctx: Context, text: str, word: str | None) -> Reply:
    if word == "skip" or normalise(text) in {"없음", "none"}:
        return _next(ctx, "anonymous", deadline=None)
    return _next(ctx, "anonymous", deadline=parse_deadline(text, ctx.now).isoformat())


def _anonymous(ctx: Context, text: str, word: str | None) -> Reply:
    answer = normalise(text)
    if answer not in YES | NO:
        return _prompt("anonymous", "'예' 또는 '아니오'로 답해 주세요.\n\n")
    stage = "alerts" if ctx.settings.reminders_enabled else "preview"
    return _next(ctx, stage, anonymous=answer in YES)


def _alerts(ctx: Context, text: str, word: str | None) -> Reply:
    if word == "skip":
        return _next(ctx, "preview", notice=False, reminders=[])
    notice, minutes = parse_alerts(text)
    if minutes and not ctx.state["draft"].get("deadline"):
        raise SurveyTextError("마감이 없어 마감 전 알림은 보낼 수 없습니다. '공지' 또는 '건너뛰기'.")
    return _next(ctx, "preview", notice=notice, reminders=list(minutes))


_STAGE_HANDLERS: dict[str, Callable[[Context, str, str | None], Reply]] = {
    "title": _title,
    "description": _description,
    "questions": _question,
    "deadline": _deadline,
    "anonymous": _anonymous,
    "alerts": _alerts,
}


def _next(ctx: Context, stage: str, preface: str = "", **changes: Any) -> Reply:
    draft = {**ctx.state["draft"], **changes}
    state = {**ctx.state, "stage": stage, "draft": draft}
    if not ctx.save_state(state):
        return Reply().text("같은 입력이 두 번 들어와 한 번만 반영했습니다.").quick("그만")
    if stage == "preview":
        return _preview(ctx, draft_from_json(draft))
    return _prompt(stage, preface)


def _go_back(ctx: Context, stage: str) -> Reply:
    index = max(STAGES.index(stage) - 1, 0)
    if STAGES[index] == "alerts" and not ctx.settings.reminders_enabled:
        index -= 1  # a step this bot does not ask
    draft = dict(ctx.state["draft"])
    if stage == "questions" and draft.get("questions"):
        draft["questions"] = draft["questions"][:-1]  # 이전 while adding questions drops the last
        index += 1
    state = {**ctx.state, "stage": STAGES[index], "draft": draft}
    ctx.save_state(state)
    return _prompt(STAGES[index], "한 단계 돌아갔습니다.\n\n")


def _prompt(stage: str, preface: str) -> Reply:
    reply = Reply().text(f"{preface}{PROMPTS[stage]}\n\n{WORDS[stage]}")
    if stage in {"description", "deadline"}:
        reply.quick("건너뛰기")
    if stage == "questions":
        reply.quick("완료")
    if stage == "anonymous":
        reply.quick("예 (익명)", "예").quick("아니오")
    if stage == "alerts":
        reply.quick("건너뛰기").quick("공지").quick("공지, 24시간 전")
    return reply.quick("이전").quick("그만")


def _at_preview(ctx: Context, word: str | None, command: Command | None) -> Reply | None:
    draft = draft_from_json(ctx.state["draft"])
    if word != "confirm":
        general = command is not None and word is None and command.name != "preview"
        return None if general else _preview(ctx, draft)
    alerts = _alerts_text(ctx, draft)
    if not ctx.settings.reminders_enabled:
        draft = replace(draft, reminders=(), notice=False)  # nothing is queued without Kakao
    survey = ctx.store.create_survey(draft, ctx.registered.id, str(ctx.state["key"]), ctx.now)
    ctx.clear_state()
    return (
        Reply()
        .text(
            f"설문 {survey.id} {quoted(survey.title, '을/를')} 게시했습니다. "
            f"회원은 {quoted(f'참여 {survey.id}', '으로/로')} 응답합니다."
            + (f"\n알림: {alerts}" if alerts else "")
        )
        .quick(f"결과 {survey.id}")
        .quick(f"미응답 {survey.id}")
        .quick("설문관리")
    )


def show_preview(ctx: Context, command: Command) -> Reply:
    """미리보기 (and 다음 under a long preview): the draft waiting for 확인, page by page."""
    if ctx.state.get("flow") != FLOW or ctx.state.get("stage") != "preview":
        return nothing_pending(ctx, command)
    return _preview(ctx, draft_from_json(ctx.state["draft"]))


def _preview(ctx: Context, draft: SurveyDraft) -> Reply:
    lines = [
        "[미리보기]",
        f"제목: {draft.title}",
        f"설명: {draft.description or '-'}",
        f"마감: {kst(draft.deadline, with_year=True)}",
        f"익명: {'예' if draft.anonymous else '아니오'}",
    ]
    alerts = _alerts_text(ctx, draft)
    if alerts or ctx.settings.reminders_enabled:
        lines.append(f"알림: {alerts or '없음'}")
    lines.append("")
    kinds = {QuestionKind.SINGLE: "하나 선택", QuestionKind.MULTI: "복수 선택"}
    for index, question in enumerate(draft.questions, start=1):
        kind = kinds.get(question.kind, "자유 응답")
        options = f"\n   {' / '.join(question.options)}" if question.options else ""
        lines.append(f"Q{index}. {question.title} ({kind}){options}")
    lines.append("\n'확인'을 누르면 게시합니다.")
    reply = paged(ctx, "미리보기", "\n".join(lines))
    return reply.quick("확인").quick("그만")


def _alerts_text(ctx: Context, draft: SurveyDraft) -> str:
    """The reminders the draft asks for, as the admin reads them ('' for none)."""
    parts = (["게시할 때 공지"] if draft.notice else []) + [
        f"마감 {offset_label(minutes)}" for minutes in draft.reminders
    ]
    if parts and not ctx.settings.reminders_enabled:
        return f"{', '.join(parts)} — 알림이 설정되지 않아 보내지 않습니다 (켜는 방법: '알림 <번호>')"
    return ", ".join(parts)


def draft_to_json(draft: SurveyDraft) -> dict[str, Any]:
    return {
        "title": draft.title,
        "description": draft.description,
        "questions": [question.to_json() for question in draft.questions],
        "deadline": draft.deadline.isoformat() if draft.deadline else None,
        "anonymous": draft.anonymous,
        "reminders": list(draft.reminders),
        "notice": draft.notice,
    }


def draft_from_json(data: dict[str, Any]) -> SurveyDraft:
    deadline = data.get("deadline")
    return SurveyDraft(
        title=str(data.get("title", "")),
        description=str(data.get("description") or ""),
        questions=tuple(Question.from_json(q) for q in data.get("questions", [])),
        deadline=datetime.fromisoformat(deadline) if deadline else None,
        anonymous=bool(data.get("anonymous", False)),
        reminders=tuple(m for m in data.get("reminders") or [] if type(m) is int),
        notice=bool(data.get("notice", False)),
    )
