"""The sandbox gateway's hosted pages and status API (mounted only when the sandbox is on)."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request

from ..web.auth import settings
from . import ledger

bp = Blueprint("sandbox", __name__, url_prefix="/sandbox")

MAX_DELAY = 30


@bp.before_request
def _enabled() -> None:
    if "sandbox" not in current_app.extensions["payhub.gateways"]:
        abort(404)


def _txn(txn_id: str) -> Any:
    txn = ledger.find(txn_id)
    if txn is None:
        abort(404)
    return txn


@bp.get("/checkout/<txn_id>")
def checkout(txn_id: str) -> Any:
    return render_template("sandbox_checkout.html", txn=_txn(txn_id), max_delay=MAX_DELAY)


@bp.post("/checkout/<txn_id>")
def decide(txn_id: str) -> Any:
    txn = _txn(txn_id)
    action = request.form.get("action", "")
    if action not in ("pay", "fail", "abandon"):
        abort(400)
    delay = request.form.get("delay", "0")
    delay_s = min(int(delay), MAX_DELAY) if re.fullmatch(r"[0-9]{1,4}", delay) else 0
    paid = request.form.get("amount", "")
    amount = int(paid) if re.fullmatch(r"[0-9]{1,13}", paid) and 0 < int(paid) < 10**13 else txn.amount
    if action != "abandon" and txn.status == "processing":
        status = ledger.OUTCOMES[action]
        ledger.settle(txn, status, amount)
        ledger.send_later(txn, status, amount, settings().sandbox_webhook_secret, delay_s)
    return redirect(txn.return_url, code=303)


@bp.get("/status/<txn_id>")
def status(txn_id: str) -> Any:
    """`amount` is what was paid (null until paid), like the callback's; never the requested one,
    which would make a short payment look whole."""
    txn = _txn(txn_id)
    return jsonify({"transaction_id": txn.id, "status": txn.status, "amount": txn.amount_paid,
                    "amount_requested": txn.amount, "currency": txn.currency})
