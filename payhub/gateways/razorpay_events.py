"""Razorpay's payloads -> PayHub updates (GATEWAYS.md §1b, §1d). Pure: no I/O.

Webhook events, the payment entity (browser return, poll) and the order's payment list (poll)
are translated here; razorpay.py does the HTTP and the signatures. Razorpay promises no order:
a refund may come before the capture it refunds, and the transition table sorts that out.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any

from ..lifecycle import Kind, target_of
from .base import BadCallback
from .fields import amount, currency, text

# Refunds: "refunded" only once the whole amount went back; a partial or still-running refund
# is "refund_pending" (docs/gateways/razorpay.md explains why).
PAYMENT_EVENTS = {"payment.authorized", "payment.captured", "payment.failed", "order.paid"}
REFUND_EVENTS = {"refund.created", "refund.processed", "refund.failed"}
# The key PayHub puts in the notes of its orders and checkouts (so of their payments too).
REFERENCE = "payhub_payment_id"


def signature_ok(secret: str, message: bytes, given: str | None) -> bool:
    """Razorpay's lowercase hex HMAC-SHA256, compared in constant time on bytes."""
    if not secret or not given:
        return False
    expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), given.strip().encode("utf-8", "replace"))


def entity(payload: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """payload.<name>.entity, checked to be an object."""
    wrapper = payload.get(name)
    found = wrapper.get("entity") if isinstance(wrapper, Mapping) else None
    if not isinstance(found, Mapping):
        raise BadCallback(f"payload.{name}.entity is missing")
    return found


def payment_facts(payment: Mapping[str, Any]) -> dict[str, Any]:
    """What one payment entity says: PayHub status, and the amount when money arrived."""
    status = text(payment, "status", limit=32)
    facts: dict[str, Any] = {"status": "pending", "gateway_status": status, "gateway_payment_id": text(payment, "id")}
    if status in ("captured", "refunded"):
        refunded, total = amount(payment, "amount_refunded", default=0), amount(payment, "amount")
        if status == "refunded" or (total and refunded >= total):
            facts["status"] = "refunded"
        elif refunded > 0:
            facts["status"] = "refund_pending"
        else:
            facts.update(status="succeeded", amount_received=total, currency=currency(payment))
    elif status == "failed":
        facts["status"] = "failed"
    return facts


def event_facts(event: str, payload: Mapping[str, Any]) -> dict[str, Any] | None:
    """What one verified webhook says, plus the Razorpay order id to find the payment by.

    Events PayHub does not act on (disputes, other types) that name a payment of an order are
    kept on its log as `info`; None for events that name no order (never PayHub's).
    """
    if event in PAYMENT_EVENTS:
        payment = entity(payload, "payment")
        order_id = text(payment, "order_id", required=False)
        if event == "order.paid":
            order_id = text(entity(payload, "order"), "id")
        facts = payment_facts(payment)
        if event == "order.paid" and facts["status"] == "pending":
            facts["status"] = "succeeded"  # the order is paid even if this snapshot lags
        elif event == "payment.captured" and facts["status"] == "pending":
            raise BadCallback("payment.captured with a payment that is not captured")
    elif event in REFUND_EVENTS:
        refund, payment = entity(payload, "refund"), entity(payload, "payment")
        order_id = text(payment, "order_id", required=False)
        facts = {"kind": refund_kind(event, payment), "gateway_payment_id": text(payment, "id"),
                 "subject_id": text(refund, "id")}
    else:
        facts, order_id = _other_event(event, payload)
        if facts is None:
            return None
    if order_id is None:  # a payment made without an order (payment links, POS): never ours
        return None
    if "kind" in facts:
        facts["status"] = target_of(facts["kind"])  # info: `pending`, no new status
    # Without PayHub's reference, an order PayHub does not know is another system's (2xx, no retry).
    return {**facts, "gateway_status": event, "gateway_order_id": order_id,
            "unknown_is_foreign": not carries_reference(payload)}


def _other_event(event: str, payload: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
    """A dispute or another event PayHub does not act on: kept (info) when it names a payment of
    an order; its own entities are not checked beyond that."""
    try:
        payment = entity(payload, "payment")
        order_id, payment_id = text(payment, "order_id", required=False), text(payment, "id")
    except BadCallback:
        return None, None
    return {"kind": Kind.INFO, "gateway_payment_id": payment_id}, order_id


def carries_reference(payload: Mapping[str, Any]) -> bool:
    """True when a payment, order or refund in the event carries PayHub's notes."""
    for name in ("payment", "order", "refund"):
        wrapper = payload.get(name)
        found = wrapper.get("entity") if isinstance(wrapper, Mapping) else None
        notes = found.get("notes") if isinstance(found, Mapping) else None
        if isinstance(notes, Mapping) and isinstance(notes.get(REFERENCE), str):
            return True
    return False


def refund_kind(event: str, payment: Mapping[str, Any]) -> Kind:
    if payment.get("captured") is False:
        # Razorpay auto-refunds a payment it never captured: no money reached the merchant.
        return Kind.FAILURE
    if event == "refund.failed":
        return Kind.REFUND_FAILED  # the money stays with the merchant: out of refund_pending
    refunded, total = amount(payment, "amount_refunded", default=0), amount(payment, "amount")
    if event == "refund.processed" and (payment.get("status") == "refunded" or refunded >= total > 0):
        return Kind.REFUNDED
    return Kind.REFUND_PENDING


def order_payments_facts(items: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The poll: one order's payment attempts -> the order's status."""
    settled, waiting, failed = [], [], []
    for item in items:
        facts = payment_facts(item)
        if facts["status"] == "pending":
            waiting.append(facts)
        elif facts["status"] == "failed":
            failed.append(facts)
        else:
            settled.append(facts)
    if settled:
        return settled[0]  # Razorpay lets an order be paid once
    if waiting:
        return waiting[0]
    return failed[-1] if failed else {"status": "pending", "gateway_status": "created"}


def compact_payment(payment: Mapping[str, Any]) -> dict[str, Any]:
    """The status-relevant part of a payment entity, for the audit log (no contact data)."""
    keep = ("id", "order_id", "status", "amount", "currency", "captured", "amount_refunded",
            "refund_status", "method", "error_code", "error_reason", "created_at")
    return {k: payment.get(k) for k in keep if k in payment}
