"""The Flask app of the study's data-store experiment: reply with the user's registered name.

excel_name, sqlite_name and postgres_name each give it a different lookup; everything else (Flask,
gunicorn sync workers, the reply) is the same, so the store is the only difference measured.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, jsonify, request

from loadtest.baselines.common import name_reply, user_key_of


def make_app(name: str, lookup: Callable[[str], str | None]) -> Flask:
    app = Flask(name)

    @app.post("/skill")
    def skill() -> Any:
        body = request.get_json(force=True, silent=True)
        return jsonify(name_reply(lookup(user_key_of(body))))

    @app.get("/healthz")
    def healthz() -> Any:
        return {"status": "ok"}

    return app
