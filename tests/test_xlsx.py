"""The .xlsx results file: opened with openpyxl as Excel would, cell by cell."""

from __future__ import annotations

import io
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import falcon.testing
import openpyxl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support.chat_fixtures import answer_all, publish
from support.chat_helper import SURVEY_MESSAGE, Clock, Person
from support.results_links import download_urls, path
from surveybot.config import DEV_SECRET_KEY
from surveybot.domain import ExportRow, Question, QuestionKind, Results, Survey
from surveybot.export import FORMULA_STARTS
from surveybot.store.base import Store
from surveybot.tokens import sign_export_token
from surveybot.xlsx_export import RESPONSES_SHEET, SUMMARY_SHEET, display_width, write_workbook

NOW = datetime(2026, 12, 11, 0, 30, tzinfo=UTC)
QUESTIONS = (
    Question(QuestionKind.SINGLE, "참석하시나요?", ("참석", "불참")),
    Question(QuestionKind.MULTI, "선호 메뉴", ("한식", "중식", "양식")),
    Question(QuestionKind.TEXT, "건의사항"),
)


def survey(anonymous: bool = False, questions: tuple[Question, ...] = QUESTIONS) -> Survey:
    created = datetime(2026, 11, 1, tzinfo=UTC)
    return Survey(
        7, "12월 송년회", "", questions, None, anonymous, NOW - timedelta(hours=1), created
    )


def summary_of(target: Survey, respondents: int) -> Results:
    return Results(target, respondents, 10, {0: {0: 1, 1: 1}, 1: {0: 2, 1: 0, 2: 1}}, {2: 1})


def workbook(target: Survey, rows: list[ExportRow]) -> openpyxl.Workbook:
    buffer = io.BytesIO()
    write_workbook(buffer, target, rows, summary_of(target, len(rows)), NOW)
    buffer.seek(0)
    return openpyxl.load_workbook(buffer)


ROWS = [
    ExportRow(
        (0, [0, 2], "주차 공간"),
        "김철수",
        "1001",
        "총무팀",
        datetime(2026, 12, 1, 9, 5, tzinfo=UTC),
    ),
    ExportRow(
        (1, [0], ""), '=HYPERLINK("x")', "+82", "-", datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    ),
]


def test_a_sheet_of_responses_and_a_sheet_of_the_summary() -> None:
    book = workbook(survey(), ROWS)
    assert book.sheetnames == [RESPONSES_SHEET, SUMMARY_SHEET]
    sheet = book[RESPONSES_SHEET]
    assert [c.value for c in sheet[1]] == [
        "이름", "번호", "부서", "제출 시각(KST)", "Q1. 참석하시나요?", "Q2. 선호 메뉴", "Q3. 건의사항"
    ]  # fmt: skip
    assert sheet.freeze_panes == "A2"
    first = [c.value for c in sheet[2]]
    assert first[:3] == ["김철수", "1001", "총무팀"]
    assert first[4:] == ["참석", "한식; 양식", "주차 공간"]


def test_times_are_real_excel_dates_in_korea_time() -> None:
    sheet = workbook(survey(), ROWS)[RESPONSES_SHEET]
    cell = sheet["D2"]
    assert cell.is_date
    assert cell.value == datetime(2026, 12, 1, 18, 5)  # 09:05 UTC is 18:05 KST
    assert sheet["D3"].value == datetime(2026, 12, 2, 0, 0)  # across midnight in Korea
    assert "yy" in cell.number_format and "hh:mm" in cell.number_format


def test_every_text_cell_is_guarded_and_none_is_a_formula() -> None:
    sheet = workbook(survey(), ROWS)[RESPONSES_SHEET]
    assert [c.value for c in sheet[3]][:3] == ['\'=HYPERLINK("x")', "'+82", "'-"]
    for row in sheet.iter_rows():
        for cell in row:
            assert cell.data_type != "f"


def test_columns_are_wide_enough_for_korean_text() -> None:
    long_answer = "가" * 30
    rows = [ExportRow((0, [1], long_answer), "홍길동", None, None, NOW)]
    sheet = workbook(survey(), rows)[RESPONSES_SHEET]
    assert sheet.column_dimensions["G"].width >= display_width(long_answer)
    assert sheet.column_dimensions["D"].width >= len("2026-12-01 18:05:00")
    assert display_width("한글ab") == 6


def test_anonymous_files_carry_a_number_and_no_names_or_times() -> None:
    rows = [ExportRow((1, [1], "좋아요")), ExportRow((0, [0], ""))]
    sheet = workbook(survey(anonymous=True), rows)[RESPONSES_SHEET]
    assert [c.value for c in sheet[1]][0] == "응답"
    assert [c.value for c in sheet[2]] == [1, "불참", "중식", "좋아요"]
    assert [c.value for c in sheet[3]] == [2, "참석", "한식", None]


def test_the_summary_has_counts_and_shares() -> None:
    sheet = workbook(survey(), ROWS)[SUMMARY_SHEET]
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert ["응답", 2, None] in values
    assert ["한식", 2, 1] in values  # 2 of 2 respondents: 100 %
    assert ["불참", 1, 0.5] in values
    assert ["자유 응답", 1, None] in values
    assert sheet["C" + str(values.index(["불참", 1, 0.5]) + 1)].number_format == "0%"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=5))
