"""`surveybot serve` (real gunicorn) for tests of what only the real server shows: streams, logs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import requests

SECRET_KEY = "served-bot-secret-key-0123456789"
SKILL_SECRET = "served-bot-skill-secret"
# Production, one worker: every request reaches the same process, and its log.
BASE_ENV = {
    "SURVEYBOT_ENV": "production",
    "SECRET_KEY": SECRET_KEY,
    "SKILL_SECRET": SKILL_SECRET,
    "WORKERS": "1",
    "LOG_LEVEL": "INFO",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ServedBot:
    """One `surveybot serve` process; stdout and stderr go to `log_path`."""

    def __init__(self, env: Mapping[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        full = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "LOG_FORMAT")}
        full.update(BASE_ENV, PUBLIC_BASE_URL=self.base)
        full.update(env)
        self._log = log_path.open("w")
        command = [sys.executable, "-m", "surveybot.cli", "serve", "--port", str(self.port)]
        self.process = subprocess.Popen(
            command, env=full, stdout=self._log, stderr=subprocess.STDOUT
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited:\n{self.log()}")
            try:
                if requests.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:  # not listening yet
                pass
            time.sleep(0.2)
        raise AssertionError(f"server not ready:\n{self.log()}")

    def stop(self) -> None:
        """Stop gracefully, so every log line is written before the test reads the log."""
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self._log.close()

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")


@contextmanager
def served(env: Mapping[str, str], log_path: Path) -> Iterator[ServedBot]:
    """A ready server with BASE_ENV plus `env`; stopped (and its log complete) on exit."""
    bot = ServedBot(env, log_path)
    try:
        bot.wait_ready()
        yield bot
    finally:
        bot.stop()
