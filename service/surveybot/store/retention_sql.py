"""Retention on SQL (migration 0006): purge the responses of long-closed surveys, mixed into SqlStore.

Each survey is purged in its own transaction with its audit row: the survey is locked and checked
again (still closed before the date, not purged), its counts are kept in tallies' slot -1 when
asked, then its responses, its participation and whom its reminders went to go, and the survey is
marked. A crash leaves every
survey either purged completely or untouched, and running the purge again finishes the rest.
"""

from __future__ import annotations

from datetime import datetime

from surveybot import audit
from surveybot.audit import Action, Actor, Event, Target
from surveybot.domain import Survey
from surveybot.store.audit_sql import append
from surveybot.store.base import Purged
from surveybot.store.dialect import Dialect, Params
from surveybot.store.queries import OPEN
from surveybot.store.rows import SURVEY_COLUMNS, survey_from_row

_DUE = f"""
s.purged_at IS NULL AND NOT ({OPEN}) AND coalesce(s.closed_at, s.deadline_at) < :before
"""
CANDIDATES = f"SELECT {SURVEY_COLUMNS} FROM surveys s WHERE {_DUE} ORDER BY s.id"
STILL_DUE = {
    "postgres": f"SELECT s.id FROM surveys s WHERE s.id = :survey_id AND {_DUE} FOR UPDATE",
    "sqlite": f"SELECT s.id FROM surveys s WHERE s.id = :survey_id AND {_DUE}",
}
COUNT = "SELECT count(*) FROM responses WHERE survey_id = :survey_id"
KEEP_SUMMARY = """
INSERT INTO tallies (survey_id, question, choice, slot, n)
SELECT survey_id, question, choice, -1, sum(n) FROM tallies
WHERE survey_id = :survey_id AND slot <> -1
GROUP BY survey_id, question, choice
ON CONFLICT (survey_id, question, choice, slot) DO UPDATE SET n = tallies.n + excluded.n
"""
DELETE_RESPONSES = "DELETE FROM responses WHERE survey_id = :survey_id"
# Who took part, and who was reminded (which says who had not answered then).
_REMINDED = (
    "DELETE FROM reminder_outbox"
    " WHERE reminder_id IN (SELECT id FROM reminders WHERE survey_id = :survey_id)"
)
DELETE_PARTICIPATION = {
    "postgres": [
        "DELETE FROM participants WHERE survey_id = :survey_id",
        "DELETE FROM anonymous_participation WHERE survey_id = :survey_id",
        _REMINDED,
    ],
    "sqlite": ["DELETE FROM participants WHERE survey_id = :survey_id", _REMINDED],
}
DROP_COUNTS = "DELETE FROM tallies WHERE survey_id = :survey_id"
MARK = """
UPDATE surveys
   SET purged_at = :now, summary_kept = :keep, closed_at = coalesce(closed_at, deadline_at)
 WHERE id = :survey_id
"""


class RetentionStore:
    """`surveybot purge`; SqlStore provides `_d`."""

    _d: Dialect

    def purge_candidates(self, before: datetime, now: datetime) -> list[Survey]:
        """Surveys closed before `before` whose responses are still kept."""
        params = {"before": self._d.time(before), "now": self._d.time(now)}
        with self._d.statement() as tx:
            rows = tx.all(CANDIDATES, params)
        return [survey_from_row(row, self._d.read_time, self._d.read_json) for row in rows]

    def purge_survey(
        self,
        survey: Survey,
        before: datetime,
        keep_summary: bool,
        now: datetime,
        actor: Actor = audit.SYSTEM,
    ) -> Purged | None:
        """Purge one candidate; None when it no longer is one (reopened, purged, deleted)."""
        params: Params = {
            "survey_id": survey.id,
            "before": self._d.time(before),
            "now": self._d.time(now),
            "keep": keep_summary,
        }
        with self._d.transaction(write=True) as tx:
            if tx.one(STILL_DUE[self._d.name], params) is None:
                return None
            responses = int(tx.one(COUNT, params)[0])
            if keep_summary:
                tx.run(KEEP_SUMMARY, params)
            tx.run(DELETE_RESPONSES, params)
            for statement in DELETE_PARTICIPATION[self._d.name]:
                tx.run(statement, params)
            if not keep_summary:
                tx.run(DROP_COUNTS, params)
            tx.run(MARK, params)
            kept = "kept" if keep_summary else "dropped"
            event = Event(Action.PURGE, Target.SURVEY, survey.id, f"responses={responses} "
                          f"summary={kept}")  # fmt: skip
            append(self._d, tx, actor, event, now)
        return Purged(survey, responses)