def test_the_guard_applies_to_every_text_cell(texts: list[str]) -> None:
    text_only = tuple(Question(QuestionKind.TEXT, text[:10] or "q") for text in texts)
    rows = [ExportRow(tuple(texts), texts[0], texts[-1], None, NOW)]
    sheet = workbook(survey(questions=text_only), rows)[RESPONSES_SHEET]
    for row in sheet.iter_rows():
        for cell in row:
            assert cell.data_type != "f"
            if isinstance(cell.value, str):
                assert cell.value[:1] not in FORMULA_STARTS


def many_rows(count: int) -> Iterator[ExportRow]:
    for n in range(count):
        answers = (n % 2, [0, 2], f"의견 {n} 입니다")
        yield ExportRow(answers, f"사람{n}", str(n), "부서", NOW)


def peak_bytes(count: int) -> int:
    tracemalloc.start()
    try:
        write_workbook(io.BytesIO(), survey(), many_rows(count), summary_of(survey(), count), NOW)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_stays_flat_with_the_number_of_respondents() -> None:
    # In memory the finished zip grows (BytesIO); writing the rows does not. The download
    # writes to a temporary file instead; scripts/bench measures the real process at 1M.
    small, large = peak_bytes(500), peak_bytes(10_000)
    assert large < small * 2 + 4 * 1024 * 1024


# --- through the app ------------------------------------------------------------------------


def download(client: falcon.testing.TestClient, url: str) -> falcon.testing.Result:
    return client.simulate_get(path(url))


def test_download_offers_csv_and_xlsx_and_the_workbook_opens(
    admin: Person, member: Person, client: falcon.testing.TestClient
) -> None:
    number = publish(admin)
    answer_all(member, number)
    urls = download_urls(admin, number)
    assert set(urls) == {"CSV 내려받기", "엑셀 내려받기"}
    assert urls["엑셀 내려받기"] == urls["CSV 내려받기"] + ".xlsx"
    result = download(client, urls["엑셀 내려받기"])
    assert result.status_code == 200
    assert result.headers["content-type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert result.headers["cache-control"] == "no-store"
    disposition = result.headers["content-disposition"]
    assert f'filename="survey-{number}-' in disposition and disposition.count(".xlsx") == 2
    assert unquote(disposition.split("filename*=UTF-8''")[1]).startswith("12월 송년회 참석 조사-")
    book = openpyxl.load_workbook(io.BytesIO(result.content))
    sheet = book[RESPONSES_SHEET]
    row = [c.value for c in sheet[2]]
    assert row[0] == "이회원"
    assert row[3] == datetime(2026, 11, 25, 12, 0)  # the test clock, 03:00 UTC, in Korea time
    assert row[4:] == ["참석", "한식; 양식", "주차 공간이 있으면 좋겠습니다"]


def test_a_tampered_xlsx_link_is_403_and_an_expired_one_410(
    admin: Person, member: Person, client: falcon.testing.TestClient, clock: Clock
) -> None:
    number = publish(admin)
    url = download_urls(admin, number)["엑셀 내려받기"]
    token = path(url).removeprefix("/exports/").removesuffix(".xlsx")
    flipped = token[:8] + ("A" if token[8] != "A" else "B") + token[9:]
    assert client.simulate_get(f"/exports/{flipped}.xlsx").status_code == 403
    clock.advance(minutes=11)
    assert download(client, url).status_code == 410


def test_a_demoted_admin_gets_no_workbook(
    admin: Person, person: Callable[[str], Person], client: falcon.testing.TestClient
) -> None:
    number = publish(admin)
    url = download_urls(admin, number)["엑셀 내려받기"]
    other = person("other-admin")
    other.say("등록 나부관")
    admin.say("관리자지정 나부관")
    other.say("관리자해제 김관리")
    assert download(client, url).status_code == 403


def test_an_anonymous_survey_gives_no_workbook_while_hidden(
    admin: Person, person: Callable[[str], Person], client: falcon.testing.TestClient
) -> None:
    number = publish(admin, SURVEY_MESSAGE + "\n익명")
    for n in range(3):
        someone = person(f"anon-{n}")
        someone.say(f"등록 익명{n}")
        answer_all(someone, number)
    assert "결과 파일은" in admin.say(f"다운로드 {number}")  # no link while open
    admin.say(f"마감 {number}")
    result = download(client, download_urls(admin, number)["엑셀 내려받기"])
    sheet = openpyxl.load_workbook(io.BytesIO(result.content))[RESPONSES_SHEET]
    assert [c.value for c in sheet[1]][0] == "응답"
    assert [c.value for c in sheet[2]][0] == 1


@pytest.mark.parametrize("suffix", ["", ".xlsx"], ids=["csv", "xlsx"])
def test_a_link_to_hidden_anonymous_results_gets_no_file(
    store: Store,
    admin: Person,
    person: Callable[[str], Person],
    client: falcon.testing.TestClient,
    clock: Clock,
    suffix: str,
) -> None:
    """The chat never offers a file of an open anonymous survey; a link made anyway (a genuine
    signature, say from a bug or an old release) is refused at download too, for either file."""
    number = publish(admin, SURVEY_MESSAGE + "\n익명")
    for n in range(3):
        someone = person(f"anon-{n}")
        someone.say(f"등록 익명{n}")
        answer_all(someone, number)
    boss = store.find_users("김관리")[0]
    expires = int(clock().timestamp()) + 600
    token = sign_export_token(DEV_SECRET_KEY.encode(), number, boss.id, expires)
    assert client.simulate_get(f"/exports/{token}{suffix}").status_code == 403  # still open
    admin.say(f"마감 {number}")
    assert client.simulate_get(f"/exports/{token}{suffix}").status_code == 200  # closed, 3 answers
