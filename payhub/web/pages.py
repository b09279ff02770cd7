"""Browser pages: the demo shop (/), the payment status page (/pay/<id>) and the vendored
Socket.IO browser client (/vendor/…)."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request, send_file, url_for

from .. import ROOT, tokens
from ..creation import create_payment
from ..extensions import db, limiter
from ..gateways import KNOWN
from ..gateways.base import AmountNotAccepted, GatewayError
from ..models import Payment
from ..money import to_decimal_string
from ..ratelimit import rule
from ..views import public_view
from .auth import has_token_for, settings
from .errors import ApiError
from .payment_input import validate_create

bp = Blueprint("pages", __name__)

# The demo shop's catalogue: (id, name, description, amount in paise).
CATALOGUE = (
    ("chai", "Masala chai", "A cup of spiced tea, brewed to order.", 4900),
    ("notebook", "Dot-grid notebook", "A5, 120 pages, lies flat.", 24950),
    ("headphones", "Wired headphones", "Closed-back, 1.2 m cable.", 199900),
)
CURRENCY = "INR"
# The only gateway the demo shop pays with: anyone can use it, so it never opens a payment
# with the merchant's real gateway credentials (CONTRACT.md §1 PAYHUB_DEMO_SHOP).
SHOP_GATEWAY = "sandbox"

# npm install puts the browser bundle here; it is served, never committed.
VENDOR_DIR = ROOT / "node_modules" / "socket.io-client" / "dist"
VENDOR_FILES = {"socket.io.min.js": "text/javascript", "socket.io.min.js.map": "application/json"}


def money(minor: int, currency: str) -> str:
    """Server-side amount text ("249.50 INR"); the pages' JS localizes it."""
    return f"{to_decimal_string(minor, currency)} {currency}"


def problem(title: str, detail: str, status: int) -> Any:
    return render_template("problem.html", title=title, detail=detail), status


@bp.app_template_filter("money")
def money_filter(minor: int, currency: str) -> str:
    return money(minor, currency)


def _shop_open() -> None:
    if not settings().demo_shop or SHOP_GATEWAY not in current_app.extensions["payhub.gateways"]:
        abort(404)


@bp.get("/")
def shop() -> Any:
    _shop_open()
    return render_template("shop.html", items=CATALOGUE, currency=CURRENCY)


@bp.post("/shop/orders")
@limiter.limit(rule("shop"))
def buy() -> Any:
    """The shop's own backend: create a sandbox payment server-side (the API key never reaches
    the browser), then hand the shopper to the sandbox checkout."""
    _shop_open()
    item = next((i for i in CATALOGUE if i[0] == request.form.get("item")), None)
    if item is None or request.form.get("gateway", SHOP_GATEWAY) != SHOP_GATEWAY:
        return problem("Pick an item", "That item is not available; the demo shop pays with the sandbox "
                       "gateway only.", 400)
    body = {
        "order_id": f"shop-{secrets.token_hex(6)}", "amount": item[3], "currency": CURRENCY,
        "gateway": SHOP_GATEWAY, "return_url": settings().public_url + url_for("pages.shop"),
        "metadata": {"item": item[0], "source": "demo-shop"},
    }
    gateway = current_app.extensions["payhub.gateways"][SHOP_GATEWAY]
    try:
        payment = create_payment(validate_create(body, KNOWN), gateway, settings()).payment
    except (GatewayError, AmountNotAccepted, ApiError) as exc:
        current_app.logger.warning("demo shop could not create a sandbox payment: %s", exc)
        return problem("The payment could not be started", "The sandbox gateway did not accept it. "
                       "Nothing was charged; please try again.", 502)
    return hand_off(payment)


def hand_off(payment: Payment) -> Any:
    """Send the shopper to the gateway the way its checkout asks for."""
    checkout = payment.checkout or {}
    token = tokens.issue(settings().secret_key, payment.id)
    status_url = url_for("pages.status_page", payment_id=payment.id, token=token)
    if checkout.get("redirect_url"):
        return redirect(checkout["redirect_url"], code=303)
    return render_template("handoff.html", payment=payment, checkout=checkout, status_url=status_url)


@bp.get("/pay/<payment_id>")
@limiter.limit(rule("status"))
def status_page(payment_id: str) -> Any:
    if not has_token_for(payment_id):
        return problem("This payment link is not valid", "The link is incomplete or has expired. "
                       "Please go back to the shop and open your order again.", 403)
    payment = db.session.get(Payment, payment_id)
    if payment is None:
        return problem("Payment not found", "There is no payment with this id.", 404)
    response = Response(render_template(
        "status.html", payment=public_view(payment), token=request.args.get("token", ""),
        return_url=payment.return_url,
    ))
    # The token is in the URL: keep it out of Referer headers and shared caches.
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/vendor/<name>")
def vendor(name: str) -> Any:
    if name not in VENDOR_FILES:
        return Response("not found\n", status=404, mimetype="text/plain")
    path = VENDOR_DIR / name
    if not path.is_file():
        message = (f"{name} is missing: run `npm ci` in the PayHub folder to install the Socket.IO "
                   "browser client. Pages fall back to polling until then.\n")
        return Response(message, status=503, mimetype="text/plain")
    return send_file(path, mimetype=VENDOR_FILES[name], max_age=3600)
