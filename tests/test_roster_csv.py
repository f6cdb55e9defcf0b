"""Tests of roster import from the CSV files office admins have, and of the roster export."""

from __future__ import annotations

import csv
import io
import unicodedata

import pytest

from surveybot.domain import RosterEntry
from surveybot.roster_csv import RosterFileError, read_roster_csv, write_roster_csv

ROSTER_TEXT = "이름,번호,부서\r\n홍길동,1001,총무과\r\n김철수,1002,\r\n이영희,,인사과\r\n"
EXPECTED = [
    RosterEntry("홍길동", "1001", "총무과"),
    RosterEntry("김철수", "1002", None),
    RosterEntry("이영희", None, "인사과"),
]


def error_of(data: bytes) -> RosterFileError:
    with pytest.raises(RosterFileError) as info:
        read_roster_csv(data)
    return info.value


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "cp949"])
def test_three_encodings(encoding: str) -> None:
    data = ROSTER_TEXT.encode(encoding)
    assert data.startswith(b"\xef\xbb\xbf") == (encoding == "utf-8-sig")
    assert read_roster_csv(data) == EXPECTED


def test_cp949_only_characters_are_kept() -> None:
    # 똠 and 햏 are outside the old EUC-KR set; Excel's CP949 still writes them.
    data = "성명,사번\n김똠햏,A-01\n".encode("cp949")
    assert read_roster_csv(data) == [RosterEntry("김똠햏", "A-01")]


def test_undecodable_bytes() -> None:
    error = error_of(b"name\n\xff\xfe\xfa\xfb\n")
    assert "UTF-8" in str(error) and "CP949" in str(error)


def test_utf16_is_refused_with_a_hint() -> None:
    error = error_of("이름\n홍길동\n".encode("utf-16"))
    assert "UTF-16" in str(error)


@pytest.mark.parametrize(
    ("header", "row"),
    [
        ("name,member_no,department", "홍길동,7,총무과"),
        ("Name,Number,Dept", "홍길동,7,총무과"),
        ("NAME,NO,DEPARTMENT", "홍길동,7,총무과"),
        ("성명,사번,소속", "홍길동,7,총무과"),
        ("이름,학번,부서", "홍길동,7,총무과"),
        ("이름,번호,부서", "홍길동,7,총무과"),
        (" 이름 , No. , 소속 ", "홍길동,7,총무과"),
        ("Member No,Name,Department,비고", "7,홍길동,총무과,x"),
        ("member-no,NAME,dept", "7,홍길동,총무과"),
    ],
)
def test_header_variants(header: str, row: str) -> None:
    data = f"{header}\n{row}\n".encode()
    assert read_roster_csv(data) == [RosterEntry("홍길동", "7", "총무과")]


def test_name_only_header() -> None:
    assert read_roster_csv("이름\n홍길동\n".encode()) == [RosterEntry("홍길동")]


def test_column_order_and_extra_columns_are_free() -> None:
    data = "비고,부서,이름\n메모,총무과,홍길동\n".encode()
    assert read_roster_csv(data) == [RosterEntry("홍길동", None, "총무과")]


def test_whitespace_is_trimmed_and_blank_rows_skipped() -> None:
    data = "\n이름,번호,부서\n  홍길동 ,\t1001 , 총무과\u3000\n,,\n\n   ,  ,\n김철수,,\n".encode()
    assert read_roster_csv(data) == [
        RosterEntry("홍길동", "1001", "총무과"),
        RosterEntry("김철수"),
    ]


def test_control_characters_and_line_breaks_in_cells_are_flattened() -> None:
    data = '이름,부서\n"홍\n길동",총무\x00과\n'.encode()
    assert read_roster_csv(data) == [RosterEntry("홍 길동", None, "총무과")]


def test_short_rows_are_padded() -> None:
    assert read_roster_csv("이름,번호,부서\n홍길동\n".encode()) == [RosterEntry("홍길동")]


def test_semicolon_and_tab_delimiters() -> None:
    assert read_roster_csv("이름;번호\n홍길동;1\n".encode()) == [RosterEntry("홍길동", "1")]
    assert read_roster_csv("이름\t번호\n홍길동\t1\n".encode()) == [RosterEntry("홍길동", "1")]


def test_quoted_cells_with_commas() -> None:
    data = '이름,부서\n홍길동,"총무과, 2팀"\n'.encode()
    assert read_roster_csv(data) == [RosterEntry("홍길동", None, "총무과, 2팀")]


def test_header_only_is_an_empty_roster() -> None:
    assert read_roster_csv("이름,번호\n".encode()) == []


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"\r\n\r\n", b" , ,\n"])
def test_empty_file(data: bytes) -> None:
    assert "비어" in str(error_of(data))


