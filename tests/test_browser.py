"""In a real headless browser (Debian's chromium through its chromedriver): the /dev/chat simulator
completes a survey by tapping quick replies, the results page shows the right counts and its chart,
and a hostile title stays text in both. One `surveybot serve` in development mode on SQLite for
the module, as ./scripts/run starts it, with a skill secret the simulator must add itself.

Screenshots go to test-artifacts/screenshots/ (SURVEYBOT_ARTIFACTS overrides the folder); with
SURVEYBOT_UPDATE_SCREENSHOTS=1 the two the README shows are copied to docs/screenshots/ too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

from devstack.nodes import Node
from support.browser import (
    Simulator,
    assert_no_alert,
    phone_viewport,
    screenshot,
    start_chrome,
)
from support.gunicorn_helper import served

pytestmark = pytest.mark.system

ADMIN_CODE = "browser-admin-code"
HOSTILE = "<script>alert(1)</script>"
SURVEY = """설문만들기 12월 송년회 참석 조사
설명 12월 20일 18시, 본관 식당
Q 참석하시나요? / 참석, 불참
Q 어떤 메뉴가 좋으세요? / 한식, 중식, 양식"""


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    folder = tmp_path_factory.mktemp("browser")
    env = {
        "SURVEYBOT_ENV": "development",
        "SQLITE_PATH": str(folder / "bot.sqlite3"),
        "SURVEYBOT_ADMIN_CODE": ADMIN_CODE,
    }  # and served()'s SKILL_SECRET: /skill refuses the browser, /dev/chat/send adds it
    with served(env, folder) as node:  # one worker: one cold start of the chart renderer
        yield node


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    chrome = start_chrome(tmp_path_factory.mktemp("chromedriver") / "chromedriver.log")
    try:
        yield chrome
    finally:
        chrome.quit()


@pytest.fixture(scope="module")
def simulator(bot: Node, driver: webdriver.Chrome) -> Simulator:
    page = Simulator(driver, bot.url)
    page.open()
    return page


@pytest.fixture(scope="module")
def published(simulator: Simulator) -> int:
    """Survey 1, published by the admin preset through the page (one multi-line message)."""
    simulator.as_role("admin")
    assert "등록되었습니다" in simulator.say("등록 김관리")
    assert "관리자가 되었습니다" in simulator.say(f"관리자인증 {ADMIN_CODE}")
    assert "[미리보기]" in simulator.say(SURVEY)
    reply = simulator.tap("확인")
    assert "게시했습니다" in reply
    return int(reply.split("설문 ")[1].split(" ")[0])


def answer_by_tapping(simulator: Simulator, number: int, menu: str) -> str:
    """Answer survey `number` as the current user with quick replies only."""
    simulator.tap("설문목록")
    first = simulator.tap(f"참여 {number}")
    assert "참석하시나요?" in first
    assert "어떤 메뉴" in simulator.tap("1. 참석")
    assert "[응답 확인]" in simulator.tap(menu)
    return simulator.tap("제출")


@pytest.fixture(scope="module")
def answered(simulator: Simulator, published: int) -> int:
    """Survey 1 answered by the member preset and by a person whose key was typed in."""
    simulator.as_role("member")
    assert "등록되었습니다" in simulator.say("등록 이회원")
    assert "저장되었습니다" in answer_by_tapping(simulator, published, "1. 한식")
    simulator.as_key("guest-3")
    assert "등록되었습니다" in simulator.say("등록 박손님")
    assert "저장되었습니다" in answer_by_tapping(simulator, published, "2. 중식")
    return published


def test_the_simulator_completes_a_survey_by_tapping(simulator: Simulator, answered: int) -> None:
    simulator.as_role("member")  # each person keeps their own room
    assert "저장되었습니다" in simulator.last_turn().text
    # The tap went out as Open Builder sends one: the quick reply's extra as clientExtra.
    toggle = simulator.driver.find_element(By.ID, "raw-toggle")
    toggle.click()
    request = simulator.last_request()
    assert request["flow"]["trigger"]["type"] == "QUICKREPLY_BUTTON_MESSAGE"
    assert request["userRequest"]["user"]["id"] == "dev-member"
    assert request["userRequest"]["utterance"] == "제출"
    assert request["action"]["clientExtra"]
    toggle.click()
    raw = simulator.last_turn().find_element(By.CSS_SELECTOR, ".raw")
    simulator.wait(lambda: not raw.is_displayed(), "the JSON to hide")
    screenshot(simulator.driver, "simulator-answered")


def assert_image_loads(simulator: Simulator, image: WebElement, what: str) -> None:
    """Wait for `image` to finish; fail with what its URL answers now if it did not load."""
    driver = simulator.driver
    simulator.wait(lambda: driver.execute_script("return arguments[0].complete", image), what)
    if not driver.execute_script("return arguments[0].naturalWidth > 0", image):
        src = image.get_attribute("src") or ""
        answer = requests.get(src, timeout=10)
        status = f"{answer.status_code} {answer.text[:200]}"
        raise AssertionError(f"{what} did not load: {src} answers {status}")


def open_results_page(simulator: Simulator, number: int) -> str:
    """Send `결과 n` as the admin, open its `결과 보기` link; return the simulator's window."""
    simulator.as_role("admin")
    simulator.say(f"결과 {number}")
    links = simulator.last_turn().find_elements(By.CSS_SELECTOR, "a.card-button.link")
    link = next((a for a in links if a.text.startswith("결과 보기")), None)
    assert link is not None, [a.text for a in links]
    assert link.get_attribute("href").startswith(f"{simulator.base_url}/results/")
    chat_window = simulator.driver.current_window_handle
    link.click()  # target=_blank: a new window, as KakaoTalk opens its in-app browser
    simulator.wait(lambda: len(simulator.driver.window_handles) == 2, "the results window")
    simulator.driver.switch_to.window(simulator.driver.window_handles[-1])
    phone_viewport(simulator.driver)
    title = (By.ID, "survey-title")
    simulator.wait(lambda: simulator.driver.find_elements(*title), "the results page")
    return chat_window


