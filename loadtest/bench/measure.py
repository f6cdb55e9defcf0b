"""scripts/bench's measuring tools: CPU of process trees, the load generators, seeding, the machine.

Every generator runs as a child process in its own session; its CPU seconds come from wait4()'s
rusage (itself and the children it waited for), the servers' from /proc/<pid>/stat of each tree
(utime + stime + cutime + cstime of every live process, so a backend that exited during the window
still counts through its parent), sampled before and after the window. CPU share = CPU seconds /
(window x cores); "other" is the rest of the machine's busy time (/proc/stat) in the same window.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.settings import without_app_settings

ROOT = Path(__file__).resolve().parents[2]
APP_PY = ROOT / ".venv" / "bin" / "python"
LOAD_BIN = ROOT / ".venv-load" / "bin"
LOAD_PY = LOAD_BIN / "python"
CLK = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1
COMPONENTS = ("generator", "nginx", "app", "postgres")
# Settings of the load tools that must not leak from the caller into a measurement (nor may the
# app's, devstack.settings: the generators read SKILL_SECRET and its header name).
SCRUB = ("LOAD_SHAPE", "LOAD_DURATION", "LOAD_USERS")


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in without_app_settings().items()
        if k not in SCRUB and not k.startswith("WRK_")
    }
    env.update(extra or {})
    return env


# --- CPU ------------------------------------------------------------------------------------------
def _proc_table() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds of it and of its reaped children)."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        table[int(entry.name)] = (int(fields[1]), sum(int(x) for x in fields[11:15]) / CLK)
    return table


def tree_cpu(roots: list[int], table: dict[int, tuple[int, float]]) -> float:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    seen: set[int] = set()
    todo = [pid for pid in roots if pid in table]
    while todo:
        pid = todo.pop()
        if pid not in seen:
            seen.add(pid)
            todo.extend(children.get(pid, ()))
    return sum(table[pid][1] for pid in seen)


def machine_busy() -> float:
    """CPU seconds the whole machine was busy since boot (all cores)."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = values
    return (user + nice + system + irq + softirq + steal) / CLK


Roots = Callable[[], dict[str, list[int]]]


@dataclass
class Window:
    """CPU seconds of each server component (and of the machine) over one measurement."""

    roots: Roots
    start: dict[str, float] = field(default_factory=dict)
    began: float = 0.0
    busy: float = 0.0

    def __enter__(self) -> Window:
        self.restart()
        return self

    def restart(self) -> None:
        table = _proc_table()
        self.start = {name: tree_cpu(pids, table) for name, pids in self.roots().items()}
        self.busy = machine_busy()
        self.began = time.monotonic()

    def __exit__(self, *_: object) -> None:
        global WATCH
        WATCH = None

    def from_first_request(self, started: Callable[[], bool]) -> Window:
        """Start the window again when `started()` (the first request reached nginx): a
        generator's own start-up (locust imports for seconds) stays out of every figure."""
        global WATCH
        WATCH = (started, self)
        return self

    def shares(self, generator_cpu: float) -> dict[str, Any]:
        """Percent of the machine (window x cores) per component, and CPU seconds."""
        wall = time.monotonic() - self.began
        table = _proc_table()
        seconds = {
            name: max(tree_cpu(pids, table) - self.start.get(name, 0.0), 0.0)
            for name, pids in self.roots().items()
        }
        seconds["generator"] = generator_cpu
        seconds["other"] = max(machine_busy() - self.busy - sum(seconds.values()), 0.0)
        capacity = max(wall, 1e-6) * CORES
        return {
            "window_s": round(wall, 2),
            "cpu_s": {k: round(v, 2) for k, v in seconds.items()},
            "cpu_pct": {k: round(100 * v / capacity, 1) for k, v in seconds.items()},
        }


# The window a running generator restarts when its load begins (see Window.from_first_request).
WATCH: tuple[Callable[[], bool], Window] | None = None


# --- child processes ------------------------------------------------------------------------------
@dataclass
class Finished:
    returncode: int
    cpu_s: float
    wall_s: float
    output: str


def run_generator(argv: list[str], env: Mapping[str, str], timeout: float, log: Path) -> Finished:
    """Run a load generator to its end (killed after `timeout`); its CPU from wait4()."""
    log.parent.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    with log.open("w+b") as out:
        child = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env),
            cwd=ROOT,
            start_new_session=True,
        )
        status, usage, before_load = _wait(child, began + timeout)
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode(errors="replace")
    cpu = usage.ru_utime + usage.ru_stime - before_load
    return Finished(child.returncode, max(cpu, 0.0), time.monotonic() - began, text)


def _wait(child: subprocess.Popen[bytes], deadline: float) -> tuple[int, Any, float]:
    """Its exit status, rusage, and the CPU seconds it had used when its load began."""
    killed = 0
    watch, before_load = WATCH, 0.0
    try:
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                return status, usage, before_load
            if watch is not None and watch[0]():
                before_load = tree_cpu([child.pid], _proc_table())
                watch[1].restart()
                watch = None
            if time.monotonic() > deadline and killed < 2:
                say(f"{Path(str(child.args[0])).name} overran its time; stopping it")
                _kill_group(child.pid, signal.SIGTERM if not killed else signal.SIGKILL)
                killed += 1
                deadline = time.monotonic() + 10
            time.sleep(0.05)
    except BaseException:
        _kill_group(child.pid, signal.SIGKILL)
        os.wait4(child.pid, 0)
        child.returncode = -9
        raise


