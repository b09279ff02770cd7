"""Browser pages: the demo shop (/) and the payment status page (/pay/<id>)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template

from ..extensions import db
from ..models import Payment
from ..views import public_view
from .auth import has_token_for

bp = Blueprint("pages", __name__)


@bp.get("/pay/<payment_id>")
def status_page(payment_id: str) -> Any:
    if not has_token_for(payment_id):
        abort(403)
    payment = db.session.get(Payment, payment_id)
    if payment is None:
        abort(404)
    return render_template("status.html", payment=public_view(payment), return_url=payment.return_url)
