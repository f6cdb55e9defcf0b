"""The programs devstack runs: finding nginx and PostgreSQL's binaries, and running as `postgres`."""

from __future__ import annotations

import os
import pwd
import shutil
from collections.abc import Sequence
from pathlib import Path

from devstack.procs import StackError

PG_BIN_DIRS = ("/usr/lib/postgresql/15/bin",)  # Debian's postgresql-15 keeps them off PATH
SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin")  # nginx, for a user whose PATH lacks them


def find_binary(name: str, extra_dirs: Sequence[str] = ()) -> str | None:
    """The path of program `name` on PATH, in `extra_dirs` or in the sbin folders; None if none."""
    found = shutil.which(name)
    if found:
        return found
    for folder in (*extra_dirs, *SBIN_DIRS):
        candidate = Path(folder) / name
        if candidate.is_file():
            return str(candidate)
    return None


def binary(name: str, extra_dirs: Sequence[str] = ()) -> str:
    """Like find_binary, but a StackError naming where it looked when `name` is missing."""
    found = find_binary(name, extra_dirs)
    if found is None:
        raise StackError(f"{name!r} not found on PATH or in {(*extra_dirs, *SBIN_DIRS)}")
    return found


def pg_binary(name: str) -> str:
    return binary(name, PG_BIN_DIRS)


def as_postgres() -> list[str]:
    """Command prefix that drops root to the postgres user (initdb refuses to run as root)."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise StackError(
            "running as root without a `postgres` user: useradd --system postgres"
        ) from None
    return ["runuser", "-u", "postgres", "--"]


def chown_to_postgres(path: Path) -> None:
    """As root, give `path` to the postgres user, who runs the server; otherwise nothing."""
    if os.geteuid() == 0:
        shutil.chown(path, "postgres", "postgres")
