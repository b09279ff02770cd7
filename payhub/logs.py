"""Logging: plain text lines (default) or, with PAYHUB_LOG_FORMAT=json, one JSON object per line.

Every record gets the id of the HTTP request it was logged in (`request_id`, also sent back as
the X-Request-Id header) and the payment it is about (`payment_id`) where known: given with
`extra={"payment_id": …}`, the payment of the URL (`/api/payments/<payment_id>/…`), the last
payment the one door handled in this request or job, or a `pay_…` id in the message.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime

from flask import g, has_app_context, has_request_context, request

from .logsafe import FloodGuard

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
PAYMENT_ID = re.compile(r"\bpay_[A-Za-z0-9_-]{8,40}\b")


def note_payment(payment_id: str) -> None:
    """Remember the payment the current request or job is about, for its log records."""
    if has_app_context():
        g.payhub_payment_id = payment_id


def current_request_id() -> str | None:
    return g.get("payhub_request_id") if has_app_context() else None


def _payment_id(record: logging.LogRecord) -> str | None:
    given = getattr(record, "payment_id", None)
    if given:
        return str(given)
    if has_request_context() and request.view_args and request.view_args.get("payment_id"):
        return str(request.view_args["payment_id"])
    if has_app_context() and g.get("payhub_payment_id"):
        return g.payhub_payment_id
    found = PAYMENT_ID.search(record.getMessage())
    return found.group(0) if found else None


class ContextFilter(logging.Filter):
    """Adds `request_id` and `payment_id` (None when not known) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id()
        record.payment_id = _payment_id(record)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id and payment_id
    where known, the traceback under `exception`."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
            + f"{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "payment_id"):
            value = getattr(record, key, None)
            if value:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            entry["exception"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def settings_from_env(env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(level, format) from PAYHUB_LOG_LEVEL / PAYHUB_LOG_FORMAT (the environment, then .env)."""
    if env is None:
        from dotenv import dotenv_values

        env = {**{k: v for k, v in dotenv_values(".env").items() if v is not None}, **os.environ}
    return env.get("PAYHUB_LOG_LEVEL", "INFO").upper(), env.get("PAYHUB_LOG_FORMAT", "text").lower()


def configure(level: str = "INFO", fmt: str = "text") -> logging.Handler:
    """Send every log record to stderr in `fmt` (text or json), from `level` up."""
    if fmt not in FORMATS:
        raise ValueError(f"PAYHUB_LOG_FORMAT must be one of {', '.join(FORMATS)}, not {fmt!r}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(ContextFilter())
    handler.addFilter(FloodGuard())  # anyone can make the hub log a line; nobody may fill the disk
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Their INFO lines are noise at every start and every CLI command; payhub.schema says what
    # a migration changed.
    for chatty in ("apscheduler", "alembic"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    # Engine.IO and Socket.IO add a bare stderr handler of their own to a logger whose level is
    # unset (errors only, like theirs): with the level set here, their lines come through this
    # handler, formatted, with the context and the flood guard, and only once.
    for library in ("engineio.server", "socketio.server"):
        logging.getLogger(library).setLevel(logging.ERROR)
    return handler
