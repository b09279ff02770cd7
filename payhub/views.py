"""JSON views of the models: the public view (browser), the full payment (merchant), events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .gateways.base import PaymentRef
from .models import Payment, PaymentEvent


def iso(moment: datetime | None) -> str | None:
    """RFC 3339 in UTC with a Z, millisecond precision."""
    if moment is None:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def public_view(payment: Payment) -> dict[str, Any]:
    """The same shape everywhere a browser sees a payment: no customer data, no secrets."""
    return {
        "id": payment.id,
        "order_id": payment.order_id,
        "status": payment.status,
        "final": payment.final,
        "version": payment.version,
        "amount": payment.amount,
        "currency": payment.currency,
        "amount_received": payment.amount_received,
        "updated_at": iso(payment.updated_at),
        "expires_at": iso(payment.expires_at),
    }


def payment_view(payment: Payment, events: list[PaymentEvent] | None = None) -> dict[str, Any]:
    """The full payment for the merchant's backend."""
    view = public_view(payment) | {
        "object": "payment",
        "gateway": payment.gateway,
        "gateway_status": payment.gateway_status,
        "gateway_order_id": payment.gateway_order_id,
        "gateway_payment_id": payment.gateway_payment_id,
        "customer": payment.customer or {},
        "metadata": payment.meta or {},
        "return_url": payment.return_url,
        "created_at": iso(payment.created_at),
    }
    if events is not None:
        view["events"] = [event_view(e) for e in events]
    return view


def event_view(event: PaymentEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "source": event.source,
        "kind": event.kind,
        "status": event.status,
        "gateway_status": event.gateway_status,
        "applied": event.applied,
        "reason": event.reason,
        "status_before": event.status_before,
        "status_after": event.status_after,
        "gateway_event_id": event.gateway_event_id,
        "amount_received": event.amount_received,
        "currency": event.currency,
        "payload": event.payload,
        "received_at": iso(event.received_at),
    }


def payment_ref(payment: Payment, status_page_url: str = "") -> PaymentRef:
    """The plain values a gateway adapter may see."""
    return PaymentRef(
        id=payment.id,
        order_id=payment.order_id,
        amount=payment.amount,
        currency=payment.currency,
        created_at=payment.created_at,
        gateway_order_id=payment.gateway_order_id,
        gateway_payment_id=payment.gateway_payment_id,
        gateway_reference=payment.gateway_reference,
        customer=dict(payment.customer or {}),
        return_url=payment.return_url,
        metadata=dict(payment.meta or {}),
        status_page_url=status_page_url,
    )
