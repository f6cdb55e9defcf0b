"""scripts/bench's encryption phase (issue 13): what sealing personal data costs a conversation.

Two stacks of the mode's base configuration (1 node x 2 granian workers, PostgreSQL) run side by
side: one as deployed, with the DATA_KEYS and INDEX_KEY devstack derives for it (names, numbers,
departments, written answers and conversation state sealed with AES-GCM, lookups by HMAC), and
one with ENCRYPTION_DISABLED=true (plaintext). Both are seeded alike, each as its nodes write:
loadtest/seed.py seals the sealed stack's people and answers with its keys (phases.seed_keys) and
writes the other's in plaintext; `surveybot keys verify` then checks on the sealed stack that
nothing seeded is left to seal.

After a discarded warm-up on each, the window of the `baseline-conversations` row (locust, member
conversations only, `conv_users` users, no think time, `conv_s` seconds) alternates between them
in pairs, off-on then on-off (ABBA: with an even number of pairs a steady drift of the shared
machine falls on both alike). Before each window the stack's sessions are cleared: locust stops
people mid-question and the next window's first `메뉴` would be taken as their answer.
targets.encryption_summary turns the windows into the two figures, their ratio (target >= 0.90)
and the CPU per conversation step of each.
"""

from __future__ import annotations

import contextlib
from typing import Any

from devstack.settings import app_env
from devstack.stack import Stack
from loadtest.bench import load
from loadtest.bench import measure as m
from loadtest.bench.phases import Mode, Run, conversation, seed, stack_roots, stack_up

STATES = ("off", "on")
ENV = {"LOAD_ADMIN_USERS": "0"}  # as the baseline-conversations row: members only
CLASSES = ("Member",)
LABELS = {
    "off": "encryption off (ENCRYPTION_DISABLED=true)",
    "on": "encryption on (AES-GCM, the stack's derived keys)",
}


def window_seconds(mode: Mode) -> float:
    """One measured window: locust's start-up and stop, the load, clearing the sessions."""
    return mode.conv_s + 4


def phase_seconds(mode: Mode) -> float:
    """The whole phase: two stacks started, seeded (and verified), warmed up, then the windows."""
    return 40 + 2 * (mode.warm_s + 6) + 2 * mode.encryption_pairs * window_seconds(mode)


def order(pairs: int) -> list[str]:
    """off, on, on, off, off, on, ...: each pair in turn starts with the other state."""
    return [state for n in range(pairs) for state in (STATES if n % 2 == 0 else STATES[::-1])]


def encryption(run: Run) -> None:
    config = run.mode.base
    with contextlib.ExitStack() as stop:
        stacks: dict[str, Stack] = {}
        for state in STATES:
            env = dict(config.options()["env"])
            if state == "off":
                env["ENCRYPTION_DISABLED"] = "true"
            stack = stop.enter_context(
                stack_up(run, config, folder_name=f"stack-encryption-{state}", env=env)
            )
            seed(run, stack, f"encryption-{state}")
            if state == "on":
                verify_sealed(run, stack)
            warm_up(run, stack, state)
            stacks[state] = stack
        roots = {state: stack_roots(stack) for state, stack in stacks.items()}
        access = {
            state: m.AccessLog(stack.nginx_dir / "access.log") for state, stack in stacks.items()
        }
        counts = dict.fromkeys(STATES, 0)
        for index, state in enumerate(order(run.mode.encryption_pairs)):
            if run.remaining() < window_seconds(run.mode):
                run.note(f"skipped: encryption windows from {index + 1} on (no time left)")
                break
            stack = stacks[state]
            clear_sessions(stack)
            counts[state] += 1
            conversation(
                run,
                roots[state],
                access[state],
                stack.url,
                f"encryption-{state}-{counts[state]}",
                env=ENV,
                classes=CLASSES,
                phase="encryption",
                config=f"member conversations, {LABELS[state]}, {config.label}",
                params={**config.options(), "env": stack.config.env},
                encryption=state,
                pair=index // 2 + 1,
                window=index + 1,
            )
            gone = [name for name, each in stacks.items() if not app_alive(each)]
            if gone:
                run.note(
                    f"encryption: the app of the {' and '.join(gone)} stack stopped by window "
                    f"{index + 1} (the bench did not stop it); no more windows. Windows with "
                    "failures are left out of the ratio"
                )
                break
        run.meta["encryption_check"] = {state: checked(stack) for state, stack in stacks.items()}
        run.save(run, False)


def checked(stack: Stack) -> dict[str, Any]:
    """sealed_counts, or what kept it from the database (a run that lost its stack is a record)."""
    try:
        return sealed_counts(stack)
    except Exception as error:  # noqa: BLE001 - the windows above are measured either way
        return {"error": f"{type(error).__name__}: {error}"[:300]}


def app_alive(stack: Stack) -> bool:
    """Every node's gunicorn master still runs (nginx would answer for a dead one, with 200s)."""
    return all(node.alive() for node in stack.nodes)


def verify_sealed(run: Run, stack: Stack) -> None:
    """`surveybot keys verify` on the stack's database, with the nodes' settings and keys: every
    seeded row opens, and none is left to seal (it fails the phase otherwise)."""
    settings = stack._settings(None)  # the stack's settings for a process beside its nodes
    output = m.run_quiet(
        [str(m.APP_PY), "-m", "surveybot.cli", "keys", "verify"],
        "surveybot keys verify (the seeded rows sealed)",
        timeout=300,
        env=app_env(settings),
    )
    run.path("encryption-on", "verify.log").write_text(output)


def warm_up(run: Run, stack: Stack, state: str) -> None:
    """A short conversation run, not measured: both stacks' workers, caches and tables warm."""
    mode = run.mode
    load.locust(
        stack.url,
        run.path(f"encryption-{state}-warm", "locust"),
        max(mode.warm_s, 2),
        users=mode.conv_users,
        env={"LOAD_WAIT": "0", "LOAD_MEMBERS": "1000", **ENV},
        classes=CLASSES,
    )


def clear_sessions(stack: Stack) -> None:
    stack.psql("DELETE FROM sessions")


def sealed_counts(stack: Stack) -> dict[str, Any]:
    """What the database holds sealed after the windows: proof of which stack sealed."""
    users = stack.psql("SELECT count(*), count(sealed) FROM users")[0]
    named = stack.psql(
        "SELECT count(*), count(answered_sealed) FROM responses WHERE user_id IS NOT NULL"
    )[0]
    return {
        "users": int(users[0]),
        "users_sealed": int(users[1]),
        "named_responses": int(named[0]),
        "named_responses_sealed": int(named[1]),
    }
