"""Pretend time has passed for a payment, for the sweep's tests: everything that happened to it
(created, last changed, due to be polled, expires) happened `seconds` earlier."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask

from payhub.extensions import db
from payhub.models import Payment


def backdate(app: Flask, payment_id: str, seconds: float) -> None:
    shift = timedelta(seconds=seconds)
    with app.app_context():
        row = db.session.get(Payment, payment_id)
        row.created_at -= shift
        row.updated_at -= shift
        row.expires_at -= shift
        if getattr(row, "next_poll_at", None) is not None:
            row.next_poll_at -= shift
        db.session.commit()
