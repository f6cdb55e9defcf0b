"""Tests of the results file: format, Excel safety, laziness and download headers."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import unquote

import pytest

from surveybot.domain import ExportRow, Question, QuestionKind, Survey
from surveybot.export import (
    content_disposition,
    csv_chunks,
    export_filename,
    guard_cell,
)

CREATED = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
QUESTIONS = (
    Question(QuestionKind.SINGLE, "참석하시나요?", ("예", "아니오")),
    Question(QuestionKind.MULTI, "메뉴", ("한식", "중식", "양식")),
    Question(QuestionKind.TEXT, "하고 싶은 말"),
)


def make_survey(
    *, anonymous: bool = False, questions: tuple[Question, ...] = QUESTIONS, title: str = "송년회"
) -> Survey:
    return Survey(3, title, "", questions, None, anonymous, None, CREATED)


def parse(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    text = data.decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text, newline="")))


def export(survey: Survey, rows: list[ExportRow], **kwargs: int) -> bytes:
    return b"".join(csv_chunks(survey, rows, **kwargs))


def test_named_header_and_rows() -> None:
    row = ExportRow(
        (0, [2, 0], "좋아요"),
        "홍길동",
        "1001",
        "총무과",
        datetime(2026, 11, 24, 15, 30, tzinfo=UTC),
    )
    table = parse(export(make_survey(), [row]))
    assert table[0] == [
        "이름",
        "번호",
        "부서",
        "제출 시각(KST)",
        "Q1. 참석하시나요?",
        "Q2. 메뉴",
        "Q3. 하고 싶은 말",
    ]
    # 15:30 UTC is 00:30 the next day in Seoul; multi labels follow option order.
    assert table[1] == [
        "홍길동",
        "1001",
        "총무과",
        "2026-11-25 00:30:00",
        "예",
        "한식; 양식",
        "좋아요",
    ]


def test_bom_crlf_and_every_field_quoted() -> None:
    row = ExportRow((1, [1], 'say "hi"'), "김", None, None, None)
    data = export(make_survey(), [row])
    assert data.startswith(b'\xef\xbb\xbf"')
    lines = data[3:].decode().split("\r\n")
    assert lines[-1] == ""
    assert lines[1] == '"김","","","","아니오","중식","say ""hi"""'
    assert "\n" not in data.decode().replace("\r\n", "")


def test_anonymous_has_running_number_and_no_identity() -> None:
    rows = [
        ExportRow((0, [], ""), "유출 금지", "9", "비밀", datetime(2026, 1, 1, tzinfo=UTC)),
        ExportRow((1, [1], "x"), None, None, None, None),
    ]
    data = export(make_survey(anonymous=True), rows)
    table = parse(data)
    assert table[0] == ["응답", "Q1. 참석하시나요?", "Q2. 메뉴", "Q3. 하고 싶은 말"]
    assert table[1] == ["1", "예", "", ""]
    assert table[2] == ["2", "아니오", "중식", "x"]
    text = data.decode("utf-8-sig")
    assert "유출" not in text and "비밀" not in text and "2026" not in text
    assert "'1" not in text  # the running number stays a number


def test_out_of_range_and_mismatched_answers_render_empty() -> None:
    rows = [
        ExportRow((5, [0, 7, -1, 2], 3)),
        ExportRow((-1, "oops", ["no"])),  # type: ignore[list-item]  # corrupt data on purpose
        ExportRow((True, [True], "")),
        ExportRow(()),  # fewer answers than questions
    ]
    table = parse(export(make_survey(), rows))
    assert table[1][4:] == ["", "한식; 양식", ""]
    assert table[2][4:] == ["", "", ""]
    assert table[3][4:] == ["", "", ""]
    assert table[4] == ["", "", "", "", "", "", ""]


def test_multi_answer_deduplicated_in_option_order() -> None:
    table = parse(export(make_survey(), [ExportRow((0, [2, 0, 2], "ok"))]))
    assert table[1][5] == "한식; 양식"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+82 10", "'+82 10"),
        ("-5", "'-5"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("\nx", "'\nx"),
        ("\0=cmd", "'=cmd"),
        ("\0abc", "'abc"),
        ("a\0b", "ab"),
        ("plain", "plain"),
        ("a=b", "a=b"),
        ("", ""),
        ("'already", "'already"),
    ],
)
def test_guard_cell(raw: str, expected: str) -> None:
    assert guard_cell(raw) == expected


def test_guard_applies_to_every_text_cell_and_header() -> None:
    questions = (
        Question(QuestionKind.SINGLE, '=HYPERLINK("http://x")', ("=cmd|' /C calc'!A0", "b")),
        Question(QuestionKind.TEXT, "t"),
    )
    survey = make_survey(questions=questions)
    row = ExportRow((0, "@evil"), "=name", "+1", "-dept", datetime(2026, 1, 1, tzinfo=UTC))
    table = parse(export(survey, [row]))
    assert table[0][4] == 'Q1. =HYPERLINK("http://x")'  # starts with Q: already inert
    assert table[1][:3] == ["'=name", "'+1", "'-dept"]
    assert table[1][4:] == ["'=cmd|' /C calc'!A0", "'@evil"]


