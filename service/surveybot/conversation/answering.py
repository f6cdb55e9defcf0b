"""Answering a survey question by question: 참여 n, then one message per question, then 제출.

The state lives in the session: {"flow": "answer", "survey": n, "step": i, "answers": [...]}.
Quick replies carry {"s": survey, "q": step} so a tap that arrives after its step was already
answered (a double tap, or a tap on an old bubble) is recognised and not applied twice.
"""

from __future__ import annotations

import re
from typing import Any

from surveybot.conversation.commands import Command, control_word, normalise
from surveybot.conversation.context import Context, kst
from surveybot.conversation.replies import answers_text, no_survey, survey_from
from surveybot.domain import FREE_TEXT_MAX, Answer, Question, QuestionKind, Survey, answer_fits
from surveybot.kakao.reply import Reply
from surveybot.korean import quoted
from surveybot.store.base import WriteOutcome

FLOW = "answer"
# Commands that only mean something inside a flow; they never leave it.
FLOW_WORDS = frozenset({"submit", "confirm", "next", "back", "stop", "skip", "preview"})
MAX_QUICK_REPLIES = 10
ANONYMOUS_NOTICE = (
    "🔒 익명 설문입니다. 응답은 이름과 분리되어 저장되고, 관리자는 누가 참여했는지만 볼 수 있으며 "
    "누가 무엇을 골랐는지는 볼 수 없습니다. 결과 파일에도 이름과 제출 시각이 없습니다."
)


def start(ctx: Context, command: Command) -> Reply:
    """참여 n: begin (or resume) answering survey n."""
    survey = survey_from(ctx, command)
    if not survey.is_open(ctx.now):
        return _closed_reply(survey)
    if ctx.state.get("flow") == FLOW and ctx.state.get("survey") == survey.id:
        return _show_step(survey, ctx.state, "이어서 응답합니다.")
    state: dict[str, Any] = {
        "flow": FLOW,
        "survey": survey.id,
        "step": 0,
        "answers": [None] * len(survey.questions),
    }
    ctx.save_state(state)
    return _show_step(survey, state, _intro(survey))


def _intro(survey: Survey) -> str:
    lines = [f"[{survey.id}. {survey.title}]"]
    if survey.description:
        lines.append(survey.description)
    lines.append(f"질문 {len(survey.questions)}개 · 마감 {kst(survey.deadline)}")
    if survey.anonymous:
        lines.append(ANONYMOUS_NOTICE)
    lines.append("'이전'으로 되돌아가고 '그만'으로 저장하지 않고 나갑니다.")
    return "\n".join(lines)


def on_input(ctx: Context, command: Command | None) -> Reply | None:
    """Handle a message during the flow; None lets the general router take it.

    While a question is asked, the message is the answer: only a whole message that is a control
    word (그만, 이전, 건너뛰기; 제출 at the summary) steers, and a quick-reply tap is known by its
    extra. A choice question lets a general command (설문목록, 참여 2) through when the message
    is not a choice, keeping the draft; a free-text question takes every message as the text.
    """
    number = int(ctx.state["survey"])
    survey = ctx.survey(number)
    if survey is None or not survey.is_open(ctx.now):
        ctx.clear_state()
        return no_survey(number) if survey is None else _closed_reply(survey)
    step = int(ctx.state["step"])
    if _is_stale_tap(ctx, survey, step):
        return _show_step(survey, ctx.state, "이미 처리된 선택입니다. 지금 질문은 이것입니다.")
    if step < len(survey.questions):
        # A tap is known by its extra, before any word: an option may be called 그만 or 이전.
        tapped = _tapped_option(ctx, survey.questions[step])
        if tapped is not None:
            return _advance(ctx, survey, step + 1, (step, tapped))
    word = control_word(ctx.utterance)
    if word == "stop":
        ctx.clear_state()
        return Reply().text("응답을 저장하지 않고 나왔습니다.").quick("설문목록")
    if word == "back":
        return _advance(ctx, survey, max(step - 1, 0), None)
    if step >= len(survey.questions):
        return _at_summary(ctx, survey, word, command)
    return _answer(ctx, survey, step, word, command)


