"""PayHub: a real-time payment status hub. create_app() builds the Flask app."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from sqlalchemy import event

from . import dbpool, filemodes, logsafe, schema, session_sockets
from .config import Settings, load_settings
from .extensions import csrf, db, socketio

ROOT = Path(__file__).resolve().parent.parent
MAX_BODY = 64 * 1024


def create_app(test_config: Mapping[str, str] | None = None, *, async_mode: str = "threading") -> Flask:
    """Build the app. `test_config` (PAYHUB_* names) replaces the environment entirely.

    `async_mode` is chosen by whoever runs the server (app.py); the CLI and the tests use
    plain threads.
    """
    logsafe.install()
    env = dict(test_config) if test_config is not None else None
    instance = (env or os.environ).get("PAYHUB_INSTANCE_PATH") or str(ROOT / "instance")
    Path(instance).mkdir(parents=True, exist_ok=True)
    settings = load_settings(env, instance_path=instance)
    app = Flask(__name__, instance_path=instance, template_folder=str(ROOT / "templates"),
                static_folder=str(ROOT / "static"))
    _configure(app, settings)
    filemodes.secure_sqlite(settings.database_url)
    _bind_extensions(app, settings, async_mode)
    _register(app)
    schema.init_app(app)
    return app


def _configure(app: Flask, settings: Settings) -> None:
    app.config.update(
        PAYHUB=settings,
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=MAX_BODY,
        MAX_FORM_MEMORY_SIZE=MAX_BODY,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(settings),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.public_url.startswith("https://"),
        JSON_SORT_KEYS=False,
        # CSRF is checked where a view asks (the dashboard), not on gateway callbacks; a
        # token lives as long as the operator's session.
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_SSL_STRICT=False,
    )


def _engine_options(settings: Settings) -> dict[str, Any]:
    if settings.database_url.startswith("sqlite"):
        # SQLite waits (busy timeout) rather than failing when another writer holds the lock.
        return {"connect_args": {"timeout": 15, "check_same_thread": False}}
    return dbpool.engine_options(settings.db_pool_size)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL: readers never block the writer; NORMAL sync is durable across a process crash.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _bind_extensions(app: Flask, settings: Settings, async_mode: str) -> None:
    db.init_app(app)
    with app.app_context():
        if settings.database_url.startswith("sqlite"):
            event.listen(db.engine, "connect", _sqlite_pragmas)
        else:
            dbpool.install(db.engine)
    allowed = {origin_of(o) for o in (*settings.cors_origins, settings.public_url)}

    def origin_allowed(origin: str | None, environ: Mapping[str, Any]) -> bool:
        # Never the Host header: a DNS-rebinding page sends a Host of its own choosing.
        if not origin:  # engine.io asks about requests without an Origin too (same-origin polling)
            return False
        return origin_of(origin) in allowed

    # A client manager of each app's own (the unbound SocketIO keeps the options of its last
    # init_app, and tests build many apps); it ends signed-out sessions' sockets (session_sockets).
    socketio.init_app(
        app, async_mode=async_mode, client_manager=session_sockets.client_manager(settings.message_queue),
        message_queue=settings.message_queue or None, cors_allowed_origins=origin_allowed,
        max_http_buffer_size=MAX_BODY, json=None,
    )
    csrf.init_app(app)


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL or Origin header, lower-case, default ports dropped."""
    parts = urlsplit(url.strip().lower())
    default = {"http": 80, "https": 443}.get(parts.scheme)
    try:
        port = parts.port
    except ValueError:
        return ""
    host = parts.hostname or ""
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def _register(app: Flask) -> None:
    from . import cli, longpoll, ratelimit, realtime
    from .gateways import build_gateways
    from .sandbox import pages as sandbox
    from .web import (
        api,
        apidocs,
        cors,
        dashboard,
        errors,
        hardening,
        ops,
        pages,
        request_ids,
        status,  # noqa: F401 - adds the polling endpoint to the API's blueprint (blueprints.py)
        webhooks,
    )

    app.extensions["payhub.gateways"] = build_gateways(app.config["PAYHUB"])
    for blueprint in (api.bp, webhooks.bp, ops.bp, pages.bp, sandbox.bp, dashboard.bp, apidocs.bp):
        app.register_blueprint(blueprint)
    errors.init_app(app)
    request_ids.init_app(app)
    ratelimit.init_app(app, app.config["PAYHUB"])
    longpoll.init_app(app)
    hardening.init_app(app, MAX_BODY)
    cors.init_app(app)
    realtime.init_app(app)
    cli.init_app(app)