def _kill_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        pass


def run_quiet(
    argv: list[str], what: str, timeout: float = 600, env: Mapping[str, str] | None = None
) -> str:
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{what} failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
        )
    return done.stdout


# --- nginx's access log: what Kakao would have seen -----------------------------------------------
class AccessLog:
    """Counts, in the stack's JSON access log, replies that were not the upstream's own success:
    nginx answers a failed upstream with a 200 apology, which wrk and openloop count as success."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.mark()

    def mark(self) -> None:
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def grew(self) -> bool:
        """Has anything been logged since the mark?"""
        return self.path.exists() and self.path.stat().st_size > self.offset

    def failures(self) -> tuple[int, int]:
        """(requests logged, failed ones) since the last mark."""
        if not self.path.exists():
            return 0, 0
        with self.path.open("rb") as log:
            log.seek(self.offset)
            data = log.read()
        seen = failed = 0
        for line in data.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            seen += 1
            upstream = str(entry.get("upstream_status", "")).split(",")[-1].strip()
            status = int(entry.get("status", 0))
            # 499: the generator hung up at the end of its window, not a failure of the server.
            if (status >= 400 and status != 499) or upstream.startswith("5"):
                failed += 1
        return seen, failed


# --- seeding and the machine ----------------------------------------------------------------------
def seed(
    target: list[str],
    log: Path,
    members: int = 1000,
    answers: int = 0,
    keys: Mapping[str, str] | None = None,
) -> float:
    """loadtest/seed.py --reset into `target` (--database-url URL or --sqlite PATH); seconds.

    `keys` (DATA_KEYS, INDEX_KEY): sealed as a node with them seals; none: plaintext. Given in
    its environment, which has none of the app's settings of this process's (nor keys on the
    command line, where `ps` shows them)."""
    began = time.monotonic()
    argv = [
        str(APP_PY),
        "-m",
        "loadtest.seed",
        *target,
        "--reset",
        "--members",
        str(members),
        "--answers",
        str(answers),
    ]
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**without_app_settings(), **(keys or {})}
    # Sealing adds ~25 s a million answers to ~50 (docs/benchmarks.md); 10M took 511 s plaintext.
    timeout = 900 + answers / 10_000
    log.write_text(run_quiet(argv, "seed", timeout=timeout, env=env))
    return time.monotonic() - began


def post_json(url: str, body: bytes, timeout: float = 30) -> dict[str, Any]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 (loopback)
        result: dict[str, Any] = json.loads(answer.read())
        return result


def memory_kb(pid: int, key: str = "VmHWM") -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def _first_line(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    text = (done.stdout + done.stderr).strip()
    return text.splitlines()[0] if text else "unknown"


VERSIONS = """import importlib.metadata as metadata
for name in NAMES:
    try:
        print(name, metadata.version(name))
    except metadata.PackageNotFoundError:
        print(name, "-")
"""
APP_PACKAGES = ("gunicorn", "falcon", "psycopg", "psycopg-pool", "gevent", "meinheld", "greenlet")
LOAD_PACKAGES = ("locust", "flask", "openpyxl", "matplotlib")


def _packages(python: Path, names: tuple[str, ...]) -> list[str]:
    code = VERSIONS.replace("NAMES", repr(names))
    return run_quiet([str(python), "-c", code], "package versions").splitlines()


def _tool(name: str, *argv: str) -> str:
    found = shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin", name), Path("/usr/local/sbin", name)) if p.exists()),
        None,
    )
    return _first_line([found, *argv]) if found else f"{name}: not installed"


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    mem = re.search(r"^MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text(), re.MULTILINE)
    postgres = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    return {
        "nproc": CORES,
        "cpu_model": model[1] if model else platform.processor(),
        "memory_gib": round(int(mem[1]) / 1024 / 1024, 1) if mem else None,
        "kernel": platform.release(),
        "os": _first_line(["sh", "-c", ". /etc/os-release; echo $PRETTY_NAME"]),
        "python": _first_line([str(APP_PY), "--version"]),
        "packages": _packages(APP_PY, APP_PACKAGES) + _packages(LOAD_PY, LOAD_PACKAGES),
        "nginx": _tool("nginx", "-v"),
        "postgres": _first_line([str(postgres[-1]), "--version"])
        if postgres
        else "postgres: not installed",
        "wrk": _tool("wrk", "-v"),
        "go": _tool("go", "version"),
        "commit": _commit(),
    }


def _commit() -> str:
    """The code measured: HEAD, and whether the app or the stack had uncommitted changes."""
    head = _first_line(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = _first_line(
        [
            "git",
            "-C",
            str(ROOT),
            "status",
            "--porcelain",
            "service",
            "nginx",
            "scripts/devstack",
        ]
    )
    return head + (
        " with uncommitted changes in service/, nginx/ or the stack" if dirty != "unknown" else ""
    )
