"""The study's original stack: a Flask echo skill, served by gunicorn sync workers.

    .venv-load/bin/gunicorn --chdir /work/main -w 2 -k sync -b 127.0.0.1:8091 \\
        loadtest.baselines.flask_echo:app

It replies the user's utterance in a simpleText, as loadtest/baselines/go_echo does, with Flask's
defaults (jsonify, ASCII-escaped JSON): the way such a skill is usually written.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request

from loadtest.baselines.common import simple_text, utterance_of

app = Flask(__name__)


@app.post("/skill")
def skill() -> Any:
    body = request.get_json(force=True, silent=True)
    return jsonify(simple_text(utterance_of(body) or "(빈 메시지)"))


@app.get("/healthz")
def healthz() -> Any:
    return {"status": "ok"}
