"""Roster import and export as the CSV files office admins actually have (Excel, CP949 or UTF-8)."""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterable, Iterator

from surveybot.domain import DEPARTMENT_MAX, MEMBER_NO_MAX, NAME_MAX, RosterEntry
from surveybot.export import guard_cell

COLUMN_ALIASES = {
    "name": ("name", "이름", "성명"),
    "member_no": ("member_no", "number", "no", "번호", "사번", "학번"),
    "department": ("department", "dept", "부서", "소속"),
}
_ALIAS_TO_FIELD = {alias: field for field, names in COLUMN_ALIASES.items() for alias in names}
_DELIMITERS = (",", "\t", ";")
EXPORT_HEADER = ("이름", "번호", "부서", "등록여부")
REGISTERED, UNREGISTERED = "등록", "미등록"
_SAVE_AS_HINT = (
    "엑셀에서 'CSV UTF-8' 또는 'CSV (쉼표로 분리)'로 저장해 주세요. / Save as CSV from Excel."
)


class RosterFileError(ValueError):
    """The roster file cannot be read; the message, in Korean and English, names the line."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def read_roster_csv(data: bytes) -> list[RosterEntry]:
    """Parse a roster CSV (UTF-8 with or without BOM, or CP949) into entries, strictly."""
    rows = _numbered_rows(_decode(data))
    header = next(rows, None)
    if header is None:
        raise RosterFileError(f"파일이 비어 있습니다. / The file is empty. {_SAVE_AS_HINT}")
    columns = _columns(*header)
    entries: list[RosterEntry] = []
    seen: dict[tuple[str, str | None], int] = {}
    for line, cells in rows:
        entry = _entry(line, cells, columns)
        key = (entry.name, entry.member_no)
        if key in seen:
            raise RosterFileError(
                f"{seen[key]}번째 줄과 {line}번째 줄이 같은 사람입니다 ({_who(entry)}). "
                f"/ Lines {seen[key]} and {line} are the same person.",
                line,
            )
        seen[key] = line
        entries.append(entry)
    return entries


def write_roster_csv(entries: Iterable[tuple[RosterEntry, str | None]]) -> bytes:
    """Write (entry, user key or None) pairs as an Excel-friendly, formula-safe CSV."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(EXPORT_HEADER)
    # The second item is the person's Kakao user key (None if unregistered): only a yes/no leaves.
    for entry, user_key in entries:
        status = REGISTERED if user_key else UNREGISTERED
        cells = (entry.name, entry.member_no or "", entry.department or "", status)
        writer.writerow([guard_cell(cell) for cell in cells])
    # The BOM makes Korean Excel read UTF-8 instead of guessing CP949.
    return buffer.getvalue().encode("utf-8-sig")


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise RosterFileError(
            f"유니코드(UTF-16) 텍스트 파일은 읽을 수 없습니다. / UTF-16 files are not supported. "
            f"{_SAVE_AS_HINT}"
        )
    for encoding in ("utf-8-sig", "cp949"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise RosterFileError(
        f"파일의 문자 인코딩을 알 수 없습니다 (UTF-8, CP949 아님). "
        f"/ Unknown text encoding (neither UTF-8 nor CP949). {_SAVE_AS_HINT}"
    )


def _numbered_rows(text: str) -> Iterator[tuple[int, list[str]]]:
    """Yield non-blank rows with the line each one starts on (quoted cells may span lines)."""
    # strict: an unclosed quote must not silently swallow the rows after it.
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=True)
    start = 1
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                yield start, cells
            start = reader.line_num + 1
    except csv.Error as exc:
        raise RosterFileError(
            f"{start}번째 줄을 CSV로 읽을 수 없습니다. / Line {start} is not valid CSV ({exc}).",
            start,
        ) from exc


def _delimiter(text: str) -> str:
    # Excel in some locales writes ';', and "text (tab delimited)" writes tabs: follow the header.
    first = text.lstrip("\r\n").split("\n", 1)[0]
    return max(_DELIMITERS, key=first.count) if any(d in first for d in _DELIMITERS) else ","


def _columns(line: int, header: list[str]) -> dict[str, int]:
    """Map field names to column positions, from a header of Korean or English names."""
    columns: dict[str, int] = {}
    for position, raw in enumerate(header):
        field = _ALIAS_TO_FIELD.get(_normalise(raw))
        if field is None:
            continue  # extra columns (e.g. 등록여부 from our own export) are ignored
        if field in columns:
            raise RosterFileError(
                f"{line}번째 줄(머리글)에 '{raw.strip()}' 같은 열이 두 번 있습니다. "
                f"/ Line {line} (header) has the column '{raw.strip()}' twice.",
                line,
            )
        columns[field] = position
    if "name" not in columns:
        raise RosterFileError(
            f"{line}번째 줄(머리글)에 '이름' 열이 없습니다. "
            f"첫 줄에 이름, 번호, 부서 같은 열 이름을 적어 주세요. "
            f"/ Line {line} must be a header with a 'name' column "
            f"(name, member_no, department).",
            line,
        )
    return columns


def _normalise(raw: str) -> str:
    # "Member No.", "member-no" and " 이름 " all name a known column.
    text = raw.strip().lstrip("\ufeff").strip().lower().rstrip(".")
    return "_".join(text.replace("-", " ").replace("_", " ").split())


def _entry(line: int, cells: list[str], columns: dict[str, int]) -> RosterEntry:
    """Build the entry of a non-blank row; a row with data but no name is an error."""
    values = {field: _cell(cells, pos) for field, pos in columns.items()}
    name = values.get("name")
    if name is None:
        raise RosterFileError(f"{line}번째 줄에 이름이 없습니다. / Line {line} has no name.", line)
    member_no, department = values.get("member_no"), values.get("department")
    if len(name) > NAME_MAX:
        raise RosterFileError(
            f"{line}번째 줄: 이름은 {NAME_MAX}자까지입니다. "
            f"/ Line {line}: names are at most {NAME_MAX} characters.",
            line,
        )
    if member_no is not None and len(member_no) > MEMBER_NO_MAX:
        raise RosterFileError(
            f"{line}번째 줄: 번호는 {MEMBER_NO_MAX}자까지입니다. "
            f"/ Line {line}: numbers are at most {MEMBER_NO_MAX} characters.",
            line,
        )
    if department is not None and len(department) > DEPARTMENT_MAX:
        raise RosterFileError(
            f"{line}번째 줄: 부서는 {DEPARTMENT_MAX}자까지입니다. "
            f"/ Line {line}: departments are at most {DEPARTMENT_MAX} characters.",
            line,
        )
    return RosterEntry(name, member_no, department)


def _cell(cells: list[str], position: int) -> str | None:
    # Rows shorter than the header are normal in hand-edited files.
    raw = cells[position] if position < len(cells) else ""
    # Names end up in chat bubbles: line breaks, tabs and other control characters go.
    # NFC, as registrations are: a name typed on a Mac (NFD) must match the roster's.
    raw = unicodedata.normalize("NFC", raw)
    value = " ".join("".join(c for c in raw if c.isspace() or c.isprintable()).split())
    return value or None


def _who(entry: RosterEntry) -> str:
    return f"{entry.name} {entry.member_no}" if entry.member_no else entry.name
