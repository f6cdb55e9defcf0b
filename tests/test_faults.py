"""Faults under load: 3 nodes x 2 workers of the default server (granian) on PostgreSQL behind nginx (devstack.stack).

Each test runs a bounded load of answer conversations through nginx, injects one fault, and then
checks that every answer acknowledged as saved is in the database once, as last sent. Measurements
are printed (`./scripts/test tests/test_faults.py -s` shows them); docs/deployment.md's runbook
quotes them. Bounds on time are generous (the box is shared): what is asserted is where failures
may fall, how many there are, and that nothing acknowledged is lost.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.ports import http_get
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
from support.tcp_proxy import TcpProxy

WORKERS = 2


@pytest.fixture(scope="module")
def stack(module_stack_folder: Path) -> Iterator[Stack]:
    require_nginx()
    config = StackConfig(
        nodes=3, workers=WORKERS, db="postgres", log_level="WARNING",
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
        if stack.database_url and node.env.get("DATABASE_URL") != stack.database_url:
            node.env["DATABASE_URL"] = stack.database_url  # pointed elsewhere by a test
            stack.restart_node(node.index)
        elif not node.alive():
            stack.restart_node(node.index)
    stack.wait_balanced()


def _log_offset(stack: Stack) -> int:
    return stack.nginx.access_log.stat().st_size


def _first_tries(stack: Stack, offset: int) -> Counter[str]:
    """How many /skill requests nginx sent first to each node since `offset` of its access log
    (a request retried elsewhere lists the node it tried first, then the others)."""
    with stack.nginx.access_log.open("rb") as log:
        log.seek(offset)
        lines = log.read().decode(errors="replace").splitlines()
    tries: Counter[str] = Counter()
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("uri") == "/skill":
            tries[entry["upstream_addr"].split(",")[0].split(" ")[0]] += 1
    return tries


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
        offset = _log_offset(whole)
        whole.kill_node(1)
        # Several of nginx's 1 s fail_timeout windows: each lets one request try the dead node,
        # which must then go to another node, not fail.
        time.sleep(4.5)
    served = load.served_by(since=killed_at + 0.2)
    tries = _first_tries(whole, offset)
    failed = load.failures()
    _report("kill node", load, served_after=str(dict(served)), failed=len(failed),
            dead_node_tried_first=tries[victim.address])  # fmt: skip
    assert not victim.alive()
    assert victim.address not in served
    assert all(served[node.address] > 0 for node in whole.nodes if node is not victim)
    # Only requests the dead node had received fail (never sent again: they may have been
    # processed); one per load thread at most. Every later try of the dead node moves on.
    assert len(failed) <= load.threads
    assert load.failures(since=killed_at + 0.5) == []
    assert len(load.acked) >= 5
    check_stored(whole, load)


def test_node_without_its_database_leaves_rotation(whole: Stack, survey: int) -> None:
    assert whole.postgres and whole.database_url
    node = whole.nodes[1]
    with TcpProxy(("127.0.0.1", whole.postgres.port)) as proxy:
        node.env["DATABASE_URL"] = whole.database_url.replace(
            f":{whole.postgres.port}/", f":{proxy.port}/"
        )
        whole.restart_node(1)
        whole.wait_balanced()
        with Load(whole.url, survey, prefix="cut") as load:
            time.sleep(1.5)
            cut_at = time.monotonic()
            offset = _log_offset(whole)
            proxy.cut()

            def unready() -> bool:
                return http_get("127.0.0.1", node.port, "/readyz")[0] == 503

            wait_for(unready, 10, "the cut node's /readyz to say 503")
            unready_s = time.monotonic() - cut_at
            time.sleep(3)
            tries_while_cut = _first_tries(whole, offset)
            proxy.mend()
            mended_at = time.monotonic()

            def back() -> bool:
                return load.served_by(since=mended_at)[node.address] > 0

            wait_for(back, 15, "the node to serve again once its database path is back")
            back_s = time.monotonic() - mended_at
    failed = load.failures()
    served_while_cut = Counter(
        o.upstream for o in load.outcomes if o.kind == "ok" and cut_at + 0.5 <= o.start < mended_at
    )
    _report("node loses its database", load, readyz_503_after_s=unready_s,
            failed=len(failed), served_while_cut=str(dict(served_while_cut)),
            cut_node_tried_first=tries_while_cut[node.address], back_after_mend_s=back_s)  # fmt: skip
    # Out of rotation: after the requests the cut caught in flight (and the one each worker
    # makes to find out), every request that tries the node goes on to another and succeeds.
    assert node.address not in served_while_cut
    assert len(failed) <= load.threads + 2 * WORKERS
    assert load.failures(since=cut_at + 2, until=mended_at) == []
    assert all(served_while_cut[n.address] > 0 for n in whole.nodes if n is not node)
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


def _database_outage(whole: Stack, survey: int, kill: bool) -> None:
    """Take PostgreSQL down for 2.5 s under load (stopped fast, or SIGKILLed), start it again;
    apologies only while it is down (and within about a second after), then normal replies."""
    name = "postgres SIGKILL" if kill else "postgres restart"
    with Load(whole.url, survey, prefix="pgkill" if kill else "pg") as load:
        time.sleep(1.5)
        stopped_at = time.monotonic()
        if kill:
            whole.kill_postgres()
        else:
            whole.stop_postgres()
        time.sleep(2.5)
        whole.start_postgres()
        started_at = time.monotonic()  # pg_ctl -w: it accepts connections now

        def answered_after_start() -> bool:
            return any(o.kind == "ok" and o.start >= started_at for o in list(load.outcomes))

        wait_for(answered_after_start, 15, "a normal reply after PostgreSQL came back")
        first_ok = time.monotonic() - started_at
        time.sleep(2.5)
    failed = load.failures()
    apologies = [o for o in failed if o.kind == "apology"]
    last_failure = max((o.start for o in failed), default=started_at) - started_at
    slowest = max((o.end - o.start for o in failed), default=0.0)
    _report(name, load, outage_s=started_at - stopped_at, apologies=len(apologies),
            first_ok_after_start_s=first_ok, last_failure_after_start_s=last_failure,
            slowest_apology_s=slowest)  # fmt: skip
    assert apologies, "no apology while the database was down"
    assert slowest < 5, "the apology came after Kakao's 5 s deadline"
    # Every failure is the friendly apology in a valid HTTP 200 reply, nothing worse.
    assert all(o.kind == "apology" and o.status == 200 for o in failed)
    # Only while it is down: none that ended before it went down, and none once it has been up
    # for 2 s (the design says 1 s: a 0.25 s probe, then nginx's 1 s fail_timeout; the bound is
    # generous for a busy box).
    assert [o for o in failed if o.end < stopped_at] == []
    assert load.failures(since=started_at + 2) == []
    assert len(load.acked) >= 5
    check_stored(whole, load)


def test_postgres_restart_apologises_only_while_down(whole: Stack, survey: int) -> None:
    _database_outage(whole, survey, kill=False)


def test_postgres_sigkill_apologises_only_while_down(whole: Stack, survey: int) -> None:
    _database_outage(whole, survey, kill=True)
