"""Creating a payment, idempotently by order_id, opened at its gateway exactly once.

An external gateway is never called inside a transaction. The payment row is inserted with an
opening claim (`opening_until`, a lease) and committed first; the request holding the claim calls
the gateway, stores the checkout and drops the claim in one conditional UPDATE. A request for the
same order that arrives meanwhile (the merchant's retry while the first waits on the gateway)
waits for the claim to end and answers 200 with the same payment and checkout (CONTRACT.md §3).

If the holder's gateway call fails, it releases the claim and answers 502; a waiting request or
a later retry then takes the claim and opens the same payment, with the same payment id, so a
gateway that honours idempotency keys derived from it (Stripe) returns what the failed call may
already have created. A holder that died mid-call keeps its claim only until the lease runs out.
A payment the gateway refuses outright is discarded, so the corrected request may reuse the
order_id.

The in-process sandbox gateway does no network I/O: its ledger row joins the payment's
transaction, and a sandbox payment is created with one INSERT of each and one commit.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from . import lifecycle, metrics, poll_schedule, tokens
from .config import Settings
from .extensions import db, socketio
from .gateways.base import AmountNotAccepted, Checkout, Gateway, GatewayError, PaymentRef
from .models import Payment, utcnow
from .publishing import announce_created
from .views import payment_ref

log = logging.getLogger(__name__)

# How often a request waiting for another one's opening claim looks again.
WAIT_STEP = 0.02
# Rounds of insert-or-wait before giving up (a row discarded under a waiter starts a new round).
ROUNDS = 5
_COLUMN_KEYS = {attr.key: attr.columns[0].key for attr in Payment.__mapper__.column_attrs}
_INSERT = insert(Payment.__table__)  # built once; the values come as parameters


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


def claim_seconds(settings: Settings) -> float:
    """How long an opening claim lasts: longer than a gateway call can take (connect and read may
    each take the whole timeout), so only a holder that died ever loses it."""
    return max(3 * settings.gateway_timeout, 5.0)


def create_payment(request: dict[str, Any], gateway: Gateway, settings: Settings) -> Created:
    """Create (or replay) a payment. Raises OrderConflict, GatewayError, AmountNotAccepted."""
    gateway.validate(order_id=request["order_id"], amount=request["amount"], currency=request["currency"])
    digest = fingerprint(request)
    for _ in range(ROUNDS):
        created = _insert(request, digest, gateway, settings) or _join(request["order_id"], digest, gateway, settings)
        if created is not None:
            return created
    raise GatewayError("the payment kept being discarded while this request waited for it; retry")


# -- the first request for an order ---------------------------------------------------------------
def _new_payment(request: dict[str, Any], digest: str, settings: Settings) -> Payment:
    """A transient Payment: never added to the session, so no commit expires it and the answer is
    built from it without reading it back. Unset attributes read as None."""
    now = utcnow()
    return Payment(
        id=new_payment_id(), order_id=request["order_id"], gateway=request["gateway"],
        amount=request["amount"], currency=request["currency"], status=lifecycle.PENDING,
        final=False, version=1, customer=request["customer"], meta=request["metadata"],
        return_url=request["return_url"], request_fingerprint=digest, created_at=now,
        updated_at=now, expires_at=now + timedelta(seconds=settings.expire_after),
    )


def _insert(request: dict[str, Any], digest: str, gateway: Gateway, settings: Settings) -> Created | None:
    """Insert the payment, holding its opening claim; None when the order_id already exists."""
    payment = _new_payment(request, digest, settings)
    ref = payment_ref(payment, status_page_url(settings, payment.id))
    if gateway.opens_in_transaction:
        _opened(payment, _gateway_create(gateway, ref, payment.id, None))
    else:
        payment.opening_until = utcnow() + timedelta(seconds=claim_seconds(settings))
    # Unset columns are left out: a None given for a JSON column would be stored as JSON null.
    values = {column: value for key, column in _COLUMN_KEYS.items() if (value := getattr(payment, key)) is not None}
    try:
        db.session.execute(_INSERT, values)
        db.session.commit()
    except IntegrityError:  # the order_id exists (perhaps inserted a moment ago by a concurrent request)
        db.session.rollback()
        return None
    if gateway.opens_in_transaction:
        return _announced(Created(payment, fresh=True))
    return _open(payment.id, ref, payment.opening_until, gateway)


# -- a request for an order that exists -----------------------------------------------------------
def _join(order_id: str, digest: str, gateway: Gateway, settings: Settings) -> Created | None:
    """The existing payment for this order: opened (200), or opened by this request once the
    claim is free; None if the row was discarded meanwhile (the caller starts again)."""
    while True:
        payment = _existing(order_id, digest)
        if payment is None:
            return None
        if payment.checkout is not None:
            return Created(payment, fresh=False)
        lease = _claim(payment.id, settings)
        if lease is not None:
            ref = replace(payment_ref(payment, status_page_url(settings, payment.id)), reopening=True)
            db.session.rollback()  # no transaction stays open across the gateway call
            return _open(payment.id, ref, lease, gateway)
        db.session.rollback()  # end the read, so the next look sees what was committed since
        socketio.sleep(WAIT_STEP)


def _existing(order_id: str, digest: str) -> Payment | None:
    query = select(Payment).where(Payment.order_id == order_id).execution_options(populate_existing=True)
    payment = db.session.execute(query).scalar_one_or_none()
    if payment is not None and payment.request_fingerprint != digest:
        db.session.rollback()
        raise OrderConflict(order_id)
    return payment


def _claim(payment_id: str, settings: Settings) -> datetime | None:
    """Take the opening claim if nobody holds it (released, or its holder's lease ran out)."""
    now = utcnow()
    lease = now + timedelta(seconds=claim_seconds(settings))
    result = db.session.execute(
        update(Payment)
        .where(Payment.id == payment_id, Payment.checkout.is_(None),
               or_(Payment.opening_until.is_(None), Payment.opening_until < now))
        .values(opening_until=lease)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return lease if result.rowcount == 1 else None


# -- calling the gateway under the claim ----------------------------------------------------------
def _gateway_create(gateway: Gateway, ref: PaymentRef, payment_id: str, lease: datetime | None) -> Checkout:
    try:
        with metrics.GATEWAY_CALLS.labels(gateway.name, "create").time():
            return gateway.create(ref)
    except AmountNotAccepted:
        # Refused outright: nothing exists at the gateway, so the corrected request may reuse
        # the order_id.
        _discard(payment_id)
        raise
    except Exception:
        db.session.rollback()
        if lease is not None:
            _release(payment_id, lease)
        raise


def _open(payment_id: str, ref: PaymentRef, lease: datetime, gateway: Gateway) -> Created:
    """Holding the claim: call the gateway, then store its checkout and drop the claim at once."""
    result = _gateway_create(gateway, ref, payment_id, lease)
    stored = db.session.execute(
        update(Payment)
        .where(Payment.id == payment_id, Payment.checkout.is_(None))
        .values(gateway_order_id=result.gateway_order_id, gateway_reference=result.gateway_reference,
                checkout=dict(result.checkout), opening_until=None,
                next_poll_at=poll_schedule.first_poll(ref.created_at))
        .execution_options(synchronize_session=False)
    ).rowcount
    if stored:
        db.session.commit()
    else:
        # Our lease ran out mid-call and another request opened and stored it first: theirs stands.
        db.session.rollback()
        log.warning("payment %s was opened twice at %s (a claim expired mid-call); the first stored stands",
                    payment_id, gateway.name)
    payment = db.session.execute(
        select(Payment).where(Payment.id == payment_id).execution_options(populate_existing=True)
    ).scalar_one()
    created = Created(payment, fresh=bool(stored))
    return _announced(created) if stored else created


def _opened(payment: Payment, result: Checkout) -> None:
    payment.gateway_order_id = result.gateway_order_id
    payment.gateway_reference = result.gateway_reference
    payment.checkout = dict(result.checkout)
    payment.next_poll_at = poll_schedule.first_poll(payment.created_at)


def _announced(created: Created) -> Created:
    announce_created(created.payment.id)
    return created


def _release(payment_id: str, lease: datetime) -> None:
    """Give up our claim after a failed gateway call, so a retry need not wait for the lease."""
    db.session.execute(
        update(Payment)
        .where(Payment.id == payment_id, Payment.checkout.is_(None), Payment.opening_until == lease)
        .values(opening_until=None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def _discard(payment_id: str) -> None:
    """Remove a payment the gateway refused, if nothing has happened to it yet."""
    db.session.rollback()
    db.session.execute(delete(Payment).where(Payment.id == payment_id, Payment.version == 1,
                                             Payment.checkout.is_(None)))
    db.session.commit()
