"""The study's first data store: an Excel workbook, opened with openpyxl on every request.

    .venv-load/bin/python -m loadtest.baselines.excel_name --make var/load/members.xlsx --members 1000
    BASELINE_EXCEL_PATH=var/load/members.xlsx .venv-load/bin/gunicorn --chdir /work/main \\
        -w 2 -k sync -b 127.0.0.1:8092 loadtest.baselines.excel_name:app

Faithful to that first version: each request loads the whole workbook (`load_workbook`, the
default full mode) and scans the rows for the user's key, so an office member editing the file
sees the change at once. Nothing is cached; that is the cost the study measured against SQLite3.
The workbook holds the same people as loadtest/seed.py seeds (key, name, number, department).
"""

from __future__ import annotations

import argparse
import os
import sys

import openpyxl

from loadtest.baselines.names import make_app
from loadtest.kakao import admin_key, admin_name, department, member_key, member_name

HEADER = ("카카오 사용자 키", "이름", "번호", "부서")


def lookup(user_key: str) -> str | None:
    workbook = openpyxl.load_workbook(os.environ.get("BASELINE_EXCEL_PATH", "members.xlsx"))
    try:
        for row in workbook.active.iter_rows(min_row=2, values_only=True):
            if row[0] == user_key:
                return str(row[1])
        return None
    finally:
        workbook.close()


def make_workbook(path: str, members: int, admins: int = 5) -> None:
    """The seeded people as an office would keep them in Excel."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "명단"
    sheet.append(HEADER)
    for n in range(1, admins + 1):
        sheet.append((admin_key(n), admin_name(n), f"A{n:03d}", "총무팀"))
    for n in range(1, members + 1):
        sheet.append((member_key(n), member_name(n), f"{n:05d}", department(n)))
    workbook.save(path)


app = make_app(__name__, lookup)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="write the members workbook")
    parser.add_argument("--make", metavar="PATH", required=True)
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--admins", type=int, default=5)
    args = parser.parse_args(argv)
    make_workbook(args.make, args.members, args.admins)
    print(f"wrote {args.make}: {args.admins} admins, {args.members} members")
    return 0


if __name__ == "__main__":
    sys.exit(main())