def close_results_page(simulator: Simulator, chat_window: str) -> None:
    simulator.driver.close()
    simulator.driver.switch_to.window(chat_window)


def option_counts(driver: webdriver.Chrome, question: int) -> dict[str, int]:
    options = driver.find_elements(By.CSS_SELECTOR, f"#q{question} .option")
    return {
        option.find_element(By.CSS_SELECTOR, ".name").text: int(
            option.find_element(By.CSS_SELECTOR, ".count").text
        )
        for option in options
    }


def test_the_results_page_shows_the_counts_and_the_chart(
    simulator: Simulator, answered: int
) -> None:
    driver = simulator.driver
    chat_window = open_results_page(simulator, answered)
    try:
        title = driver.find_element(By.ID, "survey-title").text
        assert title == f"{answered}. 12월 송년회 참석 조사"
        assert driver.find_element(By.ID, "respondents").text == "2"
        assert option_counts(driver, 1) == {"참석": 2, "불참": 0}
        assert option_counts(driver, 2) == {"한식": 1, "중식": 1, "양식": 0}
        chart = driver.find_element(By.ID, "chart")
        assert_image_loads(simulator, chart, "the chart")
        assert chart.get_attribute("src").startswith(f"{simulator.base_url}/charts/")
        screenshot(driver, "results-page", full_page=True)
    finally:
        close_results_page(simulator, chat_window)
    # The chat's own card shows the same chart (Kakao fetches the thumbnail by its URL); the page
    # puts a line naming the URL in place of a picture that did not load.
    turn = simulator.last_turn()
    done = "return [...arguments[0].querySelectorAll('img.image')].every(i => i.complete)"
    simulator.wait(lambda: driver.execute_script(done, turn), "the card's picture")
    assert "이미지를 불러오지 못했습니다" not in turn.text, turn.text
    images = turn.find_elements(By.CSS_SELECTOR, "img.image")
    assert images and all(image.get_property("naturalWidth") for image in images), turn.text
    screenshot(driver, "simulator")


