"""Running the load tools from the tests: the seed and other commands, from the project root."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SEED = [sys.executable, "-m", "loadtest.seed"]  # from ROOT, as run_tool does
SECRET_KEY = "load-smoke-secret-key-0123456789"  # the bot's, for anonymous respondents


def run_tool(
    command: list[str], timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env, check=False
    )


def run_seed(
    target: list[str], *options: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """seed.py, plaintext unless `env` or `options` give it keys (never this process's)."""
    base = {k: v for k, v in os.environ.items() if k not in ("DATA_KEYS", "INDEX_KEY")}
    return run_tool([*SEED, *target, *options], env={**base, **(env or {})})
