"""gunicorn worker classes of our own: `MeinheldWorker`, a safe replacement for meinheld's worker.

Use it as `GUNICORN_WORKER_CLASS=meinheld` (an alias in gunicorn_conf) or by its path,
`surveybot.workers.MeinheldWorker`. meinheld itself is optional: `scripts/install-workers`.

meinheld 1.0.2's own gunicorn worker (`egg:meinheld#gunicorn_worker`, meinheld/gmeinheld.py) has
three faults under gunicorn >= 22; docs/worker-classes.md has the experiments.

1. Its `__init__` assigns `gunicorn.glogging.Logger.error` and `.access` on the *class*, with
   functions of other signatures (`_error(self, exc, val, tb)`). gunicorn builds worker objects in
   the master before forking, so the master's logger changes too; the master's next error line
   (`log.error(msg, *args)` when a worker dies, e.g. SIGKILLed by the OOM killer) raises, the
   `log.error(..., exc_info=True)` of its crash handler raises TypeError, and the master exits
   (gunicorn #3055, meinheld #115). Here nothing is patched: meinheld's C server is handed an
   adapter object with the `error(exc, val, tb)` / `access(environ)` methods it calls, which
   forwards to this worker's own gunicorn logger instance, in the worker process only.
2. Its heartbeat is `fchmod()` on the worker's temporary file, from C, once a second. That changes
   the file's ctime; gunicorn >= 22 writes and reads the *mtime* (`os.utime` with monotonic time),
   so the master never sees a meinheld worker hang and never times it out. Here meinheld's
   Python watchdog hook (called by its loop about once a second) calls `Worker.notify()`.
3. It ignores `max_requests`. Here the request count is kept and the worker stops gracefully.

It also installs its own C handlers for SIGTERM and SIGINT when its loop starts (SIGTERM then
stops within one second instead of gunicorn's graceful_timeout); the first watchdog call puts
gunicorn's meanings back: SIGTERM graceful, SIGINT/SIGQUIT quick.

meinheld must be built as scripts/install-workers does (against greenlet 3's C header, not the
greenlet 0.4 header it bundles); no worker class can repair a wrongly built C extension.

What meinheld does not do: make the application cooperative. Only its own HTTP reading and writing
is evented; the WSGI app runs in the loop's thread, and psycopg/libpq (or sqlite) blocks it, so a
meinheld worker serves one database-bound request at a time, like a sync worker.
"""

from __future__ import annotations

import importlib.util
import os
import signal
from collections.abc import Callable, Iterable
from datetime import timedelta
from types import FrameType, SimpleNamespace, TracebackType
from typing import Any

