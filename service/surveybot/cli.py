"""`surveybot`: serve, send reminders, migrate, manage admins and the roster, and chat with a
running bot."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from surveybot import audit, audit_cli, keys_cli, retention_cli
from surveybot.config import Config, ConfigError, keyring_from_config
from surveybot.crypto import CryptoError
from surveybot.domain import Role
from surveybot.roster_csv import RosterFileError, read_roster_csv, write_roster_csv
from surveybot.store import open_store
from surveybot.store.base import NotMigrated, RoleOutcome, Store, StoreUnavailable
from surveybot.store.migrate import migrate_when_reachable


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    except CryptoError as error:  # keys that do not fit the database, or data that does not open
        print(f"keys: {error}", file=sys.stderr)
        return 2
    except NotMigrated as error:
        print(f"database: {error}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="surveybot", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="command")

    serve = commands.add_parser("serve", help="run the skill server under granian (or gunicorn)")
    serve.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    serve.add_argument("--port", default=os.environ.get("PORT", "8000"))
    serve.add_argument("--workers", default=os.environ.get("WORKERS"))
    serve.add_argument("--worker-class", default=os.environ.get("GUNICORN_WORKER_CLASS"))
    serve.add_argument(
        "--server", default=os.environ.get("SURVEYBOT_SERVER") or None,
        help="granian (the default) or gunicorn, which a --worker-class (or "
        "GUNICORN_WORKER_CLASS) also chooses (docs/granian.md); env SURVEYBOT_SERVER",
    )  # fmt: skip
    serve.add_argument(
        "--no-migrate", dest="migrate", action="store_false",
        help="only check the settings and keys (the image: compose's `migrate` service migrates)",
    )  # fmt: skip
    serve.set_defaults(run=_serve)

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.add_argument(
        "--wait", type=float, metavar="SECONDS",
        help="wait this long for the database to answer (default: DB_MIGRATE_WAIT_SECONDS, 60)",
    )  # fmt: skip
    migrate.set_defaults(run=_migrate)

    admin = commands.add_parser("admin", help="grant, revoke or list admins")
    admin.add_argument("action", choices=["grant", "revoke", "list"])
    admin.add_argument("who", nargs="?", help="registered name or Kakao user key")
    admin.set_defaults(run=_admin)

    roster = commands.add_parser("roster", help="import, export or list the roster")
    roster.add_argument("action", choices=["import", "export", "list"])
    roster.add_argument("file", nargs="?", help="CSV file (UTF-8, UTF-8 with BOM or CP949)")
    roster.set_defaults(run=_roster)

    notifier = commands.add_parser("notifier", help="send queued reminders (Kakao Event API)")
    notifier.add_argument("--once", action="store_true", help="stop when nothing is left to send")
    notifier.add_argument("--metrics-port", type=int, default=None,
                          help="serve Prometheus metrics of the calls on this port")  # fmt: skip
    notifier.set_defaults(run=_notifier)

    audit_cli.add_command(commands, _on_store(audit_cli.main))
    retention_cli.add_command(commands, _on_store(retention_cli.main))
    keys_cli.add_command(commands, _keys)

    chat = commands.add_parser("chat", help="talk to a running bot as a Kakao user would")
    chat.add_argument("--url", default="http://127.0.0.1:8000/skill")
    chat.add_argument("--user", default="terminal-user")
    chat.set_defaults(run=_chat)
    return parser


def _store(config: Config, *, keys: bool = True) -> Store:
    """A store for one command. `keys`: it reads or writes personal data, so it opens the store
    with the keyring and checks the keys against the database first (KeyProblem if they do not
    fit); `migrate` alone needs no keys."""
    if not keys:
        return open_store(config.database_url, config.sqlite_path, pool_min=0, pool_max=1)
    store = open_store(
        config.database_url, config.sqlite_path, pool_min=0, pool_max=1,
        keyring=keyring_from_config(config, maintenance=True),
    )  # fmt: skip
    try:
        store.check_keys()
    except BaseException:
        store.close()
        raise
    return store


def _keys(args: argparse.Namespace) -> int:
    config = Config.from_env(serving=False)
    if args.action == "generate":
        return keys_cli.generate(args, config.data_keys)
    if keyring_from_config(config, maintenance=True) is None:
        print(
            "keys: encryption is off (ENCRYPTION_DISABLED=true); nothing is sealed", file=sys.stderr
        )
        return 2
    store = _store(config)
    try:
        return keys_cli.main(store, args)
    finally:
        store.close()


def _serve(args: argparse.Namespace) -> int:
    # A worker class is gunicorn's: asking for one without naming a server keeps the gunicorn
    # an existing .env (GUNICORN_WORKER_CLASS=gevent) was written for.
    server = str(args.server or ("gunicorn" if args.worker_class else SERVERS[0])).strip().lower()
    if server not in SERVERS:
        print(f"serve: --server is one of {', '.join(SERVERS)}, not {server!r}", file=sys.stderr)
        return 2
    if server == "granian" and args.worker_class:
        print(
            f"serve: a worker class ({args.worker_class}) is gunicorn's; use --server gunicorn "
            "or unset GUNICORN_WORKER_CLASS",
            file=sys.stderr,
        )
        return 2
    config = Config.from_env()  # fail here, loudly, rather than in every worker
    store = open_store(
        config.database_url, config.sqlite_path, pool_min=0, pool_max=1,
        keyring=keyring_from_config(config),
    )  # fmt: skip
    wait = config.db_migrate_wait_seconds
    try:
        if args.migrate:
            migrate_when_reachable(store.migrate, wait)
        else:  # the database may still be starting: wait for it as migrate would
            migrate_when_reachable(lambda: _pinged(store), wait)
        store.check_keys()  # keys that cannot open this database stop the start, named
    except StoreUnavailable as error:
        print(f"serve: the database did not answer within {wait:g} s ({error})", file=sys.stderr)
        return 1
    except CryptoError as error:
        print(f"serve: refusing to start: {error}", file=sys.stderr)
        return 1
    finally:
        store.close()
    os.environ.update(HOST=args.host, PORT=str(args.port))
    if args.workers:
        os.environ["WORKERS"] = str(args.workers)
    if server == "granian":
        os.execv(sys.executable, [sys.executable, "-m", "surveybot.granian_serve"])
    if args.worker_class:
        os.environ["GUNICORN_WORKER_CLASS"] = args.worker_class
    gunicorn = [sys.executable, "-m", "gunicorn", "-c", "python:surveybot.gunicorn_conf"]
    os.execv(sys.executable, [*gunicorn, "surveybot.app:get_app()"])


SERVERS = ("granian", "gunicorn")


def _pinged(store: Store) -> list[str]:
    """The database answers (StoreUnavailable if not); no migration applied."""
    store.ping()
    return []


def _migrate(args: argparse.Namespace) -> int:
    # The pool's and the store's warnings while the database is away would bury the one line
    # this command ends with. Restored after: tests (and callers) run main() in their process.
    logging.disable(logging.WARNING)
    config = Config.from_env(serving=False)
    wait = config.db_migrate_wait_seconds if args.wait is None else args.wait
    store = _store(config, keys=False)
    try:
        applied = migrate_when_reachable(store.migrate, wait)
    except StoreUnavailable as error:
        # One line an operator (or compose's log) can act on; no traceback.
        reason = " ".join(str(error).split())[:200]
        print(
            f"migrate: the database did not answer within {wait:g} s, nothing applied ({reason})",
            file=sys.stderr,
        )
        return 1
    finally:
        store.close()
        logging.disable(logging.NOTSET)
    print(f"applied: {', '.join(applied)}" if applied else "the schema is up to date")
    return 0


def _admin(args: argparse.Namespace) -> int:
    store = _store(Config.from_env(serving=False))
    try:
        if args.action == "list":
            for user in store.list_admins():
                print(f"{user.name}\t{user.member_no or '-'}\t{user.user_key}")
            return 0
        if not args.who:
            print("name the person: surveybot admin grant <name or user key>", file=sys.stderr)
            return 2
        return _change_role(store, args.who, Role.ADMIN if args.action == "grant" else Role.MEMBER)
    finally:
        store.close()


def _change_role(store: Store, who: str, role: Role) -> int:
    people = store.find_users(who)
    if len(people) != 1:
        problem = "nobody registered as" if not people else "several people match"
        print(f"{problem} {who!r}; use the Kakao user key (surveybot admin list)", file=sys.stderr)
        return 1
    outcome = store.set_role(people[0].id, role.value, audit.CLI)
    if outcome is RoleOutcome.LAST_ADMIN:
        print("refused: that is the last admin", file=sys.stderr)
        return 1
    print(f"{people[0].name}: {role.value} ({outcome.value})")
    return 0


def _roster(args: argparse.Namespace) -> int:
    store = _store(Config.from_env(serving=False))
    try:
        if args.action == "import":
            if not args.file:
                print("name the CSV file: surveybot roster import roster.csv", file=sys.stderr)
                return 2
            try:
                entries = read_roster_csv(Path(args.file).read_bytes())
            except RosterFileError as error:
                print(f"roster not imported: {error}", file=sys.stderr)
                return 1
            result = store.import_roster(entries, audit.CLI)
            print(f"roster: {result.added} added, {result.updated} updated")
            return 0
        rows = store.list_roster()
        if args.action == "export":
            data = write_roster_csv(rows)
            if args.file:
                Path(args.file).write_bytes(data)
            else:
                sys.stdout.buffer.write(data)
            return 0
        for entry, user_key in rows:
            registered = "registered" if user_key else "-"
            print(
                f"{entry.name}\t{entry.member_no or '-'}\t{entry.department or '-'}\t{registered}"
            )
        return 0
    finally:
        store.close()


def _on_store(
    command: Callable[[Store, argparse.Namespace], int],
) -> Callable[[argparse.Namespace], int]:
    """Run `command` on a store opened for it (no server secrets needed) and closed after."""

    def run(args: argparse.Namespace) -> int:
        store = _store(Config.from_env(serving=False))
        try:
            return command(store, args)
        finally:
            store.close()

    return run


def _notifier(args: argparse.Namespace) -> int:
    from surveybot.reminders.process import run_notifier

    # serving=False: it never answers Kakao's skill calls, so it needs no SKILL_SECRET.
    config = Config.from_env(serving=False)
    return run_notifier(config, once=args.once, metrics_port=args.metrics_port)


def _chat(args: argparse.Namespace) -> int:
    from surveybot.simulator import run_chat

    secret = os.environ.get("SKILL_SECRET") or None
    header = os.environ.get("SKILL_SECRET_HEADER") or "X-Skill-Secret"
    return run_chat(args.url, args.user, secret=secret, secret_header=header)


if __name__ == "__main__":
    raise SystemExit(main())
