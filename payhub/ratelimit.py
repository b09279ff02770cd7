"""Per-address limits on the entry points anyone can reach without a key (CONTRACT.md §9).

Flask-Limiter counts the HTTP routes (the demo shop, browser returns, sign-in, status polls);
Socket.IO connects and subscribes are counted on the same storage by `allow()`, and engine.io
handshakes (the session a Socket.IO connect starts with) by `handshake_limit`. Limits live
in memory, or in Redis when the hub runs with a Redis message queue, so that N processes
share one count. Signed gateway webhooks and the merchant API (bearer key) are never limited
per address: a gateway sends bursts from a few addresses.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from flask import Flask, current_app, render_template, request
from flask_limiter import RateLimitExceeded
from limits import parse_many

from . import metrics
from .config import Settings
from .extensions import client_address, limiter
from .limit_storage import SweptOncePerSecond  # noqa: F401 - registers the payhub-memory:// scheme

log = logging.getLogger(__name__)

# Entry point -> the Settings field (and PAYHUB_ variable) holding its limit.
RULES = ("shop", "returns", "signin", "status", "socket", "subscribe")
KEY_PREFIX = "payhub"


def rule(name: str) -> Callable[[], str]:
    """The limit string of an entry point, read per request from the app's settings."""
    return lambda: getattr(current_app.config["PAYHUB"], f"limit_{name}")


def storage_uri(settings: Settings) -> str:
    if settings.rate_limit_storage:
        return settings.rate_limit_storage
    if settings.message_queue.startswith(("redis://", "rediss://")):
        return settings.message_queue
    return "payhub-memory://"  # limit_storage.py: limits' in-memory storage, swept once a second


def check_rules(settings: Settings) -> None:
    """Refuse to start with a limit string Flask-Limiter cannot read (a clear error, not a 500)."""
    for name in RULES:
        value = getattr(settings, f"limit_{name}")
        try:
            if not parse_many(value):
                raise ValueError(value)
        except ValueError:
            raise ValueError(f"PAYHUB_LIMIT_{name.upper()} is not a rate limit like '10/minute;100/hour': "
                             f"{value!r}") from None


def init_app(app: Flask, settings: Settings) -> None:
    check_rules(settings)
    app.config.update(
        RATELIMIT_ENABLED=settings.rate_limits,
        RATELIMIT_STORAGE_URI=storage_uri(settings),
        # Fixed windows: the in-memory storage sweeps its keys every 10 ms, and for a moving window
        # that sweep locks and bisects every address's list (1,000 shoppers: a stall each time).
        RATELIMIT_STRATEGY="fixed-window",
        RATELIMIT_KEY_PREFIX=KEY_PREFIX,
        # A storage outage must not take the hub down: count in memory meanwhile.
        RATELIMIT_SWALLOW_ERRORS=True,
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
    )
    # The extension is shared by every app of a process (tests build many): set what
    # init_app would otherwise keep from the first one.
    limiter.enabled = settings.rate_limits
    limiter.init_app(app)

    app.wsgi_app = handshake_limit(app.wsgi_app, app)  # type: ignore[method-assign]

    @app.errorhandler(RateLimitExceeded)
    def _limited(exc: RateLimitExceeded) -> Any:
        metrics.RATE_LIMITED.labels(request.endpoint or "unknown").inc()
        return too_many(retry_after())


def retry_after() -> int:
    """Whole seconds until the breached limit lets this address in again (at least 1)."""
    current = limiter.current_limit
    reset_at = current.reset_at if current is not None else time.time() + 60
    return max(1, int(reset_at - time.time()))  # reset_at is already rounded up


def too_many(seconds: int, message: str = "too many requests from this address") -> Any:
    """A 429 with Retry-After: JSON for the API, a page for the browser routes."""
    from .web.errors import error_response, wants_json

    text = f"{message}; retry after {seconds} s"
    if wants_json():
        response = error_response(429, "rate_limited", text)[0]
    else:
        page = render_template("problem.html", title="Too many requests",
                               detail=f"Please wait {seconds} s and try again.")
        response = current_app.make_response(page)
    response.status_code = 429
    response.headers["Retry-After"] = str(seconds)
    return response


def allow(name: str) -> bool:
    """Count one Socket.IO connect or subscribe for this address; False once over the limit."""
    return _hit(name, f"socketio.{name}", client_address()) is None


def _hit(name: str, scope: str, key: str) -> int | None:
    """Count one hit of rule `name` for `key`: None if allowed, else the seconds to wait."""
    if not limiter.enabled:
        return None
    try:
        items = parse_many(rule(name)())
        refused = [item for item in items if not limiter.limiter.hit(item, KEY_PREFIX, scope, key)]
        if not refused:
            return None
        reset_at = max(limiter.limiter.get_window_stats(item, KEY_PREFIX, scope, key).reset_time for item in refused)
    except Exception:  # the storage is down: let the client in rather than fail
        log.warning("rate limit storage unreachable; a %s was not counted", scope)
        return None
    metrics.RATE_LIMITED.labels(scope).inc()
    return max(1, int(reset_at - time.time()) + 1)


def handshake_limit(wsgi_app: Callable[..., Any], app: Flask, path: str = "/socket.io") -> Callable[..., Any]:
    """Count engine.io handshakes (a request to Socket.IO's path with no session id) per address
    on PAYHUB_LIMIT_SOCKET, apart from the Socket.IO connects that may follow: each one opens a
    session that holds memory until its ping timeout (about 13 KB for 45 s), and a plain GET
    opens one. Beyond the limit: 429 with Retry-After, no session."""

    def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith(path) and "sid" not in parse_qs(environ.get("QUERY_STRING", "")):
            with app.app_context():
                wait = _hit("socket", "socketio.handshake", environ.get("REMOTE_ADDR") or "unknown")
            if wait is not None:
                start_response("429 TOO MANY REQUESTS", [("Content-Type", "application/json"),
                                                         ("Retry-After", str(wait))])
                return [b'{"error": {"code": "rate_limited", "message": "too many Socket.IO sessions from this '
                        b'address"}}']
        return wsgi_app(environ, start_response)

    return middleware
