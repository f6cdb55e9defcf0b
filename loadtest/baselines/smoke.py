"""Call each baseline WSGI app once, in this process, with a real Open Builder request.

    .venv-load/bin/python -m loadtest.baselines.smoke --sqlite var/load/bot.sqlite3 \\
        --excel var/load/members.xlsx [--database-url postgresql://...] [--key load-member-00001]

Prints one JSON object: per app the HTTP status, the reply's text and any Kakao limit it breaks;
exits 1 when an app did not answer 200 with a valid reply. Used by tests/test_loadtest.py.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import os
import sys
from typing import Any
from wsgiref.util import setup_testing_defaults

from loadtest.kakao import encode, member_key, payload, reply_problems, reply_text


def call(app: Any, body: bytes) -> tuple[str, bytes]:
    environ: dict[str, Any] = {}
    setup_testing_defaults(environ)
    environ.update(
        {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/skill",
            "CONTENT_TYPE": "application/json;charset=UTF-8",
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
        }
    )
    status: list[str] = []

    def start_response(line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        status.append(line)
        return lambda data: None

    chunks = app(environ, start_response)
    try:
        content = b"".join(chunks)
    finally:
        if hasattr(chunks, "close"):
            chunks.close()
    return status[0], content


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sqlite", help="a seeded surveybot SQLite file (sqlite_name)")
    parser.add_argument("--excel", help="the members workbook (excel_name)")
    parser.add_argument("--database-url", help="a seeded PostgreSQL database (postgres_name)")
    parser.add_argument("--key", default=member_key(1), help="who asks (load-member-00001)")
    args = parser.parse_args(argv)
    apps = ["flask_echo"]
    if args.excel:
        os.environ["BASELINE_EXCEL_PATH"] = args.excel
        apps.append("excel_name")
    if args.sqlite:
        os.environ["BASELINE_SQLITE_PATH"] = args.sqlite
        apps.append("sqlite_name")
    if args.database_url:
        os.environ["BASELINE_DATABASE_URL"] = args.database_url
        apps.append("postgres_name")
    body = encode(payload(args.key, "메뉴"))
    report: dict[str, Any] = {}
    ok = True
    for name in apps:
        app = importlib.import_module(f"loadtest.baselines.{name}").app
        status, content = call(app, body)
        reply = json.loads(content)
        problems = reply_problems(reply)
        report[name] = {"status": status, "text": reply_text(reply), "problems": problems}
        ok = ok and status.startswith("200") and not problems
    print(json.dumps(report, ensure_ascii=False))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
