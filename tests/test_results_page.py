"""The results page of `결과 보기`: counts, texts, who has not answered, links, and its guards."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from html.parser import HTMLParser

import falcon.testing
import pytest

from support.chat_fixtures import answer_all, publish
from support.chat_helper import SURVEY_MESSAGE, Clock, Person
from support.results_links import path, results_card, results_page_url
from surveybot.results_page import TEXTS_PER_PAGE

HOSTILE = "<script>alert(1)</script>"


class Page(HTMLParser):
    """The parts of the page a person reads: texts by class, and every tag seen."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.by_class: dict[str, list[str]] = {}
        self.by_id: dict[str, str] = {}
        self.links: dict[str, str] = {}
        self.images: list[str] = []
        self._open: list[tuple[str, str, str]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        found = dict(attrs)
        if tag == "a" and found.get("id"):
            self.links[str(found["id"])] = str(found.get("href"))
        if tag == "img":
            self.images.append(str(found.get("src")))
        if tag not in ("meta", "img", "br", "link"):
            self._open.append((tag, found.get("class") or "", found.get("id") or ""))

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1][0] == tag:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        if not self._open:
            return
        _, klass, ident = self._open[-1]
        if klass:
            self.by_class.setdefault(klass, []).append(data)
        if ident:
            self.by_id[ident] = self.by_id.get(ident, "") + data

    def texts(self, klass: str) -> list[str]:
        return self.by_class.get(klass, [])


def open_page(client: falcon.testing.TestClient, url: str) -> tuple[falcon.testing.Result, Page]:
    result = client.simulate_get(path(url))
    return result, Page(result.text)


def test_the_page_shows_the_counts_shares_texts_and_who_has_not_answered(
    admin: Person,
    member: Person,
    person: Callable[[str], Person],
    client: falcon.testing.TestClient,
) -> None:
    number = publish(admin)
    answer_all(member, number)  # 참석; 한식, 양식; a text
    person("late-key").say("등록 최늦음")
    result, page = open_page(client, results_page_url(admin, number))
    assert result.status_code == 200
    assert result.headers["content-type"].startswith("text/html")
    assert page.by_id["respondents"] == "1"
    assert page.by_id["population"] == "3"
    assert page.texts("count") == ["1", "0", "1", "0", "1"]
    assert page.texts("share") == ["100", "0", "100", "0", "100"]
    assert page.texts("name") == ["참석", "불참", "한식", "중식", "양식"]
    assert "주차 공간이 있으면 좋겠습니다" in result.text
    assert page.by_id["survey-state"] == "진행 중"
    assert page.by_id["survey-deadline"] == "2026-12-10(목) 18:00"
    pending = re.findall(r"<li>([^<]+)</li>", result.text.split('id="pending"')[1])
    assert pending == ["김관리", "최늦음"]
    assert page.images and page.images[0].startswith("/charts/")
    assert client.simulate_get(page.images[0]).status_code == 200


def test_the_download_buttons_work(
    admin: Person, member: Person, client: falcon.testing.TestClient
) -> None:
    number = publish(admin)
    answer_all(member, number)
    _, page = open_page(client, results_page_url(admin, number))
    csv = client.simulate_get(page.links["download-csv"])
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    xlsx = client.simulate_get(page.links["download-xlsx"])
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"


def test_the_page_is_never_cached_and_runs_no_script(
    admin: Person, member: Person, client: falcon.testing.TestClient
) -> None:
    number = publish(admin)
    answer_all(member, number)
    result, page = open_page(client, results_page_url(admin, number))
    assert result.headers["cache-control"] == "no-store"
    assert result.headers["referrer-policy"] == "no-referrer"
    policy = result.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "unsafe-inline" not in policy
    assert "script-src" not in policy  # default-src 'none' forbids every script
    assert "script" not in page.tags
    # The one stylesheet is allowed by its hash, so a browser applies it.
    style = result.text.split("<style>")[1].split("</style>")[0]
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in policy
    assert ' style="' not in result.text  # no inline style attribute the policy would block


def test_a_hostile_title_options_and_answers_are_shown_as_text(
    admin: Person, member: Person, client: falcon.testing.TestClient
) -> None:
    number = publish(
        admin,
        f'설문만들기 {HOSTILE}\n설명 "><img src=x onerror=alert(1)>\n'
        # The first '/' ends a question's title, so the options carry the closing tags.
        "Q <img src=x onerror=alert(3)> / <b>굵게</b>, &amp;\nQ 의견",
    )
    member.say(f"참여 {number}")
    member.say("1")
    member.say("</li><script>alert(2)</script>")
    member.tap("제출")
    result, page = open_page(client, results_page_url(admin, number))
    assert result.status_code == 200
    assert "script" not in page.tags and "b" not in page.tags
    assert page.tags.count("img") == 1  # the chart, nothing written by a user
    assert "<script>" not in result.text and "<b>" not in result.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in result.text
    assert "&lt;/li&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in result.text
    assert "&amp;amp;" in result.text
    assert "&lt;img src=x onerror=alert(3)&gt;" in result.text
    assert page.texts("name") == ["<b>굵게</b>", "&amp;"]


