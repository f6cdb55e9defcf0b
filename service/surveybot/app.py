"""The Falcon application: `create_app` wires it, `get_app` builds it from the environment."""

from __future__ import annotations

import atexit
import logging
import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

import falcon

from surveybot.config import Config, ConfigError, keyring_from_config
from surveybot.conversation.bot import Bot
from surveybot.conversation.context import Settings
from surveybot.crypto import CryptoError
from surveybot.devchat import add_dev_chat
from surveybot.domain import utcnow
from surveybot.kakao.request import BadRequest
from surveybot.observability import Metrics, MetricsMiddleware, MetricsResource, configure_logging
from surveybot.resources import (
    DatabaseState,
    ExportResource,
    HealthResource,
    ReadyResource,
    SkillResource,
    bad_request,
    store_unavailable,
    unexpected,
)
from surveybot.results_web import add_results_routes
from surveybot.store import open_store
from surveybot.store.base import Store, StoreUnavailable

log = logging.getLogger("surveybot")
# An id from outside is only trusted when it looks like one: it ends up in logs.
_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class RequestId:
    """Carry nginx's request id (or a new one) through logs and back in the response."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        given = req.get_header("X-Request-Id") or ""
        valid = _REQUEST_ID.fullmatch(given) is not None
        req.context.request_id = given if valid else uuid.uuid4().hex
        resp.set_header("X-Request-Id", req.context.request_id)


def _database_state(store: Store) -> DatabaseState | None:
    """The store as a DatabaseState when its class is one (asked of the class: a wrapped store's
    attributes may fail when touched)."""
    return cast(DatabaseState, store) if issubclass(type(store), DatabaseState) else None


def create_app(
    config: Config, store: Store, now: Callable[[], datetime] = utcnow
) -> falcon.App[falcon.Request, falcon.Response]:
    """Wire routes to resources; no I/O happens here."""
    settings = Settings(
        secret_key=config.secret_key.encode(),
        public_base_url=config.public_base_url,
        admin_code=config.admin_code,
        export_ttl_seconds=config.export_ttl_seconds,
        session_ttl_seconds=config.session_ttl_seconds,
        reminders_enabled=config.reminders_enabled,
    )
    metrics = Metrics(config.metrics_dir)
    middleware: list[Any] = [RequestId(), MetricsMiddleware(metrics, store)]
    app = falcon.App(middleware=middleware)
    skill = SkillResource(
        Bot(store, settings, now),
        secret=config.skill_secret,
        secret_header=config.skill_secret_header,
        max_body=config.max_body_bytes,
        shed_after_ms=config.shed_after_ms,
        # PostgreSQL's store knows when its database is down: a 503 nginx may retry elsewhere.
        database=_database_state(store),
    )
    app.add_route("/skill", skill)
    app.add_route("/healthz", HealthResource())
    app.add_route("/readyz", ReadyResource(store))
    app.add_route("/exports/{token}", ExportResource(store, settings.secret_key, now))
    # /results/{token}, /charts/{token}.png, /exports/{token}.xlsx (issue 11)
    add_results_routes(app, store, settings.secret_key, settings.export_ttl_seconds, now)
    app.add_route("/metrics", MetricsResource(metrics))
    if config.environment == "development":
        # The browser simulator (/dev/chat) talks to the bot as anyone: never in production.
        add_dev_chat(
            app, secret=config.skill_secret, secret_header=config.skill_secret_header,
            admin_code=config.admin_code is not None, max_body=config.max_body_bytes,
        )  # fmt: skip
    app.add_error_handler(Exception, unexpected)
    app.add_error_handler(StoreUnavailable, store_unavailable)
    app.add_error_handler(BadRequest, bad_request)
    return app


def get_app() -> falcon.App[falcon.Request, falcon.Response]:
    """Build the real app for gunicorn: runs in each worker, after the fork."""
    config = Config.from_env()
    configure_logging(config.log_level, config.log_format)
    if config.skill_secret is None:
        # Production gets here only with SKILL_SECRET_DISABLED=true (Config refuses otherwise).
        log.warning("SKILL_SECRET is not set: anyone who finds /skill can talk to the bot")
    try:
        keyring = keyring_from_config(config)
    except ConfigError as error:  # production without keys: one line that says what to set
        log.critical("refusing to start: %s", error)
        raise
    store = open_store(
        config.database_url,
        config.sqlite_path,
        pool_min=config.db_pool_min,
        pool_max=config.db_pool_max,
        connect_timeout=config.db_connect_timeout,
        statement_timeout_ms=config.db_statement_timeout_ms,
        export_statement_timeout_ms=config.export_statement_timeout_ms,
        keyring=keyring,
    )
    # Close the pool when the worker exits (quietly, also under gevent).
    atexit.register(store.close)
    try:
        store.migrate()
        store.check_keys()
    except StoreUnavailable as error:
        # Serve anyway: replies apologise and /readyz fails until the database is back.
        log.error("could not migrate at start-up: %s", error)
    except CryptoError as error:
        # Keys that cannot open this database: no worker serves (gunicorn stops), said why.
        log.critical("refusing to start: %s", error)
        raise
    return create_app(config, store)
