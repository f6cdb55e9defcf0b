"""`surveybot serve` (real gunicorn, a devstack Node) for tests of what only the real server shows:
streams, logs, workers."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from devstack.nodes import Node
from devstack.ports import free_port
from support.keys import KEY_ENV

SECRET_KEY = "served-bot-secret-key-0123456789"
SKILL_SECRET = "served-bot-skill-secret"
# Production, as deployed: every setting the tests do not name is the app's default.
BASE_ENV = {
    "SURVEYBOT_ENV": "production",
    "SECRET_KEY": SECRET_KEY,
    "SKILL_SECRET": SKILL_SECRET,
    "LOG_LEVEL": "INFO",
    **KEY_ENV,
}


@contextmanager
def served(
    env: Mapping[str, str], folder: Path, workers: int = 1, worker_class: str | None = None
) -> Iterator[Node]:
    """A ready node with BASE_ENV plus `env` (no app setting of this process leaks in), its files
    in `folder`; stopped, its log complete, on exit. One worker by default: every request
    reaches the same process, and its log."""
    port = free_port()
    settings = {**BASE_ENV, "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}", **env}
    with Node(folder, port, settings, workers=workers, worker_class=worker_class) as node:
        yield node
