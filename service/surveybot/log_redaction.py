"""Keep export links out of every log line: the token in /exports/<token> is a download password.

The results page (/results/<token>) and chart (/charts/<token>.png) links are redacted the same
way: the first opens every answer to an admin's eyes, the second needs no session at all.

nginx masks it in its own access log; gunicorn's access log (the request line and path), its error
log ("Error handling request GET /exports/...", a bad request line quoted in a warning) and a
traceback can each carry it too. One filter on the records redacts them all, whatever the format
(JSON or text) and whatever the access log format names.

This module imports only the standard library and gunicorn: gunicorn_conf loads it in the master,
where the gevent worker's patches are not applied yet (psycopg must not be imported before them).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from gunicorn.glogging import Logger

# Up to the next separator a request line, a quoted atom, a query or a traceback could put there.
_EXPORT_TOKEN = re.compile(r"(/(?:exports|results|charts)/)[^\s/?#\"'\\]+")
_MARKERS = ("/exports/", "/results/", "/charts/")
REDACTED = r"\1<redacted>"
_TRACEBACKS = logging.Formatter()


def redact(text: str) -> str:
    """Replace the token of every /exports/<token> (and results and chart link) in text."""
    return _EXPORT_TOKEN.sub(REDACTED, text) if _marked(text) else text


def _marked(text: str) -> bool:
    return any(marker in text for marker in _MARKERS)


class RedactExportTokens(logging.Filter):
    """Rewrite a record whose message, traceback or stack names an export token."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: the handler reports it, as it would without us
            return True
        if _marked(message):
            record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when it is set, so the redacted text is what they write.
            record.exc_text = _TRACEBACKS.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FILTER = RedactExportTokens()


def add_redaction(*loggers: logging.Logger) -> None:
    """Put the filter on these loggers once (gunicorn re-runs its setup on every reload)."""
    for logger in loggers:
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


class GunicornLogger(Logger):  # type: ignore[misc]  # gunicorn has no type information
    """gunicorn's logger with export tokens redacted from its access and error logs, and an
    access log only when GUNICORN_ACCESS_LOG (gunicorn's `accesslog`) asks for one."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        add_redaction(self.error_log, self.access_log)

    # gunicorn turns its access log on whenever a logging config is given, and gunicorn_conf gives
    # one for JSON lines: every request then paid a formatted, locked write to stderr (0.1-0.3 ms
    # of a gthread worker's ~1.2 ms per `메뉴`, docs/benchmarks.md). nginx already logs each
    # request with its id; this log is for whoever sets GUNICORN_ACCESS_LOG.
    @property
    def access_log_enabled(self) -> bool:
        return bool(self.cfg.accesslog)

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        if self.access_log_enabled:
            super().access(resp, req, environ, request_time)
