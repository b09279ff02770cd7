"""The one door: the only code that changes a payment's status.

Lock the row, record the event, decide by the transition table (by the update's kind, see
lifecycle.py), commit, and only then publish.
A crash before the commit loses nothing the gateway will not resend (it got no 2xx). A crash
between the commit and the publish loses nothing either: the gateway got no 2xx, so it resends
the update, and the door, finding it a duplicate of one it applied, publishes the payment again
(at worst a repeated push, which clients drop by `version`).

This is the hot path of every callback, so it speaks SQLAlchemy Core with statements built
once, not the ORM's unit of work (about a third of the CPU per update).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, insert, or_, select, update

from . import group_commit, lifecycle, metrics, outbox, poll_schedule
from .extensions import db
from .gateways.base import RETURN, StatusUpdate, redact
from .logs import note_payment
from .models import Payment, PaymentEvent, utcnow
from .publishing import publish
from .views import public_view

log = logging.getLogger(__name__)

APPLIED = "applied"
NOT_APPLIED = "not_applied"
DUPLICATE = "duplicate"
UNKNOWN_PAYMENT = "unknown_payment"
IGNORED = "ignored"  # a notice (kind info) that names no payment of ours: nothing written

_P, _E = Payment.__table__, PaymentEvent.__table__
# The payment columns the door and the views read, named as the model's attributes (the
# "metadata" column is `meta`); not the checkout blob nor the sweep's bookkeeping.
_SKIPPED = {"checkout", "request_fingerprint", "next_poll_at", "refreshed_at"}
_COLUMNS = [getattr(Payment, a.key).label(a.key) for a in Payment.__mapper__.column_attrs if a.key not in _SKIPPED]


def _lock(where: Any) -> Any:
    """UPDATE ... SET version = version ... RETURNING *: one statement that takes the row lock
    (PostgreSQL) or the write lock (SQLite) and reads the row under it."""
    return update(_P).where(where).values(version=_P.c.version).returning(*_COLUMNS)


_LOCK_BY_ID = _lock(_P.c.id == bindparam("k_id"))
_LOCK_BY_GATEWAY_ORDER = _lock(
    (_P.c.gateway == bindparam("k_gateway")) & (_P.c.gateway_order_id == bindparam("k_order"))
)
# The earlier event(s) the same update was recorded as; an applied one first.
_SEEN = select(_E.c.applied).where(
    _E.c.payment_id == bindparam("k_payment"),
    or_(_E.c.content_hash == bindparam("k_digest"), _E.c.gateway_event_id == bindparam("k_event")),
).order_by(_E.c.applied.desc()).limit(1)
_REPEAT_KEPT = select(_E.c.id).where(
    _E.c.payment_id == bindparam("k_payment"), _E.c.reason == lifecycle.DUPLICATE,
    or_(_E.c.content_hash == bindparam("k_digest"), _E.c.gateway_event_id == bindparam("k_event")),
).limit(1)
_ORPHAN_KEPT = select(_E.c.id).where(
    _E.c.payment_id.is_(None), _E.c.gateway == bindparam("k_gateway"), _E.c.content_hash == bindparam("k_digest"),
).limit(1)
# A failure of the refund an update is about, already on the payment's log. Same connection as
# the rest of _record, so it sees a failure recorded earlier in the same (group's) transaction.
_REFUND_FAILED = select(_E.c.id).where(
    _E.c.payment_id == bindparam("k_payment"), _E.c.subject_id == bindparam("k_subject"),
    _E.c.kind == lifecycle.Kind.REFUND_FAILED.value,
).limit(1)
# Another refund of the payment still open: one with news of it starting or going through on
# the log and no failure of its own. Both halves walk ix_events_subject (payment_id, subject_id);
# same connection, so events earlier in the same group's transaction count.
_F = _E.alias("failed")
_OTHER_REFUND_OPEN = select(_E.c.id).where(
    _E.c.payment_id == bindparam("k_payment"), _E.c.subject_id.is_not(None),
    _E.c.subject_id != bindparam("k_subject"),
    _E.c.kind.in_([k.value for k in lifecycle.REFUND_PROGRESS]),
    ~select(_F.c.id).where(
        _F.c.payment_id == _E.c.payment_id, _F.c.subject_id == _E.c.subject_id,
        _F.c.kind == lifecycle.Kind.REFUND_FAILED.value,
    ).exists(),
).limit(1)
_CHANGE = update(_P).where(_P.c.id == bindparam("k_id")).values(
    status=bindparam("v_status"), final=bindparam("v_final"), version=bindparam("v_version"),
    updated_at=bindparam("v_updated_at"), gateway_status=bindparam("v_gateway_status"),
    amount_received=bindparam("v_amount_received"), gateway_payment_id=bindparam("v_gateway_payment_id"),
    next_poll_at=bindparam("v_next_poll_at"),
)
_ADD_EVENT = insert(_E)


@dataclass(frozen=True)
class Outcome:
    result: str
    reason: str | None
    payment: dict[str, Any] | None
    event_id: int | None  # None: nothing was written (a notice about no payment of ours)


def apply_update(update: StatusUpdate, *, group: bool = False) -> Outcome:
    """Apply one normalized update through the transition table; publish after the commit.

    group=True (gateway callbacks): share the transaction and the commit with the callbacks
    arriving at the same moment, where the database allows it (group_commit.py)."""
    started = time.perf_counter()
    grouped = group_commit.for_app(current_app) if group else None
    done = grouped.apply(update, _record) if grouped is not None else None
    if done is None:
        session = db.session
        try:
            done = _record(update)
            session.commit()
        except Exception:
            session.rollback()
            raise
    outcome, tell = done
    if grouped is not None and outcome.payment is not None:
        note_payment(outcome.payment["id"])  # a group's leader recorded others' payments too
    metrics.DOOR_SECONDS.labels(update.source).observe(time.perf_counter() - started)
    metrics.UPDATES.labels(update.source, outcome.result).inc()
    if tell:
        publish(outcome.payment)
        if outbox.enabled():
            outbox.kick()
    return outcome


def _record(update: StatusUpdate) -> tuple[Outcome, bool]:
    """Record the update in the current transaction: (outcome, whether to publish after the commit)."""
    conn = db.session.connection()
    payload = redact(dict(update.payload))
    # What the signature covers, when the payload carries more (Paytm signs values, not names).
    digest = content_hash(update.gateway, payload if update.signed_content is None else update.signed_content)
    row = _lock_payment(conn, update)
    if row is None and update.kind is lifecycle.Kind.INFO:
        return Outcome(IGNORED, UNKNOWN_PAYMENT, None, None), False  # no payment to keep it on
    if row is None:
        kept = _kept(conn, update, _ORPHAN_KEPT, {"k_gateway": update.gateway, "k_digest": digest})
        if kept is not None:  # stored already: still answered as unknown, so the gateway retries
            return Outcome(UNKNOWN_PAYMENT, UNKNOWN_PAYMENT, None, kept), False
        event_id = _add_event(conn, update, None, payload, digest, False, UNKNOWN_PAYMENT)
        log.warning("%s %s for unknown payment %s", update.gateway, update.source, update.gateway_order_id)
        return Outcome(UNKNOWN_PAYMENT, UNKNOWN_PAYMENT, None, event_id), False
    payment = SimpleNamespace(**row._mapping)
    note_payment(payment.id)  # log lines from here on name it
    before = payment.status
    seen = _seen_before(conn, payment.id, update.gateway_event_id, digest)
    if seen is not None:
        params = {"k_payment": payment.id, "k_digest": digest, "k_event": update.gateway_event_id}
        if _kept(conn, update, _REPEAT_KEPT, params) is not None:  # told again already, at its first repeat
            return Outcome(DUPLICATE, lifecycle.DUPLICATE, public_view(payment), None), False
        event_id = _add_event(conn, update, payment, payload, digest, False, lifecycle.DUPLICATE, before)
        # A resent update that was applied: its first delivery may have died between the commit
        # and the publish (the gateway resends what got no 2xx), so tell again.
        return Outcome(DUPLICATE, lifecycle.DUPLICATE, public_view(payment), event_id), seen
    decision = lifecycle.decide(
        current=before, kind=update.kind, amount=payment.amount, currency=payment.currency,
        amount_received=update.amount_received, currency_received=update.currency, resolution=update.status,
        refund_failed_before=_refund_failed_before(conn, payment.id, update),
        other_refund_open=_other_refund_open(conn, payment, update),
    )
    if decision.applied:
        _change(conn, payment, update, decision.status)
        if outbox.enabled():
            outbox.enqueue(payment)
    reason = decision.reason or update.reason  # the table's reason first (why not, or a mismatch)
    event_id = _add_event(conn, update, payment, payload, digest, decision.applied, reason, before)
    result = APPLIED if decision.applied else NOT_APPLIED
    return Outcome(result, reason, public_view(payment), event_id), decision.applied


def _lock_payment(conn: Any, update: StatusUpdate) -> Any:
    """The payment's row, locked until the commit; None when no payment matches."""
    if update.payment_id:
        row = conn.execute(_LOCK_BY_ID, {"k_id": update.payment_id}).first()
        return row if row is not None and row.gateway == update.gateway else None
    if update.gateway_order_id:
        return conn.execute(_LOCK_BY_GATEWAY_ORDER, {"k_gateway": update.gateway,
                                                     "k_order": update.gateway_order_id}).first()
    return None


