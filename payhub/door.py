"""The one door: the only code that changes a payment's status.

Lock the row, record the event, decide by the transition table, commit, and only then publish.
A crash before the commit loses nothing the gateway will not resend (it got no 2xx); a crash
after it at worst repeats a push, which clients drop by `version`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, update

from . import lifecycle, metrics, outbox
from .extensions import db
from .gateways.base import StatusUpdate, redact
from .models import Payment, PaymentEvent, utcnow
from .views import public_view

log = logging.getLogger(__name__)

APPLIED = "applied"
NOT_APPLIED = "not_applied"
DUPLICATE = "duplicate"
UNKNOWN_PAYMENT = "unknown_payment"


@dataclass(frozen=True)
class Outcome:
    result: str
    reason: str | None
    payment: dict[str, Any] | None
    event_id: int

    @property
    def committed(self) -> bool:
        """True when the update is durably known (applied, recorded or already recorded)."""
        return self.result != UNKNOWN_PAYMENT


def apply_update(update: StatusUpdate) -> Outcome:
    """Apply one normalized update through the transition table; publish after the commit."""
    session = db.session
    try:
        outcome, view = _record(update)
        session.commit()
    except Exception:
        session.rollback()
        raise
    metrics.UPDATES.labels(update.source, outcome.result).inc()
    if outcome.result == APPLIED and view is not None:
        from .realtime import publish

        publish(view)
        if outbox.enabled():
            outbox.kick()
    return outcome


def _record(update: StatusUpdate) -> tuple[Outcome, dict[str, Any] | None]:
    payload = redact(dict(update.payload))
    digest = content_hash(update.gateway, payload)
    payment = _lock_payment(update)
    if payment is None:
        event = _add_event(update, None, payload, digest, False, UNKNOWN_PAYMENT)
        log.warning("%s %s for unknown payment %s", update.gateway, update.source, update.gateway_order_id)
        return Outcome(UNKNOWN_PAYMENT, UNKNOWN_PAYMENT, None, event.id), None
    before = payment.status
    if _seen_before(payment.id, update.gateway_event_id, digest):
        event = _add_event(update, payment, payload, digest, False, lifecycle.DUPLICATE, before)
        return Outcome(DUPLICATE, lifecycle.DUPLICATE, public_view(payment), event.id), None
    decision = lifecycle.decide(
        current=before, target=update.status, amount=payment.amount, currency=payment.currency,
        amount_received=update.amount_received, currency_received=update.currency,
    )
    if decision.applied:
        _change(payment, update, decision.status)
        if outbox.enabled():
            outbox.enqueue(payment)
    event = _add_event(update, payment, payload, digest, decision.applied, decision.reason, before)
    view = public_view(payment)
    result = APPLIED if decision.applied else NOT_APPLIED
    return Outcome(result, decision.reason, view, event.id), view if decision.applied else None


def _lock_payment(update: StatusUpdate) -> Payment | None:
    """Find the payment and hold its row lock until the commit.

    PostgreSQL: SELECT ... FOR UPDATE. SQLite ignores FOR UPDATE, so a no-op UPDATE first
    takes the database write lock; either way two writers of one payment run one at a time.
    """
    if update.payment_id:
        where = Payment.id == update.payment_id
    elif update.gateway_order_id:
        where = (Payment.gateway == update.gateway) & (Payment.gateway_order_id == update.gateway_order_id)
    else:
        return None
    session = db.session
    if session.get_bind().dialect.name == "sqlite":
        session.execute(update_stmt(where))
    found = session.execute(select(Payment).where(where).with_for_update()).scalars().first()
    if found is not None and update.payment_id and found.gateway != update.gateway:
        return None
    return found


def update_stmt(where: Any) -> Any:
    return update(Payment).where(where).values(version=Payment.version).execution_options(synchronize_session=False)


def _seen_before(payment_id: str, gateway_event_id: str | None, digest: str) -> bool:
    same = PaymentEvent.content_hash == digest
    if gateway_event_id:
        same = or_(same, PaymentEvent.gateway_event_id == gateway_event_id)
    query = select(PaymentEvent.id).where(PaymentEvent.payment_id == payment_id, same).limit(1)
    return db.session.execute(query).first() is not None


def _change(payment: Payment, update: StatusUpdate, status: str) -> None:
    payment.status = status
    payment.final = lifecycle.is_final(status)
    payment.version += 1
    payment.updated_at = utcnow()
    if update.gateway_status:
        payment.gateway_status = update.gateway_status[:64]
    if update.amount_received is not None:
        payment.amount_received = update.amount_received
    if update.gateway_payment_id:
        payment.gateway_payment_id = update.gateway_payment_id


def _add_event(
    update: StatusUpdate, payment: Payment | None, payload: Any, digest: str,
    applied: bool, reason: str | None, before: str | None = None,
) -> PaymentEvent:
    event = PaymentEvent(
        payment_id=payment.id if payment else None,
        gateway=update.gateway,
        gateway_order_id=update.gateway_order_id or (payment.gateway_order_id if payment else None),
        source=update.source,
        status=update.status,
        gateway_status=(update.gateway_status or None) and update.gateway_status[:64],
        gateway_event_id=update.gateway_event_id,
        content_hash=digest,
        applied=applied,
        reason=reason,
        status_before=before,
        status_after=payment.status if payment else None,
        amount_received=update.amount_received,
        currency=update.currency,
        payload=payload,
    )
    db.session.add(event)
    db.session.flush()
    return event


def content_hash(gateway: str, payload: Any) -> str:
    """Same gateway and same content means the same update, whatever the transport."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{gateway}\n{canonical}".encode()).hexdigest()
