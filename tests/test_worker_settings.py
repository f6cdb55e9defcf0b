"""The worker classes' settings and the meinheld shim's parts, in this process (no meinheld needed):
gunicorn_conf's worker class names, the shim's logger in the master, and its log adapter.
The classes under a real gunicorn are in test_workers.py."""

from __future__ import annotations

import os
from typing import Any

import pytest

SHIM = "surveybot.workers.MeinheldWorker"
RAW_MEINHELD = "egg:meinheld#gunicorn_worker"


def _gunicorn_logger() -> tuple[Any, Any]:
    from gunicorn.config import Config
    from gunicorn.glogging import Logger

    cfg = Config()
    cfg.set("accesslog", "-")
    cfg.set("errorlog", "-")
    return cfg, Logger(cfg)


def test_building_the_shim_in_the_master_leaves_gunicorn_logger_alone(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from gunicorn.glogging import Logger

    from surveybot.workers import MeinheldWorker

    error, access = Logger.error, Logger.access
    cfg, log = _gunicorn_logger()
    worker = MeinheldWorker(1, os.getpid(), [], None, 15, cfg, log)  # as the master does
    try:
        assert (Logger.error, Logger.access) == (error, access)
        try:
            raise ValueError("worker gone")
        except ValueError:
            log.error("Unhandled exception in main loop", exc_info=True)  # the master's call
        assert "ValueError: worker gone" in capsys.readouterr().err
    finally:
        worker.tmp.close()


def test_meinheld_log_adapter_speaks_both_interfaces(capsys: pytest.CaptureFixture[str]) -> None:
    from surveybot.workers import MeinheldLogAdapter

    _, log = _gunicorn_logger()
    adapter = MeinheldLogAdapter(log)
    try:
        raise KeyError("in the app")
    except KeyError as error:
        adapter.error(type(error), error, error.__traceback__)  # how meinheld's C calls it
    environ = {
        "REQUEST_METHOD": "POST", "PATH_INFO": "/skill", "QUERY_STRING": "a=1",
        "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "10.0.0.1", "STATUS_CODE": 200,
        "SEND_BYTES": 123, "REQUEST_TIME": 7, "HTTP_USER_AGENT": "kakao",
    }  # fmt: skip
    adapter.access(environ)
    adapter.access({})  # a connection closed before any request: nothing to log
    out = capsys.readouterr()
    assert "Error handling request" in out.err and "KeyError: 'in the app'" in out.err
    lines = out.out.splitlines()
    assert len(lines) == 1, lines
    assert (
        "10.0.0.1 - - [" in lines[0]
        and '"POST /skill?a=1 HTTP/1.1" 200 123 "-" "kakao"' in lines[0]
    )


@pytest.mark.parametrize(
    ("given", "worker_class", "threads"),
    [
        (None, "gthread", 4),
        ("gthread", "gthread", 4),
        ("gevent", "gevent", None),
        ("sync", "sync", None),
        ("meinheld", SHIM, None),
        (RAW_MEINHELD, SHIM, None),
        (SHIM, SHIM, None),
    ],
)
def test_gunicorn_conf_worker_class_names(
    given: str | None, worker_class: str, threads: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import runpy

    import surveybot.gunicorn_conf

    if given is None:
        monkeypatch.delenv("GUNICORN_WORKER_CLASS", raising=False)
    else:
        monkeypatch.setenv("GUNICORN_WORKER_CLASS", given)
    monkeypatch.delenv("GUNICORN_THREADS", raising=False)
    conf = runpy.run_path(surveybot.gunicorn_conf.__file__)  # as gunicorn reads it: fresh
    assert conf["worker_class"] == worker_class
    assert conf.get("threads") == threads
