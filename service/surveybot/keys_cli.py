"""`surveybot keys`: make keys, seal or reseal the whole database online, and verify it (issue 13).

    surveybot keys generate            prints a new DATA_KEYS and INDEX_KEY (put them in .env)
    surveybot keys generate --rotate   a new first key in front of the DATA_KEYS set now
    surveybot keys rotate              seals every row under the first key of DATA_KEYS:
                                       plaintext rows (a database from before encryption) and
                                       rows under older keys; then verifies and retires the rest
    surveybot keys verify              opens every sealed value; says what is left to seal

`rotate` works in batches of --batch rows, a short transaction each, while the bot serves, and
shows its progress; stopped anywhere, it is run again and skips what is done. Every node must
have the new key in DATA_KEYS (anywhere in the list) before any node seals with it (first).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import date
from typing import Any

from surveybot import audit
from surveybot.audit import Action, Event, Target
from surveybot.crypto import (
    KEY_BYTES,
    format_data_keys,
    new_key,
    parse_data_keys,
)
from surveybot.domain import utcnow
from surveybot.store.base import Store
from surveybot.store.keys_sql import TABLES, Batch


def add_command(commands: Any, run: Callable[[argparse.Namespace], int]) -> None:
    """Register `keys` on the CLI's subparsers; `run` opens the store when the action needs it."""
    parser = commands.add_parser("keys", help="make keys, (re)seal the data, verify it")
    parser.add_argument("action", choices=["generate", "rotate", "verify"])
    parser.add_argument("--rotate", action="store_true",
                        help="generate: a new first key before those in DATA_KEYS")  # fmt: skip
    parser.add_argument("--batch", type=int, default=500, help="rows per transaction (rotate)")
    parser.add_argument("--pause", type=float, default=0.0,
                        help="seconds to wait between batches, to leave the database to the bot")  # fmt: skip
    parser.set_defaults(run=run)


def generate(args: argparse.Namespace, current: str | None) -> int:
    """Print keys as lines for .env; never touches the database."""
    existing = parse_data_keys(current) if args.rotate and current else ()
    if args.rotate and not existing:
        print("generate --rotate: DATA_KEYS is not set; run without --rotate", file=sys.stderr)
        return 2
    taken = {key_id for key_id, _ in existing}
    key_id = base = f"k{date.today():%Y%m%d}"
    suffix = 1
    while key_id in taken:
        suffix += 1
        key_id = f"{base}_{suffix}"
    import base64
    import secrets

    fresh = (key_id, secrets.token_bytes(KEY_BYTES))
    print(f"DATA_KEYS={format_data_keys([fresh, *existing])}")
    if not args.rotate:
        print(f"INDEX_KEY={base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()}")
    print(
        "# Back these up apart from the database: without them the data cannot be read.",
        file=sys.stderr,
    )
    return 0


def main(store: Store, args: argparse.Namespace) -> int:
    store.check_keys()
    if args.action == "verify":
        return verify(store)
    if not 1 <= args.batch <= 10_000:
        print("--batch must be between 1 and 10000", file=sys.stderr)
        return 2
    totals = {table: _walk(store, table, args.batch, args.pause, False) for table in TABLES}
    resealed = sum(batch.resealed for batch in totals.values())
    print(f"resealed {resealed} rows; verifying")
    if verify(store) != 0:
        return 1
    store.retire_other_keys()
    detail = f"resealed={resealed}"
    store.record_audit(audit.CLI, Event(Action.KEYS_ROTATE, Target.KEYS, None, detail), utcnow())
    print("done: every sealed value opens with the first key of DATA_KEYS; the others may go")
    return 0


def verify(store: Store) -> int:
    problems = 0
    for table in TABLES:
        total = _walk(store, table, 1000, 0.0, True)
        print(f"{table}: {total.scanned} rows, {total.due} to seal, {len(total.broken)} broken")
        for line in total.broken[:10]:
            print(f"  {line}", file=sys.stderr)
        problems += total.due + len(total.broken)
    if problems:
        print(f"verify: {problems} rows are not sealed under the first key, or do not open")
        return 1
    return 0


def _walk(store: Store, table: str, limit: int, pause: float, verify_only: bool) -> Batch:
    """Every batch of one table; progress on stderr, the sum returned."""
    total = Batch(after=None)
    after: Any = None
    while True:
        batch = store.reseal(table, after, limit, verify_only)
        total.scanned += batch.scanned
        total.resealed += batch.resealed
        total.skipped += batch.skipped
        total.due += batch.due
        total.broken.extend(batch.broken)
        if not verify_only:
            print(f"\r{table}: {total.scanned} rows read, {total.resealed} resealed",
                  end="", file=sys.stderr, flush=True)  # fmt: skip
        if batch.after is None:
            break
        after = batch.after
        if pause:
            time.sleep(pause)
    if not verify_only:
        print(file=sys.stderr)
    return total


__all__ = ["add_command", "generate", "main", "new_key"]
