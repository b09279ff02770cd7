"""The polling fallback: GET /api/payments/<id>/status with the subscribe token (CONTRACT.md §4)."""

from __future__ import annotations

import time
from typing import Any

from flask import Response, jsonify, request

from ..extensions import db, socketio
from ..models import Payment
from ..views import public_view
from .auth import has_token_for
from .blueprints import api as bp
from .errors import ApiError

MAX_WAIT = 30
WAIT_STEP = 0.5


def etag_for(payment: Payment) -> str:
    return f'"{payment.id}.v{payment.version}"'


def _matches(payment: Payment) -> bool:
    given = request.headers.get("If-None-Match", "")
    tags = {t.strip().removeprefix("W/") for t in given.split(",")}
    return etag_for(payment) in tags or "*" in tags


def _wait_seconds() -> float:
    raw = request.args.get("wait")
    if raw is None:
        return 0
    if not raw.isdigit() or int(raw) > MAX_WAIT:
        raise ApiError(400, "invalid_request", f"wait must be an integer from 0 to {MAX_WAIT}", "wait")
    return float(raw)


def _load(payment_id: str) -> Payment | None:
    payment = db.session.get(Payment, payment_id)
    if payment is not None:
        db.session.refresh(payment)
    db.session.rollback()  # never hold a read transaction while waiting
    return payment


@bp.get("/payments/<payment_id>/status")
def status(payment_id: str) -> Any:
    if not has_token_for(payment_id):
        raise ApiError(401, "invalid_token", "a valid subscribe token for this payment is required")
    wait = _wait_seconds()
    payment = _load(payment_id)
    if payment is None:
        raise ApiError(404, "not_found", "no such payment")
    deadline = time.monotonic() + wait
    # Long poll: hold the request while the client already has the current version.
    while _matches(payment) and not payment.final and time.monotonic() < deadline:
        socketio.sleep(WAIT_STEP)
        payment = _load(payment_id) or payment
    response = Response(status=304) if _matches(payment) else jsonify(public_view(payment))
    response.headers["ETag"] = etag_for(payment)
    response.headers["Cache-Control"] = "no-cache"
    return response
