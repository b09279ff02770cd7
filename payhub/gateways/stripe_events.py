"""Stripe's objects -> PayHub updates (GATEWAYS.md §3b). Pure: no I/O.

Webhook events (PaymentIntent, Charge, Refund, Dispute, Checkout Session snapshots), the polled
PaymentIntent and Stripe's error bodies are translated here; stripe_gateway.py does HTTP and
signatures. Stripe promises no order: a refund may come before the success it refunds, and the
transition table sorts that out.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..lifecycle import Kind, target_of
from .base import AmountNotAccepted, BadCallback, GatewayError
from .fields import amount, currency, text

INTENT_EVENTS = {
    "payment_intent.succeeded": "succeeded",
    "payment_intent.processing": "pending",
    # Not final at Stripe (the shopper may retry on the same intent), but PayHub lets a failed
    # payment still succeed, so "failed" is what the status page should say meanwhile.
    "payment_intent.payment_failed": "failed",
    "payment_intent.canceled": "cancelled",
}
# Refund objects (refund.*, charge.refund.updated) by their status. A refund that succeeded may
# be partial: whether all of the charge went back is charge.refunded's `refunded` to say.
REFUND_EVENTS = {"refund.created", "refund.updated", "refund.failed", "charge.refund.updated"}
REFUND_KINDS = {"pending": Kind.REFUND_PENDING, "requires_action": Kind.REFUND_PENDING,
                "succeeded": Kind.REFUND_PENDING, "failed": Kind.REFUND_FAILED, "canceled": Kind.REFUND_FAILED}
# Stripe's 400s that are about the payment's amount or currency: the merchant's mistake (400),
# not an outage (502).
AMOUNT_CODES = {"amount_too_small", "amount_too_large", "invalid_currency"}


def charge_id(intent: Mapping[str, Any]) -> str | None:
    """latest_charge is an id, or the charge itself when expanded."""
    charge = intent.get("latest_charge")
    if isinstance(charge, Mapping):
        charge = charge.get("id")
    return charge if isinstance(charge, str) and 0 < len(charge) <= 100 else None


def intent_id_of(obj: Mapping[str, Any]) -> str | None:
    """The PaymentIntent an object belongs to: `payment_intent`, an id or the expanded intent."""
    intent = obj.get("payment_intent")
    if isinstance(intent, Mapping):
        intent = intent.get("id")
    if intent is None:
        return None
    if not isinstance(intent, str) or not 0 < len(intent) <= 100:
        raise BadCallback("payment_intent must be an id")
    return intent


def succeeded(obj: Mapping[str, Any], amount_key: str) -> dict[str, Any]:
    return {"status": "succeeded", "amount_received": amount(obj, amount_key), "currency": currency(obj)}


def event_facts(event_type: str, obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """What one verified event says, and the PaymentIntent id to find the payment by. Events
    PayHub does not act on are kept (kind info) on the log of the payment they name."""
    if event_type in INTENT_EVENTS:
        metadata = obj.get("metadata")
        ours = isinstance(metadata, Mapping) and isinstance(metadata.get("payhub_payment_id"), str)
        # Found by the intent id either way; without PayHub's metadata an unknown intent is
        # likely another integration's on this Stripe account, not one to retry.
        facts = {"status": INTENT_EVENTS[event_type], "gateway_order_id": text(obj, "id"),
                 "unknown_is_foreign": not ours}
        if facts["status"] == "succeeded":
            facts.update(succeeded(obj, "amount_received"), gateway_payment_id=charge_id(obj))
        return facts
    if event_type == "charge.refunded":
        refunded = obj.get("refunded")
        if not isinstance(refunded, bool):
            raise BadCallback("refunded must be a boolean")
        intent_id = intent_id_of(obj)
        if intent_id is None:
            return None  # a charge made without an intent: never PayHub's
        status = "refunded" if refunded else "refund_pending"  # `refunded` is true only for a full refund
        # A refund of an intent PayHub does not have is another integration's: nothing to retry for.
        return {"status": status, "gateway_order_id": intent_id, "gateway_payment_id": text(obj, "id"),
                "unknown_is_foreign": True}
    if event_type in REFUND_EVENTS:
        return _refund_facts(event_type, obj)
    if event_type == "checkout.session.completed" and obj.get("payment_status") == "paid":
        intent_id = intent_id_of(obj)
        return {**succeeded(obj, "amount_total"), "gateway_order_id": intent_id} if intent_id else None
    return _info_facts(obj)


def _refund_facts(event_type: str, refund: Mapping[str, Any]) -> dict[str, Any] | None:
    intent_id = intent_id_of(refund)
    if intent_id is None:
        return None
    raw = refund.get("status")
    kind = Kind.REFUND_FAILED if event_type == "refund.failed" else REFUND_KINDS.get(raw, Kind.INFO)
    charge = refund.get("charge")
    charge_id = charge.get("id") if isinstance(charge, Mapping) else charge
    return {"kind": kind, "status": target_of(kind), "gateway_order_id": intent_id, "unknown_is_foreign": True,
            "gateway_payment_id": _short_id(charge_id), "subject_id": _short_id(refund.get("id"))}


def _short_id(value: Any) -> str | None:
    """An id that fits its column, else None (the update still counts, unattributed)."""
    return value if isinstance(value, str) and 0 < len(value) <= 100 else None


def _info_facts(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """An event PayHub does not act on (a dispute, charge.succeeded, payment_intent.created, ...):
    kept on the log of the payment it names, as `info`; None when it names no PaymentIntent."""
    try:
        intent_id = text(obj, "id") if obj.get("object") == "payment_intent" else intent_id_of(obj)
    except BadCallback:
        return None  # not acted on, so not worth refusing either
    if intent_id is None:
        return None
    return {"kind": Kind.INFO, "status": target_of(Kind.INFO), "gateway_order_id": intent_id,
            "unknown_is_foreign": True}


def intent_facts(intent: Mapping[str, Any]) -> dict[str, Any]:
    """The poll: a PaymentIntent (latest_charge expanded) -> PayHub status."""
    status = text(intent, "status", limit=64)
    if status == "succeeded":
        charge = intent.get("latest_charge")
        if isinstance(charge, Mapping) and charge.get("refunded") is True:
            return {"status": "refunded", "gateway_payment_id": charge_id(intent)}
        if isinstance(charge, Mapping) and amount(charge, "amount_refunded", default=0) > 0:
            return {"status": "refund_pending", "gateway_payment_id": charge_id(intent)}
        return {**succeeded(intent, "amount_received"), "gateway_payment_id": charge_id(intent)}
    if status == "canceled":
        return {"status": "cancelled"}
    if status == "requires_payment_method" and isinstance(intent.get("last_payment_error"), Mapping):
        return {"status": "failed"}  # an attempt failed and nobody has tried again yet
    return {"status": "pending"}  # processing, requires_action/confirmation/capture, untried


def compact_intent(intent: Mapping[str, Any]) -> dict[str, Any]:
    """The status-relevant part of a polled PaymentIntent, for the audit log (no billing details)."""
    keep = ("id", "object", "status", "amount", "amount_received", "currency", "metadata", "cancellation_reason")
    compact: dict[str, Any] = {k: intent.get(k) for k in keep if k in intent}
    charge = intent.get("latest_charge")
    if isinstance(charge, Mapping):
        charge = {k: charge.get(k) for k in ("id", "status", "amount", "amount_refunded", "refunded") if k in charge}
    compact["latest_charge"] = charge
    error = intent.get("last_payment_error")
    if isinstance(error, Mapping):
        compact["last_payment_error"] = {k: error.get(k) for k in ("type", "code", "decline_code") if k in error}
    return compact


def api_error(status_code: int, body: Any) -> Exception:
    """Stripe's error body -> AmountNotAccepted for the merchant's mistakes, else GatewayError."""
    error = body.get("error") if isinstance(body, Mapping) else None
    error = error if isinstance(error, Mapping) else {}
    code, param = str(error.get("code") or "")[:60], error.get("param")
    if status_code == 400 and (code in AMOUNT_CODES or param in ("amount", "currency")):
        field = "currency" if param == "currency" or code == "invalid_currency" else "amount"
        message = str(error.get("message") or code)[:200]
        return AmountNotAccepted(f"Stripe refused the {field}: {message}", field)
    return GatewayError(f"stripe answered {status_code} {code}".strip())
