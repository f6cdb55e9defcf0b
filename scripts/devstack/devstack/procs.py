"""Processes: the ones devstack starts (Proc), /proc lookups, signals, commands, and waiting."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


class StackError(RuntimeError):
    """Something devstack starts could not be started, reached or stopped; the message says why."""


def _stat(pid: int | str) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ProcessLookupError):
        return None
    return stat[stat.rindex(")") + 2 :].split()


def start_time(pid: int) -> int | None:
    """The kernel's start time of a live process (guards against reused pids), None if gone."""
    fields = _stat(pid)
    if fields is None or fields[0] in ("Z", "X"):  # a zombie has finished
        return None
    return int(fields[19])


def alive(pid: int) -> bool:
    return start_time(pid) is not None


def _live() -> list[tuple[int, list[str]]]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(entry.name)
            if fields is not None and fields[0] not in ("Z", "X"):
                found.append((int(entry.name), fields))
    return found


def children(pid: int) -> list[int]:
    """Live child pids of `pid`: a gunicorn master's are its workers."""
    return sorted(child for child, fields in _live() if int(fields[1]) == pid)


def group(leader: int, since: int) -> list[int]:
    """Live members of `leader`'s process group started at `since` or later, the leader aside
    (orphaned workers of a dead master stay in its group)."""
    return sorted(
        pid
        for pid, fields in _live()
        if int(fields[2]) == leader and pid != leader and int(fields[19]) >= since
    )


def send(pid: int | None, signum: int) -> None:
    """Signal `pid`; nothing when it is None or already gone."""
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def poll(check: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Call `check` until it is true (True) or `timeout` seconds have passed (False)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def wait_for(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll `check` until it is true; StackError naming `what` after `timeout` seconds."""
    if not poll(check, timeout, interval):
        raise StackError(f"timed out after {timeout:g} s waiting for {what}")


@dataclass
class Proc:
    """A process devstack started: its pid and kernel start time (enough to find it again from
    another process, through a state file)."""

    pid: int
    start: int

    @classmethod
    def spawn(
        cls, command: Sequence[str], log: Path, env: Mapping[str, str], cwd: Path | None = None
    ) -> Proc:
        """Start `command` with stdout and stderr appended to `log`."""
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            # Own session: a Ctrl-C in the terminal or a test's process group does not reach it,
            # `scripts/stack up` can exit while it keeps running, and its pid names its group.
            child = subprocess.Popen(
                list(command), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=dict(env), cwd=cwd, start_new_session=True,
            )  # fmt: skip
        _REAPERS[child.pid] = child
        return cls(child.pid, start_time(child.pid) or 0)

    def alive(self) -> bool:
        child = _REAPERS.get(self.pid)
        if child is not None and child.poll() is not None:
            del _REAPERS[self.pid]
            return False
        return start_time(self.pid) == self.start

    def group(self) -> list[int]:
        """The other live processes of its group: workers, and orphans of a dead master."""
        if start_time(self.pid) not in (None, self.start):
            return []  # its pid now names another process, and maybe that one's group
        return group(self.pid, self.start)

    def wait_gone(self, timeout: float) -> bool:
        return poll(lambda: not self.alive(), timeout, 0.02)

    def stop(self, signum: int, timeout: float) -> None:
        """Send `signum`, then SIGKILL if it is still there after `timeout` seconds."""
        if not self.alive():
            return
        send(self.pid, signum)
        if not self.wait_gone(timeout):
            send(self.pid, signal.SIGKILL)
            self.wait_gone(5)


# Popen objects of the processes this Python process started, so finished ones are reaped.
_REAPERS: dict[int, subprocess.Popen[bytes]] = {}


def forget_children() -> None:
    """This process exits and leaves what it started running: those are not ours to reap."""
    for child in _REAPERS.values():
        child.returncode = 0  # silences Popen's "still running" warning at exit
    _REAPERS.clear()


def run(
    command: Sequence[str],
    what: str,
    timeout: float = 60,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> str:
    """Run a command to its end and return its stdout; StackError naming `what` if it fails."""
    try:
        done = subprocess.run(
            list(command), capture_output=True, text=True, timeout=timeout,
            stdin=subprocess.DEVNULL, check=True, env=env, cwd=cwd,
        )  # fmt: skip
    except subprocess.CalledProcessError as error:
        raise StackError(
            f"{what} failed ({error.returncode}):\n{error.stdout}{error.stderr}"
        ) from None
    except subprocess.TimeoutExpired:
        raise StackError(f"{what} did not finish in {timeout:g} s") from None
    return done.stdout


def tail(path: Path, size: int = 3000) -> str:
    """The end of a log file ("" when there is none)."""
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return ""
