"""What the load tools share: the seeded people and surveys, Open Builder payloads, reply checks.

Every tool imports it as `loadtest.kakao`, run from the repository root (`python -m loadtest.seed`,
`locust -f loadtest/locustfile.py`, ...): seed.py with .venv, the locustfile and the baselines with
.venv-load, openloop.py with either; both venvs hold the app and devstack. The seeded data set is
defined here once, and the locust users recognise it by the same definitions (names, survey titles,
question kinds).
"""

from __future__ import annotations

import ipaddress
import json
import socket
from typing import Any
from urllib.parse import urlsplit

# The independent reply checker (devstack, not the app's validator): a bug in surveybot.kakao
# cannot hide itself from the load test either. Requests are built as the tests and the simulator
# build them.
from devstack.openbuilder import reply_problems, reply_texts
from surveybot.kakao.payload import build_payload as payload

__all__ = [
    "SEED_SURVEYS",
    "admin_key",
    "admin_name",
    "check_loopback",
    "encode",
    "member_key",
    "member_name",
    "payload",
    "reply_problems",
    "reply_text",
    "reply_texts",
]

# --- the seeded people ---------------------------------------------------------------------------
SURNAMES = "김이박최정강조윤장임한오서신권황안송류전"
GIVEN = (
    "민준 서연 도윤 지우 하준 서윤 은우 지호 예준 수아 시우 하은 주원 지유 유준 채원 지훈 "
    "다은 준우 예은 건우 소율 현우 윤서 우진 지민 선우 하린 연우 수빈"
).split()
DEPARTMENTS = ("총무팀", "인사팀", "재무팀", "영업1팀", "영업2팀", "개발팀", "연구소", "품질관리팀")


def member_key(number: int) -> str:
    """Kakao user key of seeded member `number` (1-based)."""
    return f"load-member-{number:05d}"


def admin_key(number: int) -> str:
    return f"load-admin-{number:03d}"


def extra_key(number: int) -> str:
    """People added only to hold pre-filled answers beyond the members (seed --answers)."""
    return f"load-extra-{number:07d}"


def member_name(number: int) -> str:
    """A Korean name; names repeat past 600 people, the member number tells them apart."""
    index = number - 1
    return SURNAMES[index % len(SURNAMES)] + GIVEN[(index // len(SURNAMES)) % len(GIVEN)]


def admin_name(number: int) -> str:
    return f"관리{GIVEN[(number - 1) % len(GIVEN)]}"


def department(number: int) -> str:
    return DEPARTMENTS[number % len(DEPARTMENTS)]


# --- the seeded surveys ---------------------------------------------------------------------------
# kind: single | multi | text (surveybot.domain.QuestionKind values). The first one receives the
# pre-filled answers of `seed.py --answers N`; one is anonymous.
SEED_SURVEYS: list[dict[str, Any]] = [
    {
        "title": "12월 송년회 참석 조사",
        "description": "12월 20일 18시, 본관 식당",
        "anonymous": False,
        "deadline_days": 30,
        "questions": [
            ("single", "참석하시나요?", ["참석", "불참"]),
            ("multi", "선호 메뉴", ["한식", "중식", "양식", "일식"]),
            ("text", "건의사항", []),
        ],
    },
    {
        "title": "근무복 사이즈 조사",
        "description": "하계 근무복 일괄 주문용",
        "anonymous": False,
        "deadline_days": None,
        "questions": [
            ("single", "상의 사이즈", ["S", "M", "L", "XL", "XXL"]),
            ("single", "하의 사이즈", ["28", "30", "32", "34", "36", "38"]),
            ("text", "요청 사항", []),
        ],
    },
    {
        "title": "상반기 워크숍 희망 일정",
        "description": "가능한 날짜를 모두 골라 주세요",
        "anonymous": False,
        "deadline_days": 14,
        "questions": [
            ("multi", "가능한 날짜", ["3/7(금)", "3/14(금)", "3/21(금)", "3/28(금)", "4/4(금)"]),
            ("single", "숙박 여부", ["당일", "1박 2일"]),
            ("single", "교통편", ["단체 버스", "개별 이동"]),
            ("text", "하고 싶은 활동", []),
        ],
    },
    {
        "title": "사내 복지 만족도 (익명)",
        "description": "솔직한 의견을 부탁드립니다",
        "anonymous": True,
        "deadline_days": 60,
        "questions": [
            ("single", "전반적인 만족도", ["매우 만족", "만족", "보통", "불만족", "매우 불만족"]),
            ("multi", "개선이 필요한 항목", ["식당", "휴게실", "주차", "교육 지원", "건강검진"]),
            ("text", "자유 의견", []),
        ],
    },
]
SEED_TITLES = frozenset(survey["title"] for survey in SEED_SURVEYS)

# Free-text answers; none starts with a command word (메뉴, 확인, ...), which would leave the flow.
FREE_TEXTS = (
    "주차 공간이 부족합니다",
    "좋았습니다",
    "없음",
    "점심 시간을 조금 늘려 주세요",
    "작년처럼 진행되면 좋겠습니다",
    "채식 메뉴도 있으면 좋겠어요",
    "특별히 없습니다. 수고하셨습니다!",
    "셔틀버스 시간 조정 부탁드립니다",
)


# --- Open Builder requests and replies ------------------------------------------------------
def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def reply_text(reply: dict[str, Any]) -> str:
    """Every text of a reply (simpleText, card title and description), newline-joined."""
    return "\n".join(reply_texts(reply))


def quick_replies(reply: dict[str, Any]) -> list[dict[str, Any]]:
    quick = reply.get("template", {}).get("quickReplies", [])
    return [q for q in quick if isinstance(q, dict)]


# --- loopback only --------------------------------------------------------------------------------
def check_loopback(url: str) -> None:
    """Refuse any target that is not this machine: load tests here send traffic to loopback only."""
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError as exc:
        raise SystemExit(f"cannot resolve load target {host!r}: {exc}") from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_loopback:
            raise SystemExit(f"refusing to load {url}: {address} is not a loopback address")
