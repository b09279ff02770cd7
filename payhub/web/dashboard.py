"""The operators' dashboard (CONTRACT.md §7): payments live, filters, counts, each payment's
event log, the Resolve control for payments under review. Guarded by PAYHUB_API_KEY, sent as
`Authorization: Bearer` or entered once in a sign-in form that keeps a session cookie. Without
it, no payment data is shown anywhere here (the live feed's Socket.IO room checks the same key
or session, see realtime.on_operators_join).

A signed-in session is a row in operator_sessions (payhub/operator_sessions.py): signing out
deletes it, so the old cookie stops working in every process, and disconnects the Socket.IO
connections it admitted, wherever they are (payhub/session_sockets.py). Every POST here carries a
Flask-WTF CSRF token (a form field, or the X-CSRFToken header for scripts); sign-in attempts
are rate limited per address.
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError
from sqlalchemy import func, select

from .. import lifecycle, operator_sessions, session_sockets
from ..extensions import csrf, db, limiter
from ..gateways import KNOWN
from ..models import Payment, PaymentEvent
from ..ratelimit import rule
from ..views import payment_view
from .api import get_payment, json_body, resolve_response
from .auth import SESSION_KEY, has_api_key, is_operator, settings

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")

PAGE_SIZE = 100


@bp.before_request
def _csrf() -> None:
    # A request with the API key in its Authorization header is a script's, which no other
    # site can make a browser send: only cookie-borne requests need the token.
    if request.method not in ("GET", "HEAD", "OPTIONS") and not has_api_key():
        csrf.protect()  # CSRFError: a 400 (see _stale_form)


@bp.errorhandler(CSRFError)
def _stale_form(exc: CSRFError) -> Any:
    if request.is_json:  # the page's scripts
        message = "missing or stale CSRF token; reload the page"
        return jsonify({"error": {"code": "csrf_failed", "message": message}}), 400
    return render_template("dashboard_signin.html", error="That form had expired; please try again."), 400


def _filters() -> dict[str, str]:
    wanted = {"status": lifecycle.STATUSES, "gateway": KNOWN}
    return {name: request.args[name] for name, allowed in wanted.items() if request.args.get(name) in allowed}


def _payments(filters: dict[str, str]) -> list[dict[str, Any]]:
    query = select(Payment).where(Payment.checkout.is_not(None))
    if "status" in filters:
        query = query.where(Payment.status == filters["status"])
    if "gateway" in filters:
        query = query.where(Payment.gateway == filters["gateway"])
    query = query.order_by(Payment.created_at.desc(), Payment.id.desc()).limit(PAGE_SIZE)
    return [payment_view(p) for p in db.session.execute(query).scalars()]


def _counts() -> dict[str, int]:
    rows = db.session.execute(
        select(Payment.status, func.count()).where(Payment.checkout.is_not(None)).group_by(Payment.status)
    ).all()
    found = dict(rows)
    return {status: found.get(status, 0) for status in lifecycle.STATUSES}


def _denied() -> Any:
    return jsonify({"error": {"code": "unauthorized", "message": "sign in to the dashboard first"}}), 401


@bp.get("")
def index() -> Any:
    if not is_operator():
        return render_template("dashboard_signin.html"), 401
    filters = _filters()
    return render_template(
        "dashboard.html", payments=_payments(filters), counts=_counts(), filters=filters,
        statuses=lifecycle.STATUSES, gateways=KNOWN, enabled=list(current_app.extensions["payhub.gateways"]),
    )


@bp.post("/signin")
@limiter.limit(rule("signin"))
def sign_in() -> Any:
    given = request.form.get("api_key", "").strip()
    if not hmac.compare_digest(given.encode(), settings().api_key.encode()):
        return render_template("dashboard_signin.html", error="That key is not right."), 401
    _end_session()  # signing in again ends the session this browser had
    session.clear()  # a fresh session (and CSRF token) for the signed-in operator
    session[SESSION_KEY] = operator_sessions.open_session(settings())
    return redirect(url_for("dashboard.index"), code=303)


@bp.post("/signout")
def sign_out() -> Any:
    _end_session()
    session.clear()
    return redirect(url_for("dashboard.index"), code=303)


def _end_session() -> None:
    """End this browser's session everywhere: its row, then its live feeds in every process."""
    token = session.get(SESSION_KEY)
    if isinstance(token, str):
        operator_sessions.close_session(token)
        session_sockets.end(token)


@bp.get("/data/payments")
def payments_data() -> Any:
    if not is_operator():
        return _denied()
    return jsonify({"payments": _payments(_filters()), "counts": _counts()})


@bp.get("/data/payments/<payment_id>")
def payment_data(payment_id: str) -> Any:
    if not is_operator():
        return _denied()
    payment = db.session.get(Payment, payment_id) if len(payment_id) <= 40 else None
    if payment is None:
        return jsonify({"error": {"code": "not_found", "message": "no such payment"}}), 404
    events = db.session.execute(
        select(PaymentEvent).where(PaymentEvent.payment_id == payment.id).order_by(PaymentEvent.id)
    ).scalars().all()
    return jsonify(payment_view(payment, list(events)))


@bp.post("/payments/<payment_id>/resolve")
def resolve(payment_id: str) -> Any:
    """The Resolve control: the same decision as POST /api/payments/<id>/resolve, for a signed-in
    operator. JSON only, which a cross-site form cannot send; the page also sends its CSRF
    token (X-CSRFToken) whenever the app issues one."""
    if not is_operator():
        return _denied()
    payment = get_payment(payment_id)
    return resolve_response(payment, json_body(), via="dashboard")