from gunicorn.workers.base import Worker

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class MeinheldLogAdapter:
    """The logger interface meinheld's C server calls, onto one gunicorn logger instance."""

    def __init__(self, log: Any) -> None:
        self._log = log

    def error(
        self,
        exc_type: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if value is None:
            self._log.error("Error handling request: %s", exc_type)
            return
        self._log.error("Error handling request", exc_info=(exc_type, value, tb))

    def access(self, environ: dict[str, Any] | None) -> None:
        """meinheld's environ after the response: STATUS_CODE, SEND_BYTES, REQUEST_TIME (ms)."""
        if not environ or not environ.get("REQUEST_METHOD"):
            return  # meinheld also calls this for a connection that closed without a request
        env = dict(environ)
        query = env.get("QUERY_STRING")
        env.setdefault("RAW_URI", str(env.get("PATH_INFO", "")) + (f"?{query}" if query else ""))
        env.setdefault("SERVER_PROTOCOL", "HTTP/1.1")
        response = SimpleNamespace(
            status=str(env.get("STATUS_CODE", "-")), sent=env.get("SEND_BYTES"), headers=()
        )
        headers = [
            (key[5:].replace("_", "-"), value)
            for key, value in env.items()
            if key.startswith("HTTP_")
        ]
        took = timedelta(milliseconds=int(env.get("REQUEST_TIME") or 0))
        self._log.access(response, SimpleNamespace(headers=headers), env, took)


def _access_log_enabled(log: Any, cfg: Any) -> bool:
    enabled = getattr(log, "access_log_enabled", None)  # gunicorn >= 25
    if enabled is None:
        return not (cfg.accesslog is None and cfg.logconfig is None)
    return bool(enabled)


class MeinheldWorker(Worker):  # type: ignore[misc]  # gunicorn has no type information
    """meinheld's event loop as a gunicorn worker, without meinheld's damage to the master."""

    _server: Any = None
    _signals_restored = False

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        """Runs in the master at start-up: fail there, once, rather than in every worker."""
        if importlib.util.find_spec("meinheld") is None:
            raise RuntimeError(
                "the meinheld worker class needs meinheld: run scripts/install-workers "
                "(see docs/worker-classes.md)"
            )
        if 0 < cfg.timeout < 3:
            log.warning(
                "meinheld beats about once a second: a timeout under 3 s kills idle workers"
            )

    def run(self) -> None:
        from meinheld import server

        if not self.alive:  # SIGTERM while the app was loading
            return
        self._server = server
        adapter = MeinheldLogAdapter(self.log)
        server.set_error_logger(adapter)
        server.set_access_logger(adapter if _access_log_enabled(self.log, self.cfg) else None)
        server.set_keepalive(self.cfg.keepalive)
        server.set_picoev_max_fd(self.cfg.worker_connections)
        server.set_watchdog(self.watchdog)  # not set_fastwatchdog: see the module docstring
        server.set_listen_socket([listener.fileno() for listener in self.sockets])
        self.notify()
        app: WSGIApp = self._counting(self.wsgi) if self.cfg.max_requests > 0 else self.wsgi
        server.run(app)

    def watchdog(self) -> None:
        """Called by meinheld's loop about once a second while it is not blocked."""
        self.notify()  # os.utime on the heartbeat file: what the master reads
        if not self._signals_restored:
            self._signals_restored = True
            self._restore_signals()
        if self.alive and self.ppid != os.getppid():
            self.log.info("Parent changed, shutting down: %s", self)
            self._stop(self.timeout)

    def _restore_signals(self) -> None:
        """meinheld's run() replaced SIGTERM/SIGINT with its own C handlers; undo that."""
        signal.signal(signal.SIGTERM, self.handle_exit)
        signal.signal(signal.SIGINT, self.handle_quit)
        signal.signal(signal.SIGQUIT, self.handle_quit)
        signal.siginterrupt(signal.SIGTERM, False)

    def _counting(self, app: WSGIApp) -> WSGIApp:
        def counted(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
            self.nr += 1
            if self.nr >= self.max_requests and self.alive:
                self.log.info("Autorestarting worker after current request.")
                self._stop(self.cfg.graceful_timeout)
            return app(environ, start_response)

        return counted

    def _stop(self, timeout: float) -> None:
        """Stop accepting; finish open connections within `timeout` seconds; then run() returns."""
        self.alive = False
        if self._server is not None:
            self._server.stop(int(timeout))

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """SIGTERM: graceful, as in every gunicorn worker."""
        self._stop(self.cfg.graceful_timeout)  # before the loop runs: run() sees alive False

    def handle_abort(self, sig: int, frame: FrameType | None) -> None:
        """SIGABRT, the master's timeout: meinheld would swallow the SystemExit and serve on."""
        if self._server is not None:
            self._stop(0)  # the loop ends within a second; the master starts a new worker
        super().handle_abort(sig, frame)  # SystemExit ends the hung request (meinheld: a 500)

    def handle_quit(self, sig: int, frame: FrameType | None) -> None:
        """SIGQUIT/SIGINT: quick (meinheld still gives open requests a second)."""
        if self._server is None:
            super().handle_quit(sig, frame)  # not serving yet: exit now
            return
        self.cfg.worker_int(self)
        self._stop(0)
