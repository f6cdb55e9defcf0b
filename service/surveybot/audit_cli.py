"""`surveybot audit`: read and check the audit trail from the server.

    surveybot audit                      the last 50 records, oldest first
    surveybot audit --since 2026-12-01   every record from that day (KST) on
    surveybot audit --csv                the same as CSV (UTF-8 with BOM, opens in Excel)
    surveybot audit --verify             recompute the hash chain; exit 1 when it is broken
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections.abc import Callable
from datetime import date, datetime, time
from typing import Any

from surveybot.audit import AuditRecord
from surveybot.domain import KST
from surveybot.export import format_kst, guard_cell
from surveybot.store.base import Store

RECENT = 50
HEADER = ["seq", "at (KST)", "via", "actor id", "actor", "action", "target", "target id",
          "target name", "detail", "hash"]  # fmt: skip


def add_command(commands: Any, run: Callable[[argparse.Namespace], int]) -> None:
    """Register `audit` on the CLI's subparsers; `run` opens the store and calls `main`."""
    parser = commands.add_parser("audit", help="show, export or verify the audit trail")
    parser.add_argument("--since", type=kst_day, help="from this day on (YYYY-MM-DD, KST)")
    parser.add_argument("--csv", action="store_true", help="write CSV to standard output")
    parser.add_argument("--verify", action="store_true", help="check the hash chain")
    parser.set_defaults(run=run)


def main(store: Store, args: argparse.Namespace) -> int:
    if args.verify:
        return _verify(store)
    if args.since is not None:
        records = store.audit_since(args.since)
    else:
        records = list(reversed(store.audit_page(limit=RECENT)))
    if args.csv:
        sys.stdout.buffer.write(to_csv(records))
        return 0
    for record in records:
        print("\t".join(_cells(record)[:10]))
    if not records:
        print("no audit records" + (" since then" if args.since else ""), file=sys.stderr)
    return 0


def to_csv(records: list[AuditRecord]) -> bytes:
    """The records as CSV; names and titles are user-written, so every cell is guarded."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for record in records:
        writer.writerow([guard_cell(cell) for cell in _cells(record)])
    return b"\xef\xbb\xbf" + out.getvalue().encode()


def _verify(store: Store) -> int:
    result = store.verify_audit()
    if result.intact:
        print(f"audit trail intact: {result.rows} records, head {result.head_seq} "
              f"{result.head_hash}")  # fmt: skip
        return 0
    print(f"audit trail BROKEN at record {result.broken_at}: {result.reason} "
          f"({result.rows} records read, head {result.head_seq})", file=sys.stderr)  # fmt: skip
    return 1


def _cells(record: AuditRecord) -> list[str]:
    event, actor = record.event, record.actor
    return [
        str(record.seq),
        format_kst(record.at),
        actor.via.value,
        "" if actor.user_id is None else str(actor.user_id),
        record.actor_name or "",
        event.action.value,
        event.target.value,
        "" if event.target_id is None else str(event.target_id),
        record.target_label or "",
        event.detail,
        record.hash,
    ]


def kst_day(text: str) -> datetime:
    """A command-line day (YYYY-MM-DD) as the start of that day in Korea."""
    try:
        return datetime.combine(date.fromisoformat(text), time(), KST)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a day (YYYY-MM-DD): {text!r}") from None
