"""The polling fallback: GET /api/payments/<id>/status with the subscribe token (CONTRACT.md §4).

`?wait=N` (N ≤ 30) holds the request until the payment's version changes, whatever its status
(a failed or expired payment can still become succeeded). A held request holds no database
connection: it reads the payment once, waits on payhub/longpoll.py, and reads again only
when woken.
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

from flask import Response, jsonify, request
from sqlalchemy import bindparam, select

from .. import longpoll
from ..extensions import db, limiter
from ..models import Payment
from ..ratelimit import rule, too_many
from ..views import public_view
from .auth import has_token_for
from .blueprints import api as bp
from .errors import ApiError

MAX_WAIT = 30
# Shoppers' pages retry a refused long poll with a plain poll after this long.
FULL_RETRY_AFTER = 5
_PUBLIC = select(
    Payment.id, Payment.order_id, Payment.status, Payment.final, Payment.version, Payment.amount,
    Payment.currency, Payment.amount_received, Payment.updated_at, Payment.expires_at,
).where(Payment.id == bindparam("k_id"))


def etag_for(view: dict[str, Any]) -> str:
    return f'"{view["id"]}.v{view["version"]}"'


def _matches(view: dict[str, Any]) -> bool:
    given = request.headers.get("If-None-Match", "")
    tags = {t.strip().removeprefix("W/") for t in given.split(",")}
    return etag_for(view) in tags or "*" in tags


def _wait_seconds() -> int:
    raw = request.args.get("wait")
    if raw is None:
        return 0
    # ASCII digits only: "²".isdigit() is True but int("²") fails.
    if not re.fullmatch(r"[0-9]{1,2}", raw) or int(raw) > MAX_WAIT:
        raise ApiError(400, "invalid_request", f"wait must be an integer from 0 to {MAX_WAIT}", "wait")
    return int(raw)


def read_view(payment_id: str) -> dict[str, Any] | None:
    """The public view, read on a connection that goes back to the pool at once."""
    if len(payment_id) > 40:
        return None
    with db.engine.connect() as conn:
        row = conn.execute(_PUBLIC, {"k_id": payment_id}).first()
    return public_view(SimpleNamespace(**row._mapping)) if row is not None else None


@bp.get("/payments/<payment_id>/status")
@limiter.limit(rule("status"))
def status(payment_id: str) -> Any:
    if not has_token_for(payment_id):
        raise ApiError(401, "invalid_token", "a valid subscribe token for this payment is required")
    wait = _wait_seconds()
    waiter = None
    if wait and request.headers.get("If-None-Match"):
        # Registered before the read, so a change committed in between is heard of.
        waiter = longpoll.polls().register(payment_id)
        if waiter is None:
            return too_many(FULL_RETRY_AFTER, "this server holds as many long polls as it may")
    try:
        view = read_view(payment_id)
        if view is None:
            raise ApiError(404, "not_found", "no such payment")
        if waiter is not None and _matches(view) and waiter.wait(view["version"], wait):
            view = read_view(payment_id) or view
    finally:
        if waiter is not None:
            longpoll.polls().release(waiter)
    return _answer(view)


def _answer(view: dict[str, Any]) -> Response:
    response = Response(status=304) if _matches(view) else jsonify(view)
    response.headers["ETag"] = etag_for(view)
    response.headers["Cache-Control"] = "no-cache"
    return response