def _is_stale_tap(ctx: Context, survey: Survey, step: int) -> bool:
    if "s" not in ctx.extra:
        return False
    # type() is int: a forged true must not pass as survey 1 or step 1.
    return not (_whole(ctx.extra.get("s")) == survey.id and _whole(ctx.extra.get("q")) == step)


def _whole(value: object) -> int | None:
    return value if type(value) is int else None


def _answer(
    ctx: Context, survey: Survey, step: int, word: str | None, command: Command | None
) -> Reply | None:
    question = survey.questions[step]
    if question.kind is QuestionKind.TEXT:
        return _free_text(ctx, survey, step, word)
    if word == "skip":
        return _show_step(survey, ctx.state, "이 질문은 건너뛸 수 없습니다. 보기에서 골라 주세요.")
    value = choice_answer(question, ctx.utterance)
    if value is not None:
        return _advance(ctx, survey, step + 1, (step, value))
    if _general(command, word):
        return None  # a general command such as 설문목록: the draft stays for later
    hint = "'제출'은 마지막 질문 뒤에 합니다. " if word == "submit" else ""
    # The question repeats below with how to answer it and which words work.
    return _show_step(survey, ctx.state, f"답을 이해하지 못했어요. {hint}".strip())


def _general(command: Command | None, word: str | None) -> bool:
    """A command for the router rather than the flow (취소 alone is not: it has no survey)."""
    if command is None or word is not None or command.name in FLOW_WORDS:
        return False
    return not (command.name == "cancel" and not command.arg)


def _free_text(ctx: Context, survey: Survey, step: int, word: str | None) -> Reply:
    if word == "skip":
        return _advance(ctx, survey, step + 1, (step, ""))
    text = ctx.utterance.strip()
    if not text:
        return _show_step(survey, ctx.state, "빈 답은 저장할 수 없어요.")
    if len(text) > FREE_TEXT_MAX:
        return _show_step(
            survey, ctx.state, f"답이 너무 깁니다 ({len(text)}자, {FREE_TEXT_MAX}자까지)."
        )
    return _advance(ctx, survey, step + 1, (step, text))


def _tapped_option(ctx: Context, question: Question) -> Answer | None:
    """The option a quick-reply tap names, checked like typed text: a whole number in range."""
    option = _whole(ctx.extra.get("o"))
    if option is None or not 0 <= option < len(question.options):
        return None  # no tap, or a forged one: the message text is read instead
    return [option] if question.kind is QuestionKind.MULTI else option


def choice_answer(question: Question, text: str) -> Answer | None:
    """A typed answer to a choice question, or None when it is not one."""
    indexes = parse_choices(question, text)
    if indexes is None:
        return None
    if question.kind is QuestionKind.SINGLE:
        return indexes[0] if len(indexes) == 1 else None
    return indexes


def parse_choices(question: Question, text: str) -> list[int] | None:
    """Option numbers or labels, separated by commas or spaces; None when any part is unknown."""
    labels = {normalise(option): i for i, option in enumerate(question.options)}
    whole = labels.get(normalise(text))
    if whole is not None:
        return [whole]
    chosen: set[int] = set()
    for chunk in re.split(r"[,，]", text):
        chunk = chunk.strip()
        if not chunk:
            continue
        if normalise(chunk) in labels:
            chosen.add(labels[normalise(chunk)])
            continue
        for token in chunk.split():
            if not token.isdecimal() or not 1 <= int(token) <= len(question.options):
                return None
            chosen.add(int(token) - 1)
    return sorted(chosen) or None


def _advance(ctx: Context, survey: Survey, step: int, answer: tuple[int, Answer] | None) -> Reply:
    state = dict(ctx.state)
    answers = list(state["answers"])
    if answer is not None:
        answers[answer[0]] = answer[1]
    state.update(step=step, answers=answers)
    if not ctx.save_state(state):
        # Another request (a double tap) moved the conversation on first; ours changes nothing.
        return (
            Reply()
            .text("같은 입력이 두 번 들어와 한 번만 반영했습니다.")
            .quick("계속", f"참여 {survey.id}")
        )
    return _show_step(survey, state, "")


