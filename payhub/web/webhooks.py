"""Gateway callbacks: POST /webhooks/<gateway> (server to server) and /return/<gateway> (browser).

Verify on the raw bytes, go through the one door, answer only after the commit. Browser returns
are rate limited per address (anyone can send one); signed webhooks are not (a gateway sends
bursts). Nothing unverifiable is ever written (CONTRACT.md §5).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request
from sqlalchemy import select

from .. import joined_binding, metrics, tokens
from ..door import UNKNOWN_PAYMENT, Outcome, apply_update
from ..extensions import db, limiter
from ..gateways.base import RETURN, BadCallback, InvalidSignature, RawRequest, UnverifiedReturn
from ..models import Payment
from ..ratelimit import rule
from .auth import settings, subscribe_token

log = logging.getLogger(__name__)
bp = Blueprint("webhooks", __name__)

DEFAULT_REPLIES: dict[str, tuple[dict[str, Any], int]] = {
    "applied": ({"ok": True, "result": "applied"}, 200),
    "duplicate": ({"ok": True, "result": "duplicate"}, 200),
    "not_applied": ({"ok": True, "result": "not_applied"}, 200),
    "ignored": ({"ok": True, "result": "ignored"}, 200),
    "unknown_payment": (
        {"error": {"code": "unknown_payment", "message": "no payment matches this event; retry later"}}, 404,
    ),
    "invalid_signature": ({"error": {"code": "invalid_signature", "message": "signature verification failed"}}, 400),
    "bad_callback": ({"error": {"code": "bad_callback", "message": "the callback could not be understood"}}, 400),
    "error": ({"error": {"code": "internal_error", "message": "not recorded; retry"}}, 500),
}


def _gateway(name: str) -> Any:
    gateway = current_app.extensions["payhub.gateways"].get(name)
    if gateway is None:
        abort(404)
    return gateway


def raw_request() -> RawRequest:
    # Bodies over 64 KiB never get here: 413 by Content-Length (Werkzeug) or, for a chunked
    # body, by payhub/web/hardening.py before the app sees it.
    body = request.get_data(cache=True)
    form = request.form.to_dict() if request.mimetype == "application/x-www-form-urlencoded" else {}
    return RawRequest(
        body=body, headers=request.headers, content_type=request.content_type or "",
        form=form, args=request.args.to_dict(), method=request.method,
    )


def reply(gateway: Any, result: str) -> Any:
    metrics.CALLBACKS.labels(gateway.name, result).inc()
    answer = gateway.webhook_reply(result)
    # A gateway's own answer may add headers (PayAtom wants application/json;charset=utf-8).
    body, status, *headers = answer if answer is not None else DEFAULT_REPLIES[result]
    return jsonify(body), status, *headers


def timed(route: str) -> Callable[[Callable[[str], Any]], Callable[[str], Any]]:
    """Time a callback view per gateway: payhub_callback_seconds{gateway, route}. Only enabled
    gateways get a series (the name comes from the URL)."""

    def decorate(view: Callable[[str], Any]) -> Callable[[str], Any]:
        @functools.wraps(view)
        def timed_view(name: str) -> Any:
            if name not in current_app.extensions["payhub.gateways"]:
                return view(name)
            with metrics.CALLBACK_SECONDS.labels(name, route).time():
                return view(name)

        return timed_view

    return decorate


@bp.post("/webhooks/<name>")
@timed("webhook")
def webhook(name: str) -> Any:
    gateway = _gateway(name)
    raw = raw_request()
    try:
        update = gateway.parse_webhook(raw)
    except InvalidSignature as exc:
        log.warning("%s webhook rejected: %s", name, exc)
        return reply(gateway, "invalid_signature")
    except BadCallback as exc:
        log.warning("%s webhook unreadable: %s", name, exc)
        return reply(gateway, "bad_callback")
    if update is None:
        return reply(gateway, "ignored")
    if not joined_binding.holds(update):
        log.warning("%s webhook refused: its signed order id and amount may name another payment", name)
        return reply(gateway, "invalid_signature")
    try:
        outcome = apply_update(update, group=True)
    except Exception:
        log.exception("%s webhook could not be recorded", name)
        return reply(gateway, "error")
    if outcome.result == UNKNOWN_PAYMENT and update.unknown_is_foreign:
        return reply(gateway, "ignored")
    return reply(gateway, outcome.result)


@bp.route("/return/<name>", methods=["GET", "POST"])
@timed("return")
@limiter.limit(rule("returns"))
def browser_return(name: str) -> Any:
    gateway = _gateway(name)
    if not gateway.accepts_returns:
        abort(404)
    try:
        update = gateway.parse_return(raw_request())
        if update.source != RETURN:
            raise BadCallback("adapter returned a non-return update")
        outcome = apply_update(update)
    except UnverifiedReturn as hint:
        return _unverified(name, hint)
    except (InvalidSignature, BadCallback) as exc:
        log.warning("%s return rejected: %s", name, exc)
        return _problem("We could not verify this payment response", "The payment status was not changed.", 400)
    return _to_status_page(outcome)


def _unverified(name: str, hint: UnverifiedReturn) -> Any:
    """An unsigned return (e.g. a failed checkout): write nothing, issue no token. A shopper
    whose return URL carries the status page's own token goes back to that page."""
    payment_id = db.session.execute(
        select(Payment.id).where(Payment.gateway == name, Payment.gateway_order_id == hint.gateway_order_id)
    ).scalar()
    db.session.rollback()
    token = subscribe_token()
    if payment_id is not None and token and tokens.verify(settings().secret_key, token, payment_id,
                                                          settings().token_ttl):
        return redirect(f"/pay/{payment_id}?token={token}", code=303)
    return _problem("The payment was not completed", "The gateway reported that this payment did not go "
                    "through; nothing was recorded from this page. Your order's status page still shows "
                    "its live status.", 200)


def _to_status_page(outcome: Outcome) -> Any:
    if outcome.result == UNKNOWN_PAYMENT or outcome.payment is None:
        return _problem("Unknown payment", "This payment response does not match any payment.", 404)
    payment_id = outcome.payment["id"]
    token = tokens.issue(settings().secret_key, payment_id)
    return redirect(f"/pay/{payment_id}?token={token}", code=303)


def _problem(title: str, detail: str, status: int) -> Any:
    return render_template("problem.html", title=title, detail=detail), status
