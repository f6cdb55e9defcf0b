"""`surveybot purge`: delete the answers of surveys closed long ago (retention), with a dry run.

    surveybot purge --closed-before 2026-01-01                 lists what would be purged
    surveybot purge --closed-before 2026-01-01 --yes           deletes it
    surveybot purge --closed-before 2026-01-01 --keep-summary --yes
                                                               keeps the counts, deletes the rest

Each survey's responses, free texts and record of who took part are deleted; the survey stays,
marked purged, so the bot says so instead of showing an empty result. Every purge is in the audit
trail. Backups taken before keep the answers: purge them by the same rule.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any

from surveybot import audit
from surveybot.audit_cli import kst_day
from surveybot.domain import utcnow
from surveybot.export import format_kst
from surveybot.store.base import Store


def add_command(commands: Any, run: Callable[[argparse.Namespace], int]) -> None:
    """Register `purge` on the CLI's subparsers; `run` opens the store and calls `main`."""
    parser = commands.add_parser("purge", help="delete the answers of surveys closed long ago")
    parser.add_argument("--closed-before", required=True, type=kst_day, metavar="YYYY-MM-DD",
                        help="surveys closed before this day (KST)")  # fmt: skip
    parser.add_argument("--keep-summary", action="store_true",
                        help="keep the counts per option (결과 still shows them)")  # fmt: skip
    parser.add_argument("--yes", action="store_true", help="delete; without it, only list")
    parser.set_defaults(run=run)


def main(store: Store, args: argparse.Namespace, now: Callable[[], datetime] = utcnow) -> int:
    before: datetime = args.closed_before
    if before > now():
        print("refused: --closed-before is in the future", file=sys.stderr)
        return 2
    surveys = store.purge_candidates(before, now())
    if not surveys:
        print(f"nothing to purge: no survey closed before {before.date()} still has answers")
        return 0
    what = "counts kept" if args.keep_summary else "counts deleted too"
    for survey in surveys:
        ended = survey.closed_at or survey.deadline
        line = f"survey {survey.id} {survey.title!r} closed {format_kst(ended)}"
        if not args.yes:
            print(f"would purge {line}")
            continue
        done = store.purge_survey(survey, before, args.keep_summary, now(), audit.CLI)
        if done is None:
            print(f"skipped {line}: changed meanwhile (reopened, deleted or purged)")
        else:
            print(f"purged {line}: {done.responses} responses deleted, {what}")
    if not args.yes:
        print(f"{len(surveys)} surveys; run again with --yes to delete ({what})")
    return 0
