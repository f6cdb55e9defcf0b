"""Seeded Kakao user keys handed to simulated people (loadtest/locustfile.py), each to one at a time,
also across locust processes."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable

from locust.env import Environment
from locust.runners import WorkerRunner


class KeyPool:
    """Seeded Kakao user keys, each held by at most one simulated person at a time.

    With `--processes N` each locust process takes every N-th key (by its worker index), so two
    processes never hand out the same key.
    """

    def __init__(self, make_key: Callable[[int], str], size: int) -> None:
        self._make_key = make_key
        self._size = size
        self._free: deque[str] | None = None
        self._returned: set[str] = set()

    def take(self, environment: Environment) -> str | None:
        if self._free is None:
            stride, offset = _partition(environment)
            numbers = range(1 + offset, self._size + 1, stride)
            self._free = deque(self._make_key(n) for n in numbers)
        return self._free.popleft() if self._free else None

    def give(self, key: str) -> None:
        if self._free is not None:
            self._free.append(key)
            self._returned.add(key)

    def returned(self, key: str) -> bool:
        """Was `key` used by a simulated person before (who may have stopped mid-conversation)?"""
        return key in self._returned


def _partition(environment: Environment) -> tuple[int, int]:
    runner = environment.runner
    processes = getattr(environment.parsed_options, "processes", None) or 1
    if isinstance(runner, WorkerRunner):
        stride = max(int(os.environ.get("LOAD_WORKERS", processes)), 1)
        return stride, runner.worker_index % stride
    return 1, 0
