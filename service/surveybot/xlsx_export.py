"""The results as an Excel workbook: a sheet of responses and a sheet of the summary.

XlsxWriter in `constant_memory` mode keeps one row in memory and writes the rest to temporary
files; the finished workbook (a zip archive, complete only once every row is in) goes to an
anonymous temporary file that the download then streams in chunks. Memory stays flat with the
number of respondents (scripts/bench measures it); the time to the first byte grows with it,
which is why the CSV, streamed as it is read, stays the format for very large surveys.
Every text cell, headers included, goes through the CSV's formula guard and is written as a
string (never `write()`, which would turn a leading '=' into a formula).
"""

from __future__ import annotations

import tempfile
import unicodedata
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import IO, Any

from xlsxwriter import Workbook

from surveybot.domain import KST, ExportRow, QuestionKind, Results, Survey
from surveybot.export import answer_text, guard_cell, header

RESPONSES_SHEET = "응답"
SUMMARY_SHEET = "요약"
DATE_FORMAT = "yyyy-mm-dd hh:mm:ss"
WIDTH_MIN, WIDTH_MAX = 6, 60
DATE_WIDTH = 20
# Column widths are fitted to the header and the first rows: measuring every cell of a million
# rows would cost a sixth of the writing time for widths no one could tell apart.
WIDTH_SAMPLE_ROWS = 1000
CHUNK_BYTES = 64 * 1024


def display_width(text: str) -> int:
    """Columns a text takes in a spreadsheet: Hangul and other wide characters count two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


class _Widths:
    """The widest cell seen per column, for column widths that fit Korean text."""

    def __init__(self, count: int) -> None:
        self.widths = [WIDTH_MIN] * count

    def see(self, column: int, text: str) -> None:
        if self.widths[column] < WIDTH_MAX:
            self.widths[column] = min(max(self.widths[column], display_width(text) + 2), WIDTH_MAX)


def write_workbook(
    target: IO[bytes], survey: Survey, rows: Iterable[ExportRow], found: Results, now: datetime
) -> int:
    """Write the workbook to `target`; return the number of respondents written."""
    workbook = Workbook(target, {"constant_memory": True, "strings_to_formulas": False})
    bold = workbook.add_format({"bold": True})
    date = workbook.add_format({"num_format": DATE_FORMAT})
    percent = workbook.add_format({"num_format": "0%"})
    responses = workbook.add_worksheet(RESPONSES_SHEET)
    summary = workbook.add_worksheet(SUMMARY_SHEET)
    written = _write_responses(responses, survey, rows, bold, date)
    _write_summary(summary, found, now, bold, percent)
    workbook.close()
    return written


def _write_responses(
    sheet: Any, survey: Survey, rows: Iterable[ExportRow], bold: Any, date: Any
) -> int:
    titles = header(survey)
    widths = _Widths(len(titles))
    for column, title in enumerate(titles):
        sheet.write_string(0, column, title, bold)
        widths.see(column, title)
    sheet.freeze_panes(1, 0)
    leading = 1 if survey.anonymous else 4
    written = 0
    for number, row in enumerate(rows, start=1):
        written = number
        if survey.anonymous:
            sheet.write_number(number, 0, number)
        else:
            for column, value in enumerate((row.name, row.member_no, row.department)):
                _text(sheet, widths, number, column, value or "")
            if row.submitted_at is not None:
                sheet.write_datetime(number, 3, _kst(row.submitted_at), date)
        for index, question in enumerate(survey.questions):
            answer = row.answers[index] if index < len(row.answers) else None
            _text(sheet, widths, number, leading + index, answer_text(question, answer))
    for column, width in enumerate(widths.widths):
        sheet.set_column(column, column, DATE_WIDTH if (column == 3 and leading == 4) else width)
    return written


def _text(sheet: Any, widths: _Widths, row: int, column: int, value: str) -> None:
    if value:
        cell = guard_cell(value)
        sheet.write_string(row, column, cell)
        if row <= WIDTH_SAMPLE_ROWS:
            widths.see(column, cell)


def _kst(moment: datetime) -> datetime:
    """A naive Korea-time datetime: Excel dates carry no zone, and the file says KST."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(KST).replace(tzinfo=None)


def _write_summary(sheet: Any, found: Results, now: datetime, bold: Any, percent: Any) -> None:
    survey = found.survey
    rate = found.respondents / found.population if found.population else 0
    state = "진행 중" if survey.is_open(now) else "마감됨"
    deadline = _kst(survey.deadline).strftime("%Y-%m-%d %H:%M") if survey.deadline else "없음"
    facts: list[tuple[str, str | int | float]] = [
        ("설문", f"{survey.id}. {survey.title}"),
        ("상태", state + (" · 익명" if survey.anonymous else "")),
        ("마감(KST)", deadline),
        ("응답", found.respondents),
        ("대상", found.population),
        ("응답률", rate),
        ("내려받은 시각(KST)", _kst(now).strftime("%Y-%m-%d %H:%M:%S")),
    ]
    row = 0
    for label, value in facts:
        sheet.write_string(row, 0, label, bold)
        if isinstance(value, str):
            sheet.write_string(row, 1, guard_cell(value))
        else:
            sheet.write_number(row, 1, value, percent if label == "응답률" else None)
        row += 1
    for index, question in enumerate(survey.questions):
        row += 1
        sheet.write_string(row, 0, guard_cell(f"Q{index + 1}. {question.title}"), bold)
        row += 1
        if question.kind is QuestionKind.TEXT:
            sheet.write_string(row, 0, "자유 응답")
            sheet.write_number(row, 1, found.text_counts.get(index, 0))
            row += 1
            continue
        counts = found.counts.get(index, {})
        for option_index, option in enumerate(question.options):
            count = counts.get(option_index, 0)
            sheet.write_string(row, 0, guard_cell(option))
            sheet.write_number(row, 1, count)
            share = count / found.respondents if found.respondents else 0
            sheet.write_number(row, 2, share, percent)
            row += 1
    sheet.set_column(0, 0, 40)
    sheet.set_column(1, 2, 24)


def xlsx_file(
    survey: Survey, rows: Iterable[ExportRow], found: Results, now: datetime
) -> IO[bytes]:
    """The workbook in an anonymous temporary file, positioned at its start."""
    target = tempfile.TemporaryFile()  # gone when closed, or when the process dies
    try:
        write_workbook(target, survey, rows, found, now)
        target.seek(0)
    except BaseException:
        target.close()
        raise
    return target


def file_chunks(source: IO[bytes], size: int = CHUNK_BYTES) -> Iterator[bytes]:
    """Read `source` in chunks of `size` bytes."""
    while chunk := source.read(size):
        yield chunk