def test_missing_header_names_line_one() -> None:
    error = error_of("홍길동,1001,총무과\n김철수,1002,인사과\n".encode())
    assert error.line == 1
    assert "1번째 줄" in str(error) and "Line 1" in str(error)


def test_duplicate_header_column() -> None:
    error = error_of("이름,name\n홍길동,홍길동\n".encode())
    assert "name" in str(error) and error.line == 1


def test_row_with_data_but_no_name_names_the_line() -> None:
    error = error_of("이름,번호,부서\n홍길동,1,a\n,1002,총무과\n".encode())
    assert error.line == 3
    assert "3번째 줄" in str(error) and "Line 3" in str(error)


def test_data_only_in_an_unknown_column_is_still_a_nameless_row() -> None:
    assert error_of("이름,비고\n,메모\n".encode()).line == 2


def test_line_numbers_count_physical_lines() -> None:
    # The quoted cell spans lines 2-3, and line 4 is blank: the bad row starts on line 5.
    data = '이름,부서\n홍길동,"총무과\n2팀"\n\n,x\n'.encode()
    assert error_of(data).line == 5


def test_long_name_names_the_line() -> None:
    data = f"이름\n홍길동\n{'가' * 31}\n".encode()
    error = error_of(data)
    assert error.line == 3 and "30" in str(error)
    assert read_roster_csv(f"이름\n{'가' * 30}\n".encode()) == [RosterEntry("가" * 30)]


def test_long_number_names_the_line() -> None:
    error = error_of(f"이름,번호\n홍길동,{'1' * 31}\n".encode())
    assert error.line == 2 and "Line 2" in str(error)


def test_long_department_names_the_line() -> None:
    error = error_of(f"이름,부서\n홍길동,총무과\n김철수,{'부' * 51}\n".encode())
    assert error.line == 3 and "50" in str(error)
    assert read_roster_csv(f"이름,부서\n홍길동,{'부' * 50}\n".encode())[0].department == "부" * 50


def test_names_are_read_in_one_normal_form() -> None:
    decomposed = unicodedata.normalize("NFD", "한지민")
    assert read_roster_csv(f"이름\n{decomposed}\n".encode()) == [RosterEntry("한지민")]


def test_duplicates_name_both_lines() -> None:
    data = "이름,번호\n홍길동,1\n김철수,2\n홍길동,1\n".encode()
    error = error_of(data)
    assert error.line == 4
    assert "2번째 줄과 4번째 줄" in str(error) and "Lines 2 and 4" in str(error)


def test_duplicate_names_without_numbers_are_ambiguous() -> None:
    assert error_of("이름\n홍길동\n홍길동\n".encode()).line == 3


def test_same_name_with_different_numbers_is_fine() -> None:
    data = "이름,번호\n홍길동,1\n홍길동,2\n".encode()
    assert [e.member_no for e in read_roster_csv(data)] == ["1", "2"]


@pytest.mark.parametrize(
    "text",
    [
        '이름\n홍길동\n"김철수\n이영희\n',  # unclosed quote
        '이름\n홍길동\n"김"철수\n',  # stray quote
        '이름\n홍길동\n"' + "가" * 200_000 + '"\n',  # beyond the csv field limit
    ],
)
def test_broken_csv_names_the_line(text: str) -> None:
    error = error_of(text.encode())
    assert error.line == 3 and "Line 3" in str(error)


def test_write_roster_csv() -> None:
    data = write_roster_csv(
        [
            (RosterEntry("홍길동", "1001", "총무과"), "kakao-key-1"),
            (RosterEntry("김철수"), None),
        ]
    )
    assert data.startswith("\ufeff이름,번호,부서,등록여부\r\n".encode())
    text = data.decode("utf-8-sig")
    assert "kakao-key" not in text  # user keys never leave the server
    assert list(csv.reader(io.StringIO(text, newline=""))) == [
        ["이름", "번호", "부서", "등록여부"],
        ["홍길동", "1001", "총무과", "등록"],
        ["김철수", "", "", "미등록"],
    ]


def test_write_roster_csv_is_formula_safe() -> None:
    data = write_roster_csv([(RosterEntry("=HYPERLINK(1)", "+1", "@dept\0"), None)])
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows[1] == ["'=HYPERLINK(1)", "'+1", "'@dept", "미등록"]


def test_export_reimports() -> None:
    entries = [RosterEntry("홍길동", "1001", "총무과, 2팀"), RosterEntry("김철수", None, None)]
    data = write_roster_csv((entry, None) for entry in entries)
    assert read_roster_csv(data) == entries