def _seen_before(conn: Any, payment_id: str, gateway_event_id: str | None, digest: str) -> bool | None:
    """None if the update is new to the payment; else whether its earlier recording was applied."""
    params = {"k_payment": payment_id, "k_digest": digest, "k_event": gateway_event_id}
    row = conn.execute(_SEEN, params).first()
    return None if row is None else bool(row.applied)


def _refund_failed_before(conn: Any, payment_id: str, update: StatusUpdate) -> bool:
    """Whether the payment's log holds a failure of the refund this refund_pending or refunded
    update is about. Asked only for those (one indexed lookup), never on the path of a success."""
    if update.subject_id is None or update.kind not in lifecycle.REFUND_PROGRESS:
        return False
    return conn.execute(_REFUND_FAILED, {"k_payment": payment_id, "k_subject": update.subject_id}).first() is not None


def _other_refund_open(conn: Any, payment: SimpleNamespace, update: StatusUpdate) -> bool:
    """Whether another refund of the payment is still open, for a refund_failed update naming its
    refund while the payment is refund_pending (one indexed lookup); nothing else asks."""
    if update.subject_id is None or update.kind is not lifecycle.Kind.REFUND_FAILED:
        return False
    if payment.status != lifecycle.REFUND_PENDING:
        return False
    params = {"k_payment": payment.id, "k_subject": update.subject_id}
    return conn.execute(_OTHER_REFUND_OPEN, params).first() is not None


