"""Loopback ports: free ones for the processes devstack starts, and a plain HTTP GET to probe them."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Sequence

from devstack.procs import StackError


def port_free(port: int) -> bool:
    """Whether 127.0.0.1:`port` can be bound now."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A loopback port the kernel has just called free (for a process started right after)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def free_ports(count: int, start: int, exclude: Sequence[int] = ()) -> list[int]:
    """`count` free loopback ports, searching upward from `start` (predictable, e.g. 8080)."""
    found: list[int] = []
    port = start
    while len(found) < count:
        if port > 65535 or port > start + 5000:
            raise StackError(f"no {count} free ports from {start}")
        if port not in exclude and port_free(port):
            found.append(port)
        port += 1
    return found


def http_get(host: str, port: int, path: str, timeout: float = 2.0) -> tuple[int, dict[str, str]]:
    """Status and headers of GET http://host:port/path; (0, {}) when nothing answers."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        # A probe leaves no kept-alive connection behind: one open connection keeps a worker that
        # is stopping (max_requests, a reload) serving new clients while it waits for it.
        connection.request("GET", path, headers={"Connection": "close"})
        response = connection.getresponse()
        response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}
    except OSError:
        return 0, {}
    finally:
        connection.close()
