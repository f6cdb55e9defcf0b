"""The chart of `결과 n`: an 800x400 PNG with Korean labels, behind a signed, expiring URL."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import falcon.testing
import pytest
from matplotlib.ft2font import FT2Font
from PIL import Image

from support.chat_fixtures import answer_all, publish
from support.chat_helper import Clock, Person
from support.results_links import chart_url, path, results_card
from surveybot import charts
from surveybot.charts import ChartRenderer, ChartUnavailable, fingerprint, render_png
from surveybot.config import DEV_SECRET_KEY
from surveybot.domain import Question, QuestionKind, Results, Survey
from surveybot.tokens import sign_chart_token, sign_export_token, sign_results_token

SECRET = DEV_SECRET_KEY.encode()  # what the test app signs with (development)


def results(counts: dict[int, dict[int, int]] | None = None, title: str = "송년회") -> Results:
    questions = (
        Question(QuestionKind.SINGLE, "참석하시나요?", ("참석", "불참")),
        Question(QuestionKind.MULTI, "선호 메뉴", ("한식", "중식", "양식")),
        Question(QuestionKind.TEXT, "건의사항"),
    )
    survey = Survey(1, title, "", questions, None, False, None, datetime(2026, 11, 1, tzinfo=UTC))
    return Results(survey, 4, 10, counts or {0: {0: 3, 1: 1}, 1: {0: 2, 1: 2, 2: 1}}, {2: 0})


def decode(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def test_the_chart_is_an_800_by_400_png() -> None:
    image = decode(render_png(results()))
    assert image.format == "PNG"
    assert image.size == (800, 400)


def test_the_font_has_every_hangul_syllable_so_no_label_is_a_box() -> None:
    paths = charts.font_paths()
    assert paths is not None, "the Korean font ships with koreanize-matplotlib (pyproject)"
    font = FT2Font(str(paths[0]))
    # All 11,172 modern syllables: whatever Korean an admin writes has a glyph.
    missing = [c for c in range(0xAC00, 0xD7A4) if font.get_char_index(c) == 0]
    assert missing == []
    assert font.family_name == "NanumGothic"


def test_text_the_font_cannot_draw_and_mathtext_are_neutralised() -> None:
    assert charts._safe("참석 😀") == "참석 ?"
    assert charts._safe("$5 $6") == r"\$5 \$6"
    # Draws with no glyph warning (warnings are errors in the tests).
    render_png(results(title="$x^2$ 😀 \\frac"))


def test_the_fingerprint_follows_the_counts_and_only_them() -> None:
    base = fingerprint(results())
    assert fingerprint(results()) == base
    assert fingerprint(results({0: {0: 4, 1: 1}, 1: {0: 2, 1: 2, 2: 1}})) != base
    assert fingerprint(results(title="다른 제목")) != base


def test_a_repeated_chart_is_drawn_once() -> None:
    drawn: list[int] = []

    def render(found: Results) -> bytes:
        drawn.append(found.survey.id)
        return b"png"

    renderer = ChartRenderer(render)
    assert renderer.png(results()) == renderer.png(results()) == b"png"
    assert drawn == [1]
    renderer.png(results({0: {0: 9}}))
    assert drawn == [1, 1]


def test_twin_requests_wait_for_one_drawing() -> None:
    drawn: list[int] = []
    release = threading.Event()

    def render(found: Results) -> bytes:
        drawn.append(1)
        release.wait(5)
        return b"png"

    renderer = ChartRenderer(render)
    got: list[bytes] = []
    twins = [threading.Thread(target=lambda: got.append(renderer.png(results()))) for _ in range(3)]
    for twin in twins:
        twin.start()
    time.sleep(0.1)
    release.set()
    for twin in twins:
        twin.join(5)
    assert got == [b"png"] * 3
    assert drawn == [1]


def test_a_slow_drawing_is_unavailable_and_then_cached() -> None:
    release = threading.Event()

    def render(found: Results) -> bytes:
        release.wait(5)
        return b"late"

    renderer = ChartRenderer(render, timeout=0.05)
    with pytest.raises(ChartUnavailable):
        renderer.png(results())
    release.set()
    deadline = time.monotonic() + 5
    while True:  # the drawing goes on and lands in the cache
        try:
            assert renderer.png(results()) == b"late"
            break
        except ChartUnavailable:
            assert time.monotonic() < deadline
            time.sleep(0.01)


def test_a_failed_drawing_is_unavailable_and_tried_again() -> None:
    calls: list[int] = []

    def render(found: Results) -> bytes:
        calls.append(1)
        raise RuntimeError("no")

    renderer = ChartRenderer(render)
    for _ in range(2):
        with pytest.raises(ChartUnavailable):
            renderer.png(results())
    assert calls == [1, 1]


def test_the_cache_is_bounded() -> None:
    renderer = ChartRenderer(lambda found: b"x", cache_size=2)
    for n in range(5):
        renderer.png(results({0: {0: n}}))
    assert len(renderer._cache) == 2


# --- through the app ------------------------------------------------------------------------


def get_png(client: falcon.testing.TestClient, url: str) -> falcon.testing.Result:
    return client.simulate_get(path(url))


def test_results_reply_shows_the_chart_and_it_loads(
    admin: Person, member: Person, client: falcon.testing.TestClient
) -> None:
    number = publish(admin)
    answer_all(member, number)
    url = chart_url(admin, number)
    assert url is not None and url.endswith(".png")
    assert url.startswith("https://bot.example.test/charts/")
    assert "[결과]" in admin.text  # the text is there too, whatever becomes of the image
    fetched = get_png(client, url)
    assert fetched.status_code == 200
    assert fetched.headers["content-type"] == "image/png"
    assert decode(fetched.content).size == (800, 400)


def test_the_chart_url_changes_when_a_new_answer_arrives(
    admin: Person, member: Person, person: Callable[[str], Person]
) -> None:
    number = publish(admin)
    answer_all(member, number)
    first = chart_url(admin, number)
    assert chart_url(admin, number) == first  # same counts, same URL: Kakao's cache is hit
    other = person("other-key")
    other.say("등록 박다른")
    answer_all(other, number)
    second = chart_url(admin, number)
    assert second != first


def test_a_tampered_chart_link_is_403_and_an_expired_one_410(
    admin: Person, member: Person, client: falcon.testing.TestClient, clock: Clock
) -> None:
    number = publish(admin)
    answer_all(member, number)
    url = chart_url(admin, number)
    assert url is not None
    token = url.rsplit("/", 1)[1].removesuffix(".png")
    flipped = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
    assert client.simulate_get(f"/charts/{flipped}.png").status_code == 403
    assert client.simulate_get("/charts/not-a-token.png").status_code == 403
    clock.advance(days=3)
    assert get_png(client, url).status_code == 410


def test_other_links_never_open_a_chart_nor_a_chart_link_anything_else(
    admin: Person, member: Person, client: falcon.testing.TestClient, clock: Clock
) -> None:
    number = publish(admin)
    answer_all(member, number)
    expires = int(clock().timestamp()) + 600
    for token in (
        sign_export_token(SECRET, number, 1, expires),
        sign_results_token(SECRET, number, 1, expires),
    ):
        assert client.simulate_get(f"/charts/{token}.png").status_code == 403
    chart = sign_chart_token(SECRET, number, 1, expires)
    assert client.simulate_get(f"/results/{chart}").status_code == 403
    assert client.simulate_get(f"/exports/{chart}").status_code == 403
    assert client.simulate_get(f"/exports/{chart}.xlsx").status_code == 403


def test_an_anonymous_survey_shows_no_chart_until_its_results_may_be_seen(
    admin: Person, person: Callable[[str], Person], client: falcon.testing.TestClient, clock: Clock
) -> None:
    from support.chat_helper import SURVEY_MESSAGE

    number = publish(admin, SURVEY_MESSAGE + "\n익명")
    people = [person(f"anon-{n}") for n in range(3)]
    for n, someone in enumerate(people):
        someone.say(f"등록 익명{n}")
        answer_all(someone, number)
    assert chart_url(admin, number) is None
    assert "textCard" in admin.last["template"]["outputs"][1]
    # Even a genuine chart token shows nothing while the survey is open.
    token = sign_chart_token(SECRET, number, 1, int(clock().timestamp()) + 600)
    assert client.simulate_get(f"/charts/{token}.png").status_code == 403
    admin.say(f"마감 {number}")
    url = chart_url(admin, number)
    assert url is not None
    assert get_png(client, url).status_code == 200


def test_a_survey_without_choice_questions_has_no_chart(admin: Person) -> None:
    number = publish(admin, "설문만들기 의견 수렴\nQ 건의사항\nQ 하고 싶은 말")
    card = results_card(admin, number)
    assert "thumbnail" not in card
    assert card["buttons"][0]["label"] == "결과 보기"


def test_a_chart_of_a_deleted_survey_is_gone(
    admin: Person, member: Person, client: falcon.testing.TestClient
) -> None:
    number = publish(admin)
    answer_all(member, number)
    url = chart_url(admin, number)
    assert url is not None
    admin.say(f"삭제 {number}")
    admin.tap("삭제 확인")
    assert get_png(client, url).status_code == 410


def test_the_image_card_keeps_kakaos_limits() -> None:
    from surveybot.kakao.limits import validate_reply
    from surveybot.kakao.reply import Button, Reply

    reply = (
        Reply()
        .text("결과")
        .image_card(
            "제" * 60,
            "설" * 300,
            "https://bot.example.test/charts/t.png",
            [Button.link("결과 보기", "https://x.kr")],
        )
    )
    payload = reply.to_dict()
    assert validate_reply(payload) == []
    card = payload["template"]["outputs"][1]["basicCard"]
    assert len(card["title"]) == 50 and len(card["description"]) == 230
    assert card["thumbnail"]["imageUrl"].endswith("/charts/t.png")
    broken = Reply().image_card("t", None, "ftp://nope").to_dict()
    assert "죄송합니다" in broken["template"]["outputs"][0]["simpleText"]["text"]


def test_a_head_request_gets_the_headers_only(
    admin: Person, member: Person, client: falcon.testing.TestClient
) -> None:
    number = publish(admin)
    answer_all(member, number)
    url = chart_url(admin, number)
    assert url is not None
    head = client.simulate_head(path(url))
    assert head.status_code == 200 and head.headers["content-type"] == "image/png"
    assert head.content == b""
