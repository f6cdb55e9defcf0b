"""Replies several handlers share, and `survey_from`, the opening most survey commands have."""

from __future__ import annotations

from surveybot.conversation.commands import ALIASES, Command
from surveybot.conversation.context import Context
from surveybot.domain import Answer, Question, QuestionKind, Survey
from surveybot.kakao.reply import Reply

# The Korean word people type for each command: the first alias written for it.
VERBS: dict[str, str] = {}
for _word, _name in ALIASES.items():
    VERBS.setdefault(_name, _word)


class Refused(Exception):
    """A handler cannot go on; the router sends `reply` instead. Raised before any write."""

    def __init__(self, reply: Reply) -> None:
        super().__init__("refused")
        self.reply = reply


def number_from(command: Command) -> int:
    """The survey number the command names, or Refused with an example of how to send it."""
    number = command.number
    if number is None:
        raise Refused(missing_number(VERBS.get(command.name, command.name)))
    return number


def survey_from(ctx: Context, command: Command) -> Survey:
    """The survey the command names, or Refused saying the number is missing or unknown."""
    number = number_from(command)
    survey = ctx.survey(number)
    if survey is None:
        raise Refused(no_survey(number))
    return survey


def missing_number(verb: str) -> Reply:
    return Reply().text(f"설문 번호를 함께 보내 주세요. 예: '{verb} 3'").quick("설문목록")


def no_survey(number: int) -> Reply:
    return Reply().text(f"{number}번 설문이 없습니다.").quick("설문목록")


def answers_text(survey: Survey, answers: tuple[Answer, ...] | list[Answer]) -> str:
    """Each question with the answer given, as the person sees it before and after 제출."""
    lines = []
    for index, question in enumerate(survey.questions):
        value = answers[index] if index < len(answers) else ""
        lines.append(f"Q{index + 1}. {question.title}\n→ {answer_label(question, value)}")
    return "\n".join(lines)


def answer_label(question: Question, value: Answer) -> str:
    """An answer as people read it; out-of-range indexes (never expected) show as '-'."""
    if question.kind is QuestionKind.TEXT:
        return str(value) if value else "(건너뜀)"
    indexes = value if isinstance(value, list) else [value]
    labels = [
        question.options[i]
        for i in indexes
        if isinstance(i, int) and 0 <= i < len(question.options)
    ]
    return ", ".join(labels) or "-"
