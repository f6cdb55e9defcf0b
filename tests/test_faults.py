"""Faults under load: 3 nodes x 2 gthread workers on PostgreSQL behind nginx (devstack.stack).

Each test runs a bounded load of answer conversations through nginx, injects one fault, and then
checks that every answer acknowledged as saved is in the database once, as last sent. Measurements
are printed (`./scripts/test tests/test_faults.py -s` shows them).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.procs import wait_for
from devstack.stack import Stack, StackConfig
from support.stack_fixtures import (
    STACK_ENV,
    Kakao,
    Load,
    check_stored,
    publish_survey,
    require_nginx,
)

WORKERS = 2


@pytest.fixture(scope="module")
def stack(module_stack_folder: Path) -> Iterator[Stack]:
    require_nginx()
    config = StackConfig(
        nodes=3, workers=WORKERS, worker_class="gthread", db="postgres", log_level="WARNING",
        env=STACK_ENV,
    )  # fmt: skip
    with Stack.up(config, module_stack_folder) as running:
        yield running


@pytest.fixture
def whole(stack: Stack) -> Iterator[Stack]:
    """The stack with every part running, before and after the test."""
    _mend(stack)
    try:
        yield stack
    finally:
        _mend(stack)


def _mend(stack: Stack) -> None:
    if stack.postgres and stack.postgres.pid() is None:
        stack.start_postgres()
    for node in stack.nodes:
        if not node.alive():
            stack.restart_node(node.index)


@pytest.fixture
def survey(whole: Stack) -> int:
    kakao = Kakao(whole.url)
    try:
        return publish_survey(kakao)
    finally:
        kakao.close()


def _report(name: str, load: Load, **figures: float | int | str) -> None:
    extra = ", ".join(
        f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items()
    )
    print(f"\n[{name}] {load.summary()}; {extra}")
    for failure in load.failures():
        print(f"   failed {failure.step!r} on {failure.upstream or '-'}: {failure.kind} "
              f"{failure.status} {failure.text[:80]!r}")  # fmt: skip


def test_killed_worker_is_respawned(whole: Stack, survey: int) -> None:
    node = whole.nodes[0]
    with Load(whole.url, survey, prefix="worker") as load:
        time.sleep(1.5)
        killed_at = time.monotonic()
        victim = whole.kill_worker(0)

        def respawned() -> bool:
            pids = node.worker_pids()
            return len(pids) == WORKERS and victim not in pids

        wait_for(respawned, 10, "the master to replace the killed worker")
        respawn = time.monotonic() - killed_at
        time.sleep(2)
    _report("kill worker", load, respawn_s=respawn)
    assert node.alive(), "the master died with its worker"
    # Only requests the killed worker was serving may fail (a worker serves 4 at once at most).
    assert len(load.failures()) <= load.threads
    assert load.failures(since=killed_at + 1) == []
    assert len(load.acked) >= 5
    check_stored(whole, load)


def test_killed_node_is_avoided(whole: Stack, survey: int) -> None:
    victim = whole.nodes[1]
    with Load(whole.url, survey, prefix="node") as load:
        time.sleep(1.5)
        killed_at = time.monotonic()
        whole.kill_node(1)
        time.sleep(3)
    served = load.served_by(since=killed_at + 0.2)
    _report("kill node", load, served_after=str(dict(served)))
    assert not victim.alive()
    assert victim.address not in served
    assert all(served[node.address] > 0 for node in whole.nodes if node is not victim)
    # Only requests in flight on the dead node fail; nginx retries refused connections.
    assert len(load.failures()) <= load.threads
    assert load.failures(since=killed_at + 0.5) == []
    assert len(load.acked) >= 5
    check_stored(whole, load)


def test_graceful_reload_loses_nothing(whole: Stack, survey: int) -> None:
    with Load(whole.url, survey, prefix="hup") as load:
        time.sleep(1)
        old = {i: whole.nodes[i].worker_pids() for i in (0, 2)}
        new = {0: whole.hup_node(0)}
        time.sleep(0.5)
        new[2] = whole.hup_node(2)
        time.sleep(1.5)
    _report("hup", load, reloaded=str(old) + " -> " + str(new))
    assert all(not set(old[i]) & set(new[i]) for i in new)
    assert load.failures() == []
    assert len(load.acked) >= 5
    check_stored(whole, load)


def test_postgres_restart_apologises_then_recovers(whole: Stack, survey: int) -> None:
    with Load(whole.url, survey, prefix="pg") as load:
        time.sleep(1.5)
        stopped_at = time.monotonic()
        whole.stop_postgres()
        time.sleep(2.5)
        whole.start_postgres()
        started_at = time.monotonic()

        def answered_after_start() -> bool:
            return any(o.kind == "ok" and o.start >= started_at for o in list(load.outcomes))

        wait_for(answered_after_start, 15, "a normal reply after PostgreSQL came back")
        first_ok = time.monotonic() - started_at
        time.sleep(2)
    apologies = [o for o in load.outcomes if o.kind == "apology"]
    last_apology = max((o.end for o in apologies), default=started_at) - started_at
    slowest = max((o.end - o.start for o in apologies), default=0.0)
    _report("postgres restart", load, outage_s=started_at - stopped_at, first_ok_s=first_ok,
            last_apology_after_start_s=last_apology, slowest_apology_s=slowest)  # fmt: skip
    assert apologies, "no apology while the database was down"
    assert slowest < 5, "the apology came after Kakao's 5 s deadline"
    # Every failure is the friendly apology in a valid HTTP 200 reply, nothing worse.
    assert all(o.kind == "apology" and o.status == 200 for o in load.failures())
    assert first_ok < 15 and last_apology < 15
    assert load.failures(since=started_at + 15) == []
    assert len(load.acked) >= 5
    check_stored(whole, load)