def test_header_guard_with_nul_in_title() -> None:
    survey = make_survey(questions=(Question(QuestionKind.TEXT, "a\0b"),))
    assert parse(export(survey, []))[0][-1] == "Q1. ab"


def test_multi_joined_labels_are_guarded() -> None:
    survey = make_survey(questions=(Question(QuestionKind.MULTI, "m", ("-a", "b")),))
    assert parse(export(survey, [ExportRow(([0, 1],))]))[1][-1] == "'-a; b"


def test_naive_and_other_zone_times_are_shown_in_kst() -> None:
    est = timezone(timedelta(hours=-5))
    rows = [
        ExportRow((), "a", submitted_at=datetime(2026, 3, 1, 0, 0)),  # naive: taken as UTC
        ExportRow((), "b", submitted_at=datetime(2026, 3, 1, 0, 0, tzinfo=est)),
    ]
    table = parse(export(make_survey(), rows))
    assert table[1][3] == "2026-03-01 09:00:00"
    assert table[2][3] == "2026-03-01 14:00:00"


def test_empty_export_is_header_only() -> None:
    chunks = list(csv_chunks(make_survey(), []))
    assert len(chunks) == 1
    assert len(parse(chunks[0])) == 1


def test_chunks_follow_chunk_rows() -> None:
    rows = [ExportRow((0, [], str(i))) for i in range(7)]
    chunks = list(csv_chunks(make_survey(), rows, chunk_rows=3))
    assert len(chunks) == 1 + 3  # header, 3 + 3 + 1 rows
    assert chunks[0].startswith(b"\xef\xbb\xbf")
    assert not any(c.startswith(b"\xef\xbb\xbf") for c in chunks[1:])
    assert len(parse(b"".join(chunks))) == 8


def test_chunk_rows_must_be_positive() -> None:
    with pytest.raises(ValueError):
        next(csv_chunks(make_survey(), [], chunk_rows=0))


def test_rows_are_consumed_incrementally() -> None:
    pulled = 0

    def rows() -> Iterator[ExportRow]:
        nonlocal pulled
        for i in range(10_000):
            pulled += 1
            yield ExportRow((0, [1], f"text {i}"), "이름", str(i), "부서")

    chunks = csv_chunks(make_survey(), rows(), chunk_rows=100)
    next(chunks)
    assert pulled == 0  # the header needs no rows
    next(chunks)
    assert pulled == 100
    next(chunks)
    assert pulled == 200


def test_memory_stays_flat_over_200k_rows() -> None:
    def rows() -> Iterator[ExportRow]:
        for i in range(200_000):
            yield ExportRow((i % 2, [0, 2], f"응답 {i}"), "이름", str(i), "부서")

    # Live object counts are cheap to sample (tracemalloc would slow this test five-fold).
    total, blocks = 0, []
    for chunk in csv_chunks(make_survey(), rows()):
        total += len(chunk)
        blocks.append(sys.getallocatedblocks())
    assert len(blocks) == 1 + 400
    assert total > 8_000_000
    # Holding 200,000 rows would add hundreds of thousands of live objects.
    assert max(blocks[10:]) - blocks[10] < 20_000


def test_export_filename_uses_kst_date() -> None:
    # 16:00 UTC on the 24th is already the 25th in Seoul.
    now = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)
    assert export_filename(make_survey(), now) == "survey-3-20261125.csv"


def test_content_disposition_carries_ascii_and_korean_names() -> None:
    now = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
    value = content_disposition(make_survey(title='  송년회 / 2026 "최종"\\ \u202e\x07 '), now)
    assert value.isascii()
    assert value.startswith('attachment; filename="survey-3-20261125.csv"; ')
    encoded = value.split("filename*=UTF-8''", 1)[1]
    assert all(c.isalnum() or c in "%-._~" for c in encoded)
    assert unquote(encoded) == "송년회 _ 2026 _최종__-20261125.csv"


def test_content_disposition_without_usable_title() -> None:
    now = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
    value = content_disposition(make_survey(title=" \x00\u200b "), now)
    assert value == 'attachment; filename="survey-3-20261125.csv"'


def test_content_disposition_trims_long_titles() -> None:
    now = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
    value = content_disposition(make_survey(title="가" * 300), now)
    name = unquote(value.split("''", 1)[1])
    assert name == "가" * 50 + "-20261125.csv"


def test_content_disposition_names_the_workbook_too() -> None:
    now = datetime(2026, 12, 10, 16, 0, tzinfo=UTC)  # 2026-12-11 in Korea
    value = content_disposition(make_survey(title="송년회"), now, "xlsx")
    assert 'filename="survey-3-20261211.xlsx"' in value
    assert unquote(value.split("filename*=UTF-8''")[1]) == "송년회-20261211.xlsx"
