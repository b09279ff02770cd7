"""Creating a payment: store it, then open it at the gateway, idempotently by order_id.

The row is committed before the gateway is called (no network I/O inside a transaction). If
the gateway fails or times out, the row stays unopened (checkout null: not listed, not swept)
and a retry of the same request opens the same payment again, with the same payment id: a
gateway that honours idempotency keys derived from it (Stripe) then returns what it may
already have created instead of creating it twice. A crash mid-call is recovered the same way.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from . import lifecycle, metrics, tokens
from .config import Settings
from .extensions import db
from .gateways.base import AmountNotAccepted, Gateway
from .models import Payment, utcnow
from .views import payment_ref


class OrderConflict(Exception):
    """The order_id exists with a different request body."""


@dataclass(frozen=True)
class Created:
    payment: Payment
    fresh: bool  # False: the same request was seen before (idempotent replay)


def fingerprint(request: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def new_payment_id() -> str:
    return "pay_" + secrets.token_urlsafe(18)


def status_page_url(settings: Settings, payment_id: str) -> str:
    return f"{settings.public_url}/pay/{payment_id}?token={tokens.issue(settings.secret_key, payment_id)}"


def create_payment(request: dict[str, Any], gateway: Gateway, settings: Settings) -> Created:
    """Create (or replay) a payment. Raises OrderConflict, GatewayError, AmountNotAccepted."""
    validate = getattr(gateway, "validate", None)
    if validate is not None:
        validate(order_id=request["order_id"], amount=request["amount"], currency=request["currency"])
    digest = fingerprint(request)
    payment = _existing(request["order_id"], digest) or _insert(request, digest, settings)
    if payment.checkout is not None:
        return Created(payment, fresh=False)
    return Created(_open_at_gateway(payment, gateway, settings), fresh=True)


def _existing(order_id: str, digest: str) -> Payment | None:
    payment = db.session.execute(select(Payment).where(Payment.order_id == order_id)).scalar_one_or_none()
    if payment is not None and payment.request_fingerprint != digest:
        raise OrderConflict(order_id)
    return payment


def _insert(request: dict[str, Any], digest: str, settings: Settings) -> Payment:
    now = utcnow()
    payment = Payment(
        id=new_payment_id(), order_id=request["order_id"], gateway=request["gateway"],
        amount=request["amount"], currency=request["currency"], status=lifecycle.PENDING,
        final=False, version=1, customer=request["customer"], meta=request["metadata"],
        return_url=request["return_url"], request_fingerprint=digest, created_at=now,
        updated_at=now, expires_at=now + timedelta(seconds=settings.expire_after),
    )
    db.session.add(payment)
    try:
        db.session.commit()
    except IntegrityError:  # the same order_id was created concurrently
        db.session.rollback()
        existing = _existing(request["order_id"], digest)
        if existing is None:
            raise
        return existing
    return payment


def _open_at_gateway(payment: Payment, gateway: Gateway, settings: Settings) -> Payment:
    ref = payment_ref(payment, status_page_url(settings, payment.id))
    try:
        with metrics.GATEWAY_CALLS.labels(gateway.name, "create").time():
            result = gateway.create(ref)
    except AmountNotAccepted:
        # Refused outright: nothing exists at the gateway, so the corrected request may reuse
        # the order_id.
        _discard(payment.id)
        raise
    except Exception:
        db.session.rollback()
        raise
    payment.gateway_order_id = result.gateway_order_id
    payment.gateway_reference = result.gateway_reference
    payment.checkout = dict(result.checkout)
    db.session.commit()
    from .realtime import announce_created

    announce_created(payment.id)
    return payment


def _discard(payment_id: str) -> None:
    """Remove a payment the gateway refused, if nothing has happened to it yet."""
    db.session.rollback()
    db.session.execute(delete(Payment).where(Payment.id == payment_id, Payment.version == 1,
                                             Payment.checkout.is_(None)))
    db.session.commit()
