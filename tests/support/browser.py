"""The browser tests' tools (tests/test_browser.py): headless chromium, screenshots, and the
/dev/chat page driven as a person would."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

REPO = Path(__file__).resolve().parents[2]  # tests/support/browser.py -> the repository
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
PHONE = {"width": 400, "height": 780}
WAIT_SECONDS = 15
README_SCREENSHOTS = frozenset({"simulator", "results-page"})  # copied to docs/screenshots/


def artifacts() -> Path:
    folder = Path(os.environ.get("SURVEYBOT_ARTIFACTS") or REPO / "test-artifacts")
    (folder / "screenshots").mkdir(parents=True, exist_ok=True)
    return folder / "screenshots"


def screenshot(driver: webdriver.Chrome, name: str, *, full_page: bool = False) -> Path:
    """Save the phone-sized viewport (or the whole page) as `name`.png under the artefacts."""
    if full_page:
        height = driver.execute_script("return document.documentElement.scrollHeight")
        phone_viewport(driver, height=max(int(height), PHONE["height"]))
    path = artifacts() / f"{name}.png"
    driver.save_screenshot(str(path))
    if full_page:
        phone_viewport(driver)
    if name in README_SCREENSHOTS and os.environ.get("SURVEYBOT_UPDATE_SCREENSHOTS") == "1":
        docs = REPO / "docs" / "screenshots"
        docs.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, docs / path.name)
    return path


def phone_viewport(driver: webdriver.Chrome, height: int = PHONE["height"]) -> None:
    # Headless chromium keeps windows at least 500 px wide: emulate the phone's viewport instead.
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": PHONE["width"], "height": height, "deviceScaleFactor": 1, "mobile": True},
    )


def start_chrome(log: Path) -> webdriver.Chrome:
    """Debian's headless chromium at a phone's width, through its chromedriver."""
    for binary in (CHROMIUM, CHROMEDRIVER):
        if not Path(binary).exists():
            pytest.fail(
                f"{binary} is missing: ./scripts/test installs it "
                "(apt-get install -y chromium chromium-driver fonts-nanum fonts-noto-color-emoji)"
            )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    options.unhandled_prompt_behavior = "ignore"  # an alert stays open for assert_no_alert
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--no-proxy-server", "--lang=ko-KR", "--window-size=800,900",
                     "--no-first-run", "--disable-extensions", "--disable-background-networking"):
        options.add_argument(argument)  # fmt: skip
    # Both paths given: Selenium Manager never tries to download a browser or a driver.
    chrome = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER, log_output=str(log)))
    phone_viewport(chrome)
    return chrome


class Simulator:
    """The /dev/chat page, used as a person would: typing, tapping, switching users."""

    def __init__(self, driver: webdriver.Chrome, base_url: str) -> None:
        self.driver = driver
        self.base_url = base_url

    def open(self) -> None:
        self.driver.get(f"{self.base_url}/dev/chat")
        phone = (By.ID, "phone")
        self.wait(lambda: self.driver.find_element(*phone).get_attribute("data-ready") == "true")

    def wait(self, condition: Any, what: str = "the page") -> Any:
        return WebDriverWait(self.driver, WAIT_SECONDS).until(
            lambda _: condition(), f"waiting for {what}"
        )

    def as_role(self, role: str) -> None:
        self.driver.find_element(By.CSS_SELECTOR, f".user-tab[data-role='{role}']").click()

    def as_key(self, key: str) -> None:
        field = self.driver.find_element(By.ID, "user-key")
        field.send_keys(key, Keys.ENTER)
        self.wait(lambda: self.room.get_attribute("data-user") == key, f"the room of {key}")

    @property
    def room(self) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, ".room:not([hidden])")

    def say(self, message: str) -> str:
        """Type `message` (Shift+Enter between its lines) and send it; return the reply's text."""
        box = self.driver.find_element(By.ID, "message")
        for number, line in enumerate(message.split("\n")):
            if number:
                box.send_keys(Keys.SHIFT, Keys.ENTER)
            box.send_keys(line)
        box.send_keys(Keys.ENTER)
        return self._reply()

    def tap(self, label: str) -> str:
        """Tap the quick reply labelled `label` (or starting with it); return the reply's text."""
        quick = self.room.find_elements(By.CSS_SELECTOR, ".quick-replies .quick-reply")
        labels = [button.text for button in quick]
        matching = [b for b in quick if b.text == label] or [
            b for b in quick if b.text.startswith(label)
        ]
        assert matching, f"no quick reply {label!r} in {labels}"
        matching[0].click()
        return self._reply()

    def _reply(self) -> str:
        room = self.room
        self.wait(
            lambda: room.get_attribute("data-sent") == room.get_attribute("data-received"),
            "the reply",
        )
        return self.last_turn().text

    def last_turn(self) -> WebElement:
        return self.room.find_elements(By.CSS_SELECTOR, ".turn.bot")[-1]

    def last_request(self) -> dict[str, Any]:
        """The request of the last reply, from the page's raw JSON view."""
        raw = self.last_turn().find_elements(By.CSS_SELECTOR, ".raw pre")[0]
        text = raw.get_attribute("textContent")
        assert text is not None
        result: dict[str, Any] = json.loads(text)
        return result


def assert_no_alert(driver: webdriver.Chrome) -> None:
    try:
        alert = driver.switch_to.alert
    except NoAlertPresentException:
        return
    text = alert.text
    alert.dismiss()
    raise AssertionError(f"a script ran: alert({text!r})")


