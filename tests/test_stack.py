"""The native stack end to end: a whole conversation through nginx over 3 nodes x 2 workers on
PostgreSQL, and the `scripts/stack up|status|down` command line."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import requests

from devstack.procs import poll
from devstack.stack import Stack, StackConfig
from support.stack_fixtures import (
    ADMIN_CODE,
    REPO,
    STACK_ENV,
    SURVEY,
    Kakao,
    require_nginx,
)

STACK = REPO / "scripts" / "stack"


def test_conversation_through_nginx_moves_between_nodes(stack_folder: Path) -> None:
    require_nginx()
    config = StackConfig(
        nodes=3, workers=2, db="postgres", log_level="WARNING",
        env=STACK_ENV,
    )  # fmt: skip
    with Stack.up(config, stack_folder) as stack:
        kakao = Kakao(stack.url)
        assert "등록되었습니다" in kakao.say("boss", "등록 김관리").text
        assert "관리자가 되었습니다" in kakao.say("boss", f"관리자인증 {ADMIN_CODE}").text
        assert "[미리보기]" in kakao.say("boss", SURVEY).text
        assert "설문 1 '12월 송년회" in kakao.say("boss", "확인").text

        script = [("등록 이회원", "등록되었습니다"), ("참여 1", "질문 1/3"), ("참석", "질문 2/3"),
                  ("1,3", "질문 3/3"), ("없음", "[응답 확인]"), ("제출", "저장되었습니다"),
                  ("내응답 1", "→ 한식, 양식")]  # fmt: skip
        nodes = []
        for text, expected in script:
            reply = kakao.say("amy", text)
            assert reply.status == 200 and expected in reply.text, (text, reply.text)
            nodes.append(reply.upstream)
        # Stateless workers: each message of amy's went to another node than the one before.
        assert set(nodes) == {node.address for node in stack.nodes}
        assert all(a != b for a, b in zip(nodes, nodes[1:], strict=False)), nodes

        results = kakao.say("boss", "결과 1").text
        assert "응답 1명 / 대상 2명 (50%)" in results and "참석: 1명 (100%)" in results
        card = kakao.say("boss", "다운로드 1").body["template"]["outputs"][0]["textCard"]
        link = card["buttons"][0]["webLinkUrl"]
        assert link.startswith(stack.url + "/exports/")  # PUBLIC_BASE_URL is nginx's address
        download = requests.get(link, timeout=5)
        assert download.status_code == 200 and download.headers["X-Upstream"]
        rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
        assert rows[1][0] == "이회원" and rows[1][4:] == ["참석", "한식; 양식", "없음"]
        assert stack.psql("SELECT count(*) FROM responses") == [(1,)]
        kakao.close()
    assert not stack_folder.exists()  # down removes the folder


def _stack(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(STACK), *args], capture_output=True, text=True, timeout=110, cwd=REPO,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def test_stack_command_up_status_down(stack_folder: Path) -> None:
    require_nginx()
    folder = str(stack_folder)
    up = _stack("up", "--dir", folder, "--nodes", "2", "--workers", "1", "--db", "sqlite")
    assert up.returncode == 0, up.stdout + up.stderr
    state = json.loads((stack_folder / "stack.json").read_text())
    pids = [state["nginx"]["pid"], *(node["pid"] for node in state["nodes"])]
    pids.append(state["notifier"]["pid"])  # the reminder sender, on the stack's database
    try:
        url = up.stdout.split("http://", 1)[1].split("/skill", 1)[0]
        assert requests.get(f"http://{url}/readyz", timeout=5).status_code == 200

        again = _stack("up", "--dir", folder, "--db", "sqlite")
        assert again.returncode != 0 and "already running" in again.stderr, again.stderr
        assert all(_alive(pid) for pid in pids)  # the refused `up` clobbered nothing

        status = _stack("status", "--dir", folder)
        assert status.returncode == 0 and "node1" in status.stdout, status.stdout
        assert "notifier  pid" in status.stdout, status.stdout
        # No KAKAO_* settings: it says reminders are off and idles until `down`.
        log = stack_folder / "notifier" / "notifier.log"
        assert poll(lambda: "reminders are off" in log.read_text(), 10), log.read_text()
    finally:
        down = _stack("down", "--dir", folder)
    assert down.returncode == 0, down.stdout + down.stderr
    assert not any(_alive(pid) for pid in pids)
    assert not stack_folder.exists()
    assert _stack("down", "--dir", folder).returncode == 0  # safe twice
    assert _stack("status", "--dir", folder).returncode == 1
