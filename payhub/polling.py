"""Asking a gateway for a payment's status and applying the answer through the one door."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import timedelta

from flask import current_app
from sqlalchemy import or_, update

from . import metrics
from .door import Outcome, apply_update
from .extensions import db
from .gateways.base import POLL, GatewayError
from .models import Payment, utcnow
from .views import payment_ref

log = logging.getLogger(__name__)


def poll_payment(payment_id: str) -> Outcome | None:
    """Poll the payment's gateway now and apply the answer. None when there is nothing to ask
    (unknown payment, gateway disabled, or never opened at the gateway). Raises GatewayError."""
    payment = db.session.get(Payment, payment_id)
    gateway = current_app.extensions["payhub.gateways"].get(payment.gateway) if payment else None
    if payment is None or gateway is None or not payment.gateway_order_id:
        db.session.rollback()
        return None
    ref = payment_ref(payment)
    db.session.rollback()  # no transaction stays open across the network call
    started = time.perf_counter()
    try:
        with metrics.GATEWAY_CALLS.labels(gateway.name, "poll").time():
            answer = gateway.poll(ref)
    except GatewayError:
        metrics.POLLS.labels(gateway.name, "error").inc()
        metrics.POLL_SECONDS.labels(gateway.name, "error").observe(time.perf_counter() - started)
        raise
    metrics.POLLS.labels(gateway.name, "ok").inc()
    outcome = apply_update(replace(answer, payment_id=payment_id, source=POLL))
    metrics.POLL_SECONDS.labels(gateway.name, "ok").observe(time.perf_counter() - started)
    return outcome


def claim_refresh(payment_id: str, interval: float) -> bool:
    """Take the payment's refresh slot: at most one refresh per `interval` seconds across every
    process, decided atomically by the database."""
    now = utcnow()
    stmt = (
        update(Payment)
        .where(Payment.id == payment_id)
        .where(or_(Payment.refreshed_at.is_(None), Payment.refreshed_at <= now - timedelta(seconds=interval)))
        .values(refreshed_at=now)
        .execution_options(synchronize_session=False)
    )
    claimed = db.session.execute(stmt).rowcount == 1
    db.session.commit()
    return claimed


def safe_poll(payment_id: str) -> Outcome | None:
    """poll_payment that logs gateway errors instead of raising (for the sweep)."""
    try:
        return poll_payment(payment_id)
    except GatewayError as exc:
        log.warning("poll of %s failed: %s", payment_id, exc)
    except Exception:
        db.session.rollback()
        log.exception("poll of %s failed unexpectedly", payment_id)
    return None
