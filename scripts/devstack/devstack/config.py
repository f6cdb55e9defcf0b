"""What a stack is asked for (StackConfig) and the loopback ports it gets (Ports)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from devstack.paths import TUNED_PG_CONF, existing
from devstack.ports import free_ports, port_free
from devstack.procs import StackError

DEFAULT_PORT = 8080


@dataclass
class StackConfig:
    """What `Stack.up` is asked for; saved in the stack's state file."""

    nodes: int = 1
    workers: int = 2
    worker_class: str = "granian"
    db: str = "postgres"  # or sqlite
    port: int | None = None  # nginx; None: 8080, or the next free port above it
    threads: int | None = None  # GUNICORN_THREADS (and DB_POOL_MAX), app default when None
    log_level: str = "INFO"
    env: dict[str, str] = field(default_factory=dict)  # more app settings, e.g. SKILL_SECRET
    tls_dir: str | None = None  # holds fullchain.pem + privkey.pem: adds the HTTPS server
    https_port: int | None = None
    # compose's tuned settings (db/postgresql.conf); the stack's own address settings win.
    pg_conf: str | None = field(default_factory=lambda: existing(TUNED_PG_CONF))
    pg_fast: bool = False  # fsync off: for throwaway benchmark data only
    # nginx's worker_processes: `auto` is one per core, as a deployment runs it; a number for
    # experiments. One worker holds at most worker_connections (nginx/main.conf.template).
    nginx_workers: int | str = "auto"

    @classmethod
    def from_state(cls, saved: dict[str, Any]) -> StackConfig:
        """The config a state file recorded (settings this version no longer has are ignored)."""
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in saved.items() if key in known})

    def check(self) -> None:
        if self.db not in ("postgres", "sqlite"):
            raise StackError(f"db must be postgres or sqlite, not {self.db!r}")
        if not 1 <= self.nodes <= 32 or not 1 <= self.workers <= 64:
            raise StackError("nodes must be 1-32 and workers 1-64")
        if self.nginx_workers != "auto" and not 1 <= int(self.nginx_workers) <= 64:
            raise StackError(f"nginx_workers must be auto or 1-64, not {self.nginx_workers!r}")

    def pool_max(self) -> int:
        return int(self.env.get("DB_POOL_MAX") or self.threads or 4)

    def max_connections(self) -> int:
        """PostgreSQL's: every worker's pool at its maximum, plus tests, seeding and psql."""
        return max(100, self.nodes * self.workers * self.pool_max() + 20)


@dataclass
class Ports:
    nginx: int
    nodes: list[int]
    postgres: int | None = None
    https: int | None = None


def choose_ports(config: StackConfig) -> Ports:
    """nginx on the asked port (or 8080 and up), the nodes, PostgreSQL and HTTPS above it."""
    if config.port is not None:
        if not port_free(config.port):
            raise StackError(f"port {config.port} is in use; choose another with --port")
        nginx = config.port
    else:
        nginx = free_ports(1, DEFAULT_PORT)[0]
    taken = [nginx]
    https = None
    if config.tls_dir:
        https = config.https_port or free_ports(1, nginx + 363, taken)[0]  # 8443 beside 8080
        taken.append(https)
    nodes = free_ports(config.nodes, nginx + 1, taken)
    postgres = free_ports(1, nginx + 100, taken + nodes)[0] if config.db == "postgres" else None
    return Ports(nginx, nodes, postgres, https)