def test_a_hostile_title_stays_text(simulator: Simulator, answered: int) -> None:
    simulator.as_role("admin")
    preview = simulator.say(f"설문만들기 {HOSTILE}\nQ 괜찮나요? / 예, 아니오")
    assert HOSTILE in preview
    reply = simulator.tap("확인")
    assert "게시했습니다" in reply
    number = int(reply.split("설문 ")[1].split(" ")[0])
    simulator.as_role("member")
    assert HOSTILE in simulator.say("설문목록")
    driver = simulator.driver
    assert_no_alert(driver)
    # The only script on the page is its own file: the title became no element at all.
    scripts = driver.execute_script("return [...document.scripts].map(s => s.src)")
    assert scripts == [f"{simulator.base_url}/dev/chat/chat.js"]
    screenshot(driver, "simulator-hostile-title")
    chat_window = open_results_page(simulator, number)
    try:
        assert_no_alert(driver)
        assert driver.find_element(By.ID, "survey-title").text == f"{number}. {HOSTILE}"
        assert HOSTILE in driver.title
        assert driver.execute_script("return document.scripts.length") == 0
        screenshot(driver, "results-page-hostile-title", full_page=True)
    finally:
        close_results_page(simulator, chat_window)


def test_the_simulator_is_not_served_in_production(tmp_path: Path) -> None:
    with served({"SQLITE_PATH": str(tmp_path / "bot.sqlite3")}, tmp_path) as node:
        assert requests.get(f"{node.url}/dev/chat", timeout=5).status_code == 404
        assert requests.get(f"{node.url}/dev/chat/chat.js", timeout=5).status_code == 404


def hostile_reply(base_url: str) -> dict[str, Any]:
    """A reply using every component, each string a script, each link and image a trap."""
    trap = "javascript:alert(1)"
    link = {"label": HOSTILE, "action": "webLink", "webLinkUrl": trap}
    tap = {"label": "눌러 보기", "action": "message", "messageText": HOSTILE, "extra": {"x": 1}}
    card = {"title": HOSTILE, "description": HOSTILE, "buttons": [link, tap]}
    picture = {"imageUrl": f"{base_url}/healthz"}  # not an image: the page says so
    outputs = [
        {"simpleText": {"text": HOSTILE}},
        {"simpleImage": {"imageUrl": trap, "altText": HOSTILE}},
        {"textCard": card},
        {"basicCard": {**card, "thumbnail": picture}},
        {"listCard": {"header": {"title": HOSTILE}, "items": [{"title": HOSTILE, **tap}]}},
        {"carousel": {"type": "basicCard", "items": [{**card, "thumbnail": picture}] * 2}},
        {"itemCard": {"head": {"title": HOSTILE}, "itemList": [{"title": "a", "description": HOSTILE}]}},
        {"commerceCard": {**card, "price": 1000, "currency": "won", "thumbnails": [picture]}},
        {HOSTILE: {"text": HOSTILE}},
    ]
    quick = [{"label": HOSTILE, "action": "message", "messageText": HOSTILE}]
    return {"version": "2.0", "template": {"outputs": outputs, "quickReplies": quick}}


# Stands in for /dev/chat/send inside the page: the canned result comes back for any message.
CANNED_SEND = """
const canned = arguments[0], real = window.fetch;
window.fetch = (url, init) => url === "/dev/chat/send"
  ? Promise.resolve(new Response(JSON.stringify(canned), {status: 200}))
  : real(url, init);
"""


def test_every_output_type_renders_as_text(simulator: Simulator) -> None:
    driver = simulator.driver
    simulator.open()  # a fresh page: its fetch replaced below, the real one back after
    result = {
        "request": {"userRequest": {"utterance": HOSTILE}},
        "status": 200,
        "reply": hostile_reply(simulator.base_url),
        "problems": [HOSTILE],
        "elapsedMs": 6000,
    }
    driver.execute_script(CANNED_SEND, result)
    simulator.as_key(HOSTILE)
    turn_text = simulator.say(HOSTILE)
    assert_no_alert(driver)
    room = simulator.room
    assert turn_text.count(HOSTILE) >= 10
    assert driver.execute_script(
        "return arguments[0].querySelectorAll('script, iframe, object, embed, img[src^=javascript]')"
        ".length", room
    ) == 0  # fmt: skip
    hrefs = [a.get_attribute("href") for a in room.find_elements(By.CSS_SELECTOR, "a")]
    assert hrefs == [], hrefs  # every link was javascript: and is shown as a dead button
    assert room.find_elements(By.CSS_SELECTOR, ".card"), "cards drawn"
    assert [q.text for q in room.find_elements(By.CSS_SELECTOR, ".quick-reply")] == [HOSTILE]
    simulator.wait(lambda: "이미지를 불러오지 못했습니다" in simulator.last_turn().text, "the image")
    assert "카카오 제한 위반" in turn_text and "5초" in turn_text
    screenshot(driver, "simulator-every-output")
    simulator.open()