def _at_summary(
    ctx: Context, survey: Survey, word: str | None, command: Command | None
) -> Reply | None:
    if word not in {"submit", "confirm"}:
        if _general(command, word):
            return None  # a general command; the answers wait for 제출
        return _show_step(survey, ctx.state, "'제출'을 보내면 저장됩니다.")
    filled = _filled(survey, ctx.state["answers"])
    answers = tuple(a for a in filled if a is not None)
    if len(answers) != len(survey.questions):
        # Never expected (every step is answered before the summary); never submit a gap.
        return _advance(ctx, survey, filled.index(None), None)
    outcome = ctx.store.submit_response(
        survey.id, ctx.registered, ctx.respondent(survey), answers, ctx.now
    )
    if outcome is WriteOutcome.CLOSED:
        return _closed_reply(survey)
    if outcome is WriteOutcome.MISSING:
        return no_survey(survey.id)
    ctx.state, ctx.version = {}, None  # the submit ended the session in the same statement
    note = "\n(익명으로 저장되었습니다.)" if survey.anonymous else ""
    return (
        Reply()
        .text(f"설문 {survey.id} 응답이 저장되었습니다. 마감 전까지 다시 참여하면 바뀝니다.{note}")
        .quick("내 응답 보기", f"내응답 {survey.id}")
        .quick("설문목록")
    )


def _filled(survey: Survey, answers: list[Any]) -> list[Answer | None]:
    """The draft's answers, each checked against its question; None where one does not fit."""
    drafted = list(answers) + [None] * (len(survey.questions) - len(answers))
    return [
        a if a is not None and answer_fits(q, a) else None
        for q, a in zip(survey.questions, drafted, strict=False)
    ]


def _show_step(survey: Survey, state: dict[str, Any], preface: str) -> Reply:
    step = int(state["step"])
    extra = {"s": survey.id, "q": step}
    if step >= len(survey.questions):
        text = (
            f"[응답 확인] {survey.id}. {survey.title}\n\n{answers_text(survey, state['answers'])}"
        )
        reply = Reply().text(_join(preface, text + "\n\n'제출'을 누르면 저장됩니다."))
        return reply.quick("제출", extra=extra).quick("이전").quick("그만")
    question = survey.questions[step]
    reply = Reply().text(_join(preface, _question_text(survey, step, question)))
    # Kakao shows 10 quick replies at most: 이전 and 그만 always fit, and options past that
    # are still answered by typing their number.
    room = MAX_QUICK_REPLIES - (2 if step > 0 else 1)
    for index, option in enumerate(question.options[:room]):
        reply.quick(f"{index + 1}. {option}", option, {**extra, "o": index})
    if question.kind is QuestionKind.TEXT:
        reply.quick("건너뛰기", extra=extra)
    if step > 0:
        reply.quick("이전")
    return reply.quick("그만")


def _question_text(survey: Survey, step: int, question: Question) -> str:
    kind = {"single": "하나 선택", "multi": "여러 개 선택 가능", "text": "자유 응답"}[question.kind]
    lines = [f"질문 {step + 1}/{len(survey.questions)} ({kind})", question.title]
    lines += [f"{i + 1}) {option}" for i, option in enumerate(question.options)]
    lines.append(_how_to(question))
    return "\n".join(lines)


def _how_to(question: Question) -> str:
    words = "('이전' 되돌리기 · '그만' 저장하지 않고 나가기)"
    if question.kind is QuestionKind.MULTI:
        return f"번호나 보기를 보내 주세요. 여러 개는 '1,3'처럼 보냅니다. {words}"
    if question.kind is QuestionKind.SINGLE:
        return f"번호나 보기를 하나 보내 주세요. {words}"
    return (
        f"보내는 말이 그대로 답이 됩니다 ({FREE_TEXT_MAX}자 이내). "
        "'건너뛰기' 건너뛰기 · '이전' 되돌리기 · '그만' 저장하지 않고 나가기"
    )


def _join(preface: str, text: str) -> str:
    return f"{preface}\n\n{text}" if preface else text


def _closed_reply(survey: Survey) -> Reply:
    return (
        Reply()
        .text(f"{survey.id}번 설문 {quoted(survey.title, '은/는')} 마감되었습니다.")
        .quick("내 응답 보기", f"내응답 {survey.id}")
        .quick("설문목록")
    )
