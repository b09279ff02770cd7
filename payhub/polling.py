"""Asking a gateway for a payment's status and applying the answer through the one door."""

from __future__ import annotations

import logging
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import or_, update

from . import metrics
from .door import Outcome, apply_update
from .extensions import db
from .gateways.base import POLL, GatewayError, PaymentRef, StatusUpdate
from .models import Payment, utcnow
from .views import payment_ref

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PollResult:
    """What one poll came to. `answered`: the gateway answered and the answer is committed
    (applied or only recorded); a gateway error, a timeout, an unreadable answer or a database
    error is no answer. `status` is the payment's status after it, when answered."""

    answered: bool
    status: str | None = None
    error: str | None = None


def poll_payment(payment_id: str, *, by_shopper: bool = False) -> Outcome | None:
    """Poll the payment's gateway now and apply the answer. None when there is nothing to ask
    (unknown payment, gateway disabled, or never opened at the gateway). Raises GatewayError.
    `by_shopper`: asked for with the subscribe token, as often as the refresh limit allows, so
    an unchanged answer is kept once (door.py)."""
    payment = db.session.get(Payment, payment_id)
    gateway = current_app.extensions["payhub.gateways"].get(payment.gateway) if payment else None
    if payment is None or gateway is None or not payment.gateway_order_id:
        db.session.rollback()
        return None
    ref = payment_ref(payment)
    db.session.rollback()  # no transaction stays open across the network call
    started = time.perf_counter()
    answer = replace(_ask(gateway, ref, started), payment_id=payment_id, source=POLL, shopper_can_repeat=by_shopper)
    outcome = apply_update(answer)
    metrics.POLL_SECONDS.labels(gateway.name, "ok").observe(time.perf_counter() - started)
    return outcome


def poll_ref(gateway_name: str, ref: PaymentRef, db_slot: AbstractContextManager[Any] | None = None) -> PollResult:
    """Poll a payment the caller has claimed (the sweep), holding no database connection while
    the gateway is asked. `db_slot` is entered around the database work. Never raises."""
    gateway = current_app.extensions["payhub.gateways"].get(gateway_name)
    if gateway is None:
        return PollResult(False, error=f"gateway {gateway_name} is disabled")
    started = time.perf_counter()
    try:
        answer = _ask(gateway, ref, started)
    except GatewayError as exc:
        return PollResult(False, error=str(exc))
    except Exception as exc:  # a bug in an adapter is still no answer, and must not stop the sweep
        log.exception("poll of %s at %s failed unexpectedly", ref.id, gateway_name)
        return PollResult(False, error=type(exc).__name__)
    try:
        with db_slot or nullcontext():
            outcome = apply_update(replace(answer, payment_id=ref.id, source=POLL))
    except Exception as exc:
        db.session.rollback()
        log.error("the answer of %s's poll could not be applied: %s: %s", ref.id, type(exc).__name__, exc)
        return PollResult(False, error=f"database: {type(exc).__name__}")
    metrics.POLL_SECONDS.labels(gateway.name, "ok").observe(time.perf_counter() - started)
    status = outcome.payment["status"] if outcome.payment else None
    return PollResult(outcome.payment is not None, status, None if outcome.payment else outcome.result)


def _ask(gateway: Any, ref: PaymentRef, started: float) -> StatusUpdate:
    try:
        with metrics.GATEWAY_CALLS.labels(gateway.name, "poll").time():
            answer = gateway.poll(ref)
    except GatewayError:
        metrics.POLLS.labels(gateway.name, "error").inc()
        metrics.POLL_SECONDS.labels(gateway.name, "error").observe(time.perf_counter() - started)
        raise
    metrics.POLLS.labels(gateway.name, "ok").inc()
    return answer


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
