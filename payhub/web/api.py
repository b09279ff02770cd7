"""The merchant backend API (CONTRACT.md §3). Bearer API key on every route."""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime
from typing import Any

from flask import current_app, jsonify, request, url_for
from sqlalchemy import and_, or_, select

from .. import lifecycle, review, tokens
from ..creation import OrderConflict, create_payment, status_page_url
from ..door import apply_update
from ..extensions import db
from ..gateways import KNOWN
from ..gateways.base import API, AmountNotAccepted, GatewayError, StatusUpdate
from ..models import Payment, PaymentEvent
from ..polling import claim_refresh, poll_payment
from ..views import payment_view, public_view
from . import blueprints
from .auth import has_api_key, has_token_for, require_api_key, settings
from .errors import ApiError

bp = blueprints.api


def json_body() -> Any:
    if not request.is_json:
        raise ApiError(415, "unsupported_media_type", "send JSON with Content-Type: application/json")
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "invalid_json", "the body is not valid JSON", "body")
    return body


def gateways() -> dict[str, Any]:
    return current_app.extensions["payhub.gateways"]


def get_payment(payment_id: str) -> Payment:
    payment = db.session.get(Payment, payment_id) if len(payment_id) <= 40 else None
    if payment is None:
        raise ApiError(404, "not_found", "no such payment")
    return payment


@bp.post("/payments")
def create() -> Any:
    require_api_key()
    from .payment_input import validate_create

    data = validate_create(json_body(), KNOWN)
    gateway = gateways().get(data["gateway"])
    if gateway is None:
        raise ApiError(400, "gateway_disabled", f"gateway {data['gateway']!r} is not configured", "gateway")
    try:
        created = create_payment(data, gateway, settings())
    except OrderConflict:
        raise ApiError(409, "order_conflict", "order_id already used with a different request", "order_id") from None
    except AmountNotAccepted as exc:
        raise ApiError(400, "not_accepted_by_gateway", str(exc), exc.field) from None
    except GatewayError as exc:
        current_app.logger.warning("gateway %s refused create: %s", data["gateway"], exc)
        message = f"the {data['gateway']} gateway is unreachable or refused: {exc}"
        raise ApiError(502, "gateway_error", message) from None
    return jsonify(created_view(created.payment)), 201 if created.fresh else 200


def created_view(payment: Payment) -> dict[str, Any]:
    s = settings()
    return payment_view(payment) | {
        "subscribe_token": tokens.issue(s.secret_key, payment.id),
        "status_url": status_page_url(s, payment.id),
        "poll_url": s.public_url + url_for("api.status", payment_id=payment.id),
        "checkout": payment.checkout,
    }


@bp.get("/payments/<payment_id>")
def read(payment_id: str) -> Any:
    require_api_key()
    payment = get_payment(payment_id)
    events = db.session.execute(
        select(PaymentEvent).where(PaymentEvent.payment_id == payment.id).order_by(PaymentEvent.id)
    ).scalars().all()
    return jsonify(payment_view(payment, list(events)))


@bp.get("/payments")
def listing() -> Any:
    require_api_key()
    limit = _int_arg("limit", 20, 1, 100)
    query = select(Payment).where(Payment.checkout.is_not(None))
    for name, column, allowed in (("status", Payment.status, lifecycle.STATUSES), ("gateway", Payment.gateway, KNOWN)):
        value = request.args.get(name)
        if value is not None:
            if value not in allowed:
                raise ApiError(400, "invalid_request", f"{name} must be one of {', '.join(allowed)}", name)
            query = query.where(column == value)
    if request.args.get("order_id") is not None:
        query = query.where(Payment.order_id == request.args["order_id"])
    if request.args.get("cursor"):
        created, pid = _decode_cursor(request.args["cursor"])
        query = query.where(or_(Payment.created_at < created, and_(Payment.created_at == created, Payment.id < pid)))
    query = query.order_by(Payment.created_at.desc(), Payment.id.desc()).limit(limit + 1)
    rows = db.session.execute(query).scalars().all()
    page, more = rows[:limit], len(rows) > limit
    cursor = _encode_cursor(page[-1]) if more and page else None
    return jsonify({"data": [payment_view(p) for p in page], "next_cursor": cursor})


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    # ASCII digits only: "²".isdigit() is True, and int("²") raises.
    if not re.fullmatch(r"[0-9]{1,9}", raw) or not low <= int(raw) <= high:
        raise ApiError(400, "invalid_request", f"{name} must be an integer from {low} to {high}", name)
    return int(raw)


def _encode_cursor(payment: Payment) -> str:
    raw = json.dumps([payment.created_at.isoformat(), payment.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created, pid = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(created), str(pid)
    except (ValueError, TypeError, binascii.Error):
        raise ApiError(400, "invalid_request", "cursor is not one this API gave out", "cursor") from None


@bp.post("/payments/<payment_id>/refresh")
def refresh(payment_id: str) -> Any:
    merchant = has_api_key()
    if not merchant and not has_token_for(payment_id):
        raise ApiError(401, "unauthorized", "an API key or this payment's subscribe token is required")
    payment = get_payment(payment_id)
    if not claim_refresh(payment.id, settings().refresh_interval):
        raise ApiError(429, "rate_limited", "this payment was refreshed moments ago; try again shortly")
    try:
        poll_payment(payment.id, by_shopper=not merchant)
    except GatewayError as exc:
        raise ApiError(502, "gateway_error", f"the {payment.gateway} gateway did not answer: {exc}") from None
    payment = get_payment(payment_id)
    db.session.refresh(payment)
    return jsonify(payment_view(payment) if merchant else public_view(payment))


@bp.post("/payments/<payment_id>/cancel")
def cancel(payment_id: str) -> Any:
    require_api_key()
    payment = get_payment(payment_id)
    outcome = apply_update(StatusUpdate(
        gateway=payment.gateway, status=lifecycle.CANCELLED, gateway_status="", source=API,
        payment_id=payment.id, payload={"action": "cancel"},
    ))
    db.session.refresh(payment)
    if outcome.result != "applied" and payment.status != lifecycle.CANCELLED:
        raise ApiError(409, "not_cancellable", f"a {payment.status} payment cannot be cancelled",
                       payment_status=payment.status)
    return jsonify(payment_view(payment))


@bp.post("/payments/<payment_id>/resolve")
def resolve(payment_id: str) -> Any:
    """An operator's decision on a needs_review payment (succeeded or refund_pending)."""
    require_api_key()
    payment = get_payment(payment_id)
    return resolve_response(payment, json_body(), via="api")


def resolve_response(payment: Payment, body: Any, *, via: str) -> Any:
    """Shared by this route and the dashboard's Resolve control: 200 with the payment, 400 for a
    bad body, 409 unless the payment is under review."""
    try:
        wanted = review.read_resolution(body)
    except review.BadResolution as exc:
        raise ApiError(400, "invalid_request", str(exc), exc.field) from None
    outcome = review.resolve(payment.id, payment.gateway, wanted, via=via)
    db.session.refresh(payment)
    if outcome.result != "applied":
        raise ApiError(409, "not_under_review", f"a {payment.status} payment is not under review; "
                       "only a needs_review payment can be resolved", payment_status=payment.status)
    return jsonify(payment_view(payment))

