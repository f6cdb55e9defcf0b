"""The results file: a streamed, Excel-safe CSV of a survey's responses."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import TypeGuard
from urllib.parse import quote

from surveybot.domain import KST, TITLE_MAX, Answer, ExportRow, Question, QuestionKind, Survey

BOM = "\ufeff"
# Excel, LibreOffice and Google Sheets evaluate a cell starting with one of these as a formula.
FORMULA_STARTS = frozenset("=+-@\t\r\n\0")
NAMED_COLUMNS = ("이름", "번호", "부서", "제출 시각(KST)")
ANONYMOUS_COLUMN = "응답"
MULTI_SEPARATOR = "; "
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# Path separators, quotes and the characters Windows refuses in file names.
_UNSAFE_FILENAME = re.compile(r'[/\\"<>:|?*]')


def guard_cell(text: str) -> str:
    """Neutralise a cell a spreadsheet would evaluate as a formula, and drop NUL characters."""
    cleaned = text.replace("\0", "")
    # Check both forms: a leading NUL hides the character behind it from naive checks.
    if text[:1] in FORMULA_STARTS or cleaned[:1] in FORMULA_STARTS:
        return "'" + cleaned
    return cleaned


def header(survey: Survey) -> list[str]:
    """Return the guarded header row: identity columns (or a running number), then questions."""
    leading = [ANONYMOUS_COLUMN] if survey.anonymous else list(NAMED_COLUMNS)
    titles = [f"Q{n}. {q.title}" for n, q in enumerate(survey.questions, start=1)]
    return [guard_cell(cell) for cell in leading + titles]


def answer_text(question: Question, answer: Answer | None) -> str:
    """Render one answer as text; anything that does not fit the question renders as ""."""
    if question.kind is QuestionKind.TEXT:
        return answer if isinstance(answer, str) else ""
    if question.kind is QuestionKind.SINGLE:
        return question.options[answer] if _in_range(answer, question) else ""
    if not isinstance(answer, list):
        return ""
    # Option order, each once, out-of-range indexes dropped: the file never shows stale data.
    picked = sorted({i for i in answer if _in_range(i, question)})
    return MULTI_SEPARATOR.join(question.options[i] for i in picked)


def format_kst(moment: datetime | None) -> str:
    """Format an instant in Korea time; naive datetimes are taken as UTC."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(KST).strftime(TIME_FORMAT)


def row_cells(survey: Survey, row: ExportRow, number: int) -> list[str | int]:
    """Return the cells of one respondent; anonymous rows never carry identities or times."""
    answers = [
        guard_cell(answer_text(question, row.answers[i] if i < len(row.answers) else None))
        for i, question in enumerate(survey.questions)
    ]
    if survey.anonymous:
        # A real number, left unguarded so spreadsheets can sort and sum it.
        return [number, *answers]
    identity = [row.name or "", row.member_no or "", row.department or ""]
    return [*(guard_cell(cell) for cell in identity), format_kst(row.submitted_at), *answers]


def csv_chunks(
    survey: Survey, rows: Iterable[ExportRow], *, chunk_rows: int = 500
) -> Iterator[bytes]:
    """Stream the results as UTF-8 (with BOM) CSV, a chunk per chunk_rows rows, lazily."""
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be positive")
    buffer = io.StringIO()
    # QUOTE_ALL and doubled quotes; the default line terminator is already CRLF.
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    buffer.write(BOM)
    writer.writerow(header(survey))
    # The header goes out at once, so the download starts before the first row is fetched.
    yield _drain(buffer)
    pending = 0
    for number, row in enumerate(rows, start=1):
        writer.writerow(row_cells(survey, row, number))
        pending += 1
        if pending >= chunk_rows:
            yield _drain(buffer)
            pending = 0
    if pending:
        yield _drain(buffer)


def export_filename(survey: Survey, now: datetime, extension: str = "csv") -> str:
    """Return the ASCII file name of a download, dated in Korea time."""
    return f"survey-{survey.id}-{_kst_date(now)}.{extension}"


def content_disposition(survey: Survey, now: datetime, extension: str = "csv") -> str:
    """Return a Content-Disposition with an ASCII name and the Korean title (RFC 5987/6266)."""
    ascii_name = export_filename(survey, now, extension)
    title = _safe_title(survey.title)
    if not title:
        return f'attachment; filename="{ascii_name}"'
    unicode_name = f"{title}-{_kst_date(now)}.{extension}"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(unicode_name, safe='')}"


def _drain(buffer: io.StringIO) -> bytes:
    data = buffer.getvalue().encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    return data


def _in_range(index: object, question: Question) -> TypeGuard[int]:
    # bool is an int subclass (True must not pass as option 1); negative indexes count from the end.
    if not isinstance(index, int) or isinstance(index, bool):
        return False
    return 0 <= index < len(question.options)


def _kst_date(now: datetime) -> str:
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now.astimezone(KST).strftime("%Y%m%d")


def _safe_title(title: str) -> str:
    # Control and format characters (e.g. U+202E, which reverses how a name reads) are dropped.
    visible = "".join(_filename_char(c) for c in title)
    cleaned = _UNSAFE_FILENAME.sub("_", visible)
    cleaned = " ".join(cleaned.split())[:TITLE_MAX].strip()
    # A leading dot would make a hidden file on some systems.
    return cleaned.lstrip(".").strip()


def _filename_char(char: str) -> str:
    if char.isspace():
        return " "
    return "" if unicodedata.category(char).startswith("C") else char
