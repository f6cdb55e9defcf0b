"""The links of issue 11 as an admin gets them in the chat: results page, chart, downloads.

A test (the browser tests too) obtains a results-page URL the way a person does: send `결과 n`
and take the `결과 보기` button of the card the reply carries.
"""

from __future__ import annotations

from typing import Any

from support.chat_helper import Person

BASE = "https://bot.example.test"  # the test apps' PUBLIC_BASE_URL (chat_fixtures.client)


def results_card(admin: Person, number: int) -> dict[str, Any]:
    """Send `결과 n` and return its card (basicCard with the chart, or textCard without)."""
    admin.say(f"결과 {number}")
    for output in admin.last["template"]["outputs"]:
        for kind in ("basicCard", "textCard"):
            if kind in output:
                card: dict[str, Any] = output[kind]
                return card
    raise AssertionError(f"no card in {admin.last}")


def results_page_url(admin: Person, number: int) -> str:
    """The absolute URL of the `결과 보기` button."""
    [button] = [b for b in results_card(admin, number)["buttons"] if b["label"] == "결과 보기"]
    url: str = button["webLinkUrl"]
    return url


def chart_url(admin: Person, number: int) -> str | None:
    """The absolute URL of the chart the `결과 n` reply shows, or None when it shows none."""
    thumbnail = results_card(admin, number).get("thumbnail")
    return None if thumbnail is None else str(thumbnail["imageUrl"])


def download_urls(admin: Person, number: int) -> dict[str, str]:
    """The `다운로드 n` card's buttons by label."""
    admin.say(f"다운로드 {number}")
    card = admin.last["template"]["outputs"][0]["textCard"]
    return {button["label"]: button["webLinkUrl"] for button in card["buttons"]}


def path(url: str) -> str:
    """The path of one of the app's absolute URLs, for falcon's test client."""
    assert url.startswith(BASE + "/"), url
    return url.removeprefix(BASE)