def _kept(conn: Any, update: StatusUpdate, query: Any, params: dict[str, Any]) -> int | None:
    """The event already kept for this repeat, if the update is one the shopper can make arrive
    again at will (a signed browser return, Paytm's form callbacks, a refresh asked for with the
    subscribe token): its repeat is kept once, then written no more (CONTRACT.md §9). Other
    repeats (a gateway's retries, the sweep's polls) are all kept, as every authentic update is."""
    if update.source != RETURN and not update.shopper_can_repeat:
        return None
    return conn.execute(query, params).scalar()


def _change(conn: Any, payment: SimpleNamespace, update: StatusUpdate, status: str) -> None:
    """Apply the decided status to the row and to `payment`, the caller's copy of it."""
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
    conn.execute(_CHANGE, {
        "k_id": payment.id, "v_status": status, "v_final": payment.final, "v_version": payment.version,
        "v_updated_at": payment.updated_at, "v_gateway_status": payment.gateway_status,
        "v_amount_received": payment.amount_received, "v_gateway_payment_id": payment.gateway_payment_id,
        "v_next_poll_at": poll_schedule.after_change(status, payment.updated_at),  # also ends a poll lease
    })


def _add_event(
    conn: Any, update: StatusUpdate, payment: SimpleNamespace | None, payload: Any, digest: str,
    applied: bool, reason: str | None, before: str | None = None,
) -> int:
    result = conn.execute(_ADD_EVENT, {
        "payment_id": payment.id if payment else None,
        "gateway": update.gateway,
        "gateway_order_id": update.gateway_order_id or (payment.gateway_order_id if payment else None),
        "source": update.source,
        "kind": str(update.kind),
        "status": update.status,
        "gateway_status": update.gateway_status[:64] if update.gateway_status else None,
        "gateway_event_id": update.gateway_event_id,
        "subject_id": update.subject_id,
        "content_hash": digest,
        "applied": applied,
        "reason": reason,
        "status_before": before,
        "status_after": payment.status if payment else None,
        "amount_received": update.amount_received,
        "currency": update.currency,
        "payload": payload,
        "received_at": utcnow(),
    })
    return result.inserted_primary_key[0]


def content_hash(gateway: str, payload: Any) -> str:
    """Same gateway and same content means the same update, whatever the transport."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{gateway}\n{canonical}".encode()).hexdigest()
