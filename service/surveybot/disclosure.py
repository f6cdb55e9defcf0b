"""What an anonymous survey may show, the one rule the chat, the page, the chart and files share."""

from __future__ import annotations

from datetime import datetime

from surveybot.domain import ANONYMOUS_RESULTS_MIN, Survey


def results_hidden(survey: Survey, respondents: int, now: datetime) -> bool:
    """Whether what people chose must stay hidden: an anonymous survey still open, or too few.

    While answers can still arrive, two views of the results a moment apart would show what the
    one person who answered in between chose; with one or two answers, the totals are theirs.
    """
    if not survey.anonymous:
        return False
    return survey.is_open(now) or respondents < ANONYMOUS_RESULTS_MIN