def test_a_tampered_link_is_403_and_an_expired_one_410(
    admin: Person, member: Person, client: falcon.testing.TestClient, clock: Clock
) -> None:
    number = publish(admin)
    url = results_page_url(admin, number)
    token = url.rsplit("/", 1)[1]
    flipped = token[:8] + ("A" if token[8] != "A" else "B") + token[9:]
    forbidden = client.simulate_get(f"/results/{flipped}")
    assert forbidden.status_code == 403
    assert forbidden.headers["content-type"].startswith("text/html")
    assert forbidden.headers["cache-control"] == "no-store"
    assert client.simulate_get("/results/../exports").status_code in (403, 404)
    clock.advance(minutes=11)
    gone = client.simulate_get(path(url))
    assert gone.status_code == 410
    assert "만료" in gone.text


def test_a_demoted_admin_cannot_open_the_page(
    admin: Person, person: Callable[[str], Person], client: falcon.testing.TestClient
) -> None:
    number = publish(admin)
    url = results_page_url(admin, number)
    other = person("other-admin")
    other.say("등록 나부관")
    admin.say("관리자지정 나부관")
    other.say("관리자해제 김관리")
    assert client.simulate_get(path(url)).status_code == 403


def test_a_deleted_survey_is_gone(admin: Person, client: falcon.testing.TestClient) -> None:
    number = publish(admin)
    url = results_page_url(admin, number)
    admin.say(f"삭제 {number}")
    admin.tap("삭제 확인")
    assert client.simulate_get(path(url)).status_code == 410


def test_an_anonymous_survey_shows_only_participation_until_closed_with_three(
    admin: Person, person: Callable[[str], Person], client: falcon.testing.TestClient
) -> None:
    number = publish(admin, SURVEY_MESSAGE + "\n익명")
    for n in range(3):
        someone = person(f"anon-{n}")
        someone.say(f"등록 익명{n}")
        answer_all(someone, number)
    result, page = open_page(client, results_page_url(admin, number))
    assert page.by_id["respondents"] == "3"
    assert 'id="hidden-notice"' in result.text
    assert page.texts("count") == [] and "주차" not in result.text
    assert page.links == {} and page.images == []
    assert 'id="pending"' not in result.text  # who took part stays in the chat's 미응답
    admin.say(f"마감 {number}")
    result, page = open_page(client, results_page_url(admin, number))
    assert 'id="hidden-notice"' not in result.text
    assert page.texts("count") == ["3", "0", "3", "0", "3"]
    assert set(page.links) == {"download-csv", "download-xlsx"}
    assert 'id="pending"' not in result.text


@pytest.mark.parametrize("texts", [TEXTS_PER_PAGE + 5])
def test_free_texts_come_in_pages(
    admin: Person, person: Callable[[str], Person], client: falcon.testing.TestClient, texts: int
) -> None:
    number = publish(admin, "설문만들기 의견\nQ 하고 싶은 말")
    for n in range(texts):
        someone = person(f"writer-{n}")
        someone.say(f"등록 작성자{n}")
        someone.say(f"참여 {number}")
        someone.say(f"의견 {n}")
        someone.tap("제출")
    url = results_page_url(admin, number)
    result, page = open_page(client, url)
    first = re.findall(r"<li>(의견 \d+)</li>", result.text)
    assert len(first) == TEXTS_PER_PAGE and first[0] == f"의견 {texts - 1}"  # newest first
    assert page.links["texts-next"] == "?page=2"
    second = client.simulate_get(path(url), query_string="page=2")
    rest = re.findall(r"<li>(의견 \d+)</li>", second.text)
    assert rest == [f"의견 {n}" for n in range(4, -1, -1)]
    assert "texts-next" not in Page(second.text).links
    # Nonsense page numbers show the first page.
    odd = client.simulate_get(path(url), query_string="page=-3")
    assert re.findall(r"<li>(의견 \d+)</li>", odd.text) == first


def test_the_card_links_the_page_within_kakaos_limits(admin: Person, member: Person) -> None:
    number = publish(admin)
    answer_all(member, number)
    card = results_card(admin, number)
    assert card["buttons"][0]["action"] == "webLink"
    assert card["buttons"][0]["webLinkUrl"].startswith("https://bot.example.test/results/")
    assert len(card["description"]) <= 230
    assert len(admin.last["template"]["outputs"]) == 2


def test_results_and_chart_tokens_are_kept_out_of_logs() -> None:
    from surveybot.log_redaction import redact

    line = "GET /results/abc_-1?page=2 HTTP/1.1 /charts/x-Y.png /exports/q.xlsx /healthz"
    assert redact(line) == (
        "GET /results/<redacted>?page=2 HTTP/1.1 /charts/<redacted> /exports/<redacted> /healthz"
    )


def test_a_purged_survey_says_so_and_lists_nobody() -> None:
    from datetime import UTC, datetime

    from surveybot.domain import Question, QuestionKind, Results, Survey
    from surveybot.results_page import Links, build_view, render_page

    moment = datetime(2026, 12, 1, tzinfo=UTC)
    question = Question(QuestionKind.SINGLE, "참석?", ("예", "아니오"))
    survey = Survey(5, "지난 설문", "", (question,), None, False, moment, moment, moment, True)
    view = build_view(Results(survey, 2, 4, {0: {0: 2, 1: 0}}), moment, Links(), pending=None)
    assert view.purged_notice is not None and "집계만" in view.purged_notice
    html = render_page(view)
    assert 'id="purged-notice"' in html and 'id="pending"' not in html
