"""Razorpay: Orders API + checkout.js, signed webhooks and browser returns (GATEWAYS.md §1).

create: POST /v1/orders (Basic key_id:key_secret) -> checkout.js options for the browser.
Webhooks: X-Razorpay-Signature = hex HMAC-SHA256(webhook secret, raw body), deduped on the
x-razorpay-event-id header. Return: razorpay_signature = hex HMAC-SHA256(key_secret,
"order_id|payment_id"), then one GET of that payment for its status and amount. Poll:
GET /v1/orders/{id}/payments.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, NoReturn

import requests

from . import razorpay_events as rz
from .base import (
    POLL,
    RETURN,
    WEBHOOK,
    AmountNotAccepted,
    BadCallback,
    Checkout,
    Gateway,
    GatewayError,
    InvalidSignature,
    PaymentRef,
    RawRequest,
    StatusUpdate,
    UnverifiedReturn,
    redact,
)
from .fields import header, json_object, text
from .http import pooled_session

DEFAULT_BASE_URL = "https://api.razorpay.com"
MIN_AMOUNT = 100  # subunits (GATEWAYS.md §1d)
MAX_RECEIPT = 40
# The shopper's browser waits on a return's lookup: keep it short.
RETURN_LOOKUP_TIMEOUT = 4.0


class RazorpayGateway(Gateway):
    name: ClassVar[str] = "razorpay"
    label: ClassVar[str] = "razorpay"
    accepts_returns: ClassVar[bool] = True

    def __init__(
        self, *, key_id: str, key_secret: str, webhook_secrets: Sequence[str] = (), public_url: str,
        base_url: str = DEFAULT_BASE_URL, checkout_name: str = "", timeout: float = 10,
        http: requests.Session | None = None,
    ) -> None:
        self._key_id, self._key_secret = key_id, key_secret
        # Several secrets during a rotation: Razorpay signs retries of old events with the old one.
        self._webhook_secrets = tuple(s for s in webhook_secrets if s)
        self._public_url = public_url.rstrip("/")
        self._base_url = base_url.rstrip("/")
        self._checkout_name = checkout_name
        self._timeout = timeout
        self._http = http or pooled_session()

    @classmethod
    def from_config(cls, settings: Any) -> RazorpayGateway | None:
        key_id, key_secret = settings.get("razorpay_key_id"), settings.get("razorpay_key_secret")
        if not key_id or not key_secret:
            return None
        return cls(
            key_id=key_id, key_secret=key_secret, public_url=settings.public_url,
            webhook_secrets=(settings.get("razorpay_webhook_secret"), settings.get("razorpay_webhook_secret_previous")),
            base_url=settings.get("razorpay_base_url", DEFAULT_BASE_URL),
            checkout_name=settings.get("razorpay_checkout_name"), timeout=settings.gateway_timeout,
        )

    def validate(self, *, order_id: str, amount: int, currency: str) -> None:
        if amount < MIN_AMOUNT:
            raise AmountNotAccepted(f"Razorpay needs an amount of at least {MIN_AMOUNT} subunits")
        if len(order_id) > MAX_RECEIPT:
            raise AmountNotAccepted(f"Razorpay takes an order_id of at most {MAX_RECEIPT} characters", "order_id")

    def create(self, payment: PaymentRef) -> Checkout:
        self.validate(order_id=payment.order_id, amount=payment.amount, currency=payment.currency)
        order = self._call("POST", "/v1/orders", body={
            "amount": payment.amount, "currency": payment.currency, "receipt": payment.order_id,
            "notes": {rz.REFERENCE: payment.id},
        })
        order_id = order.get("id")
        if not isinstance(order_id, str) or not order_id or len(order_id) > 100:
            raise GatewayError("razorpay answered an order without an id")
        return Checkout(order_id, self._checkout(payment, order_id))

    def _checkout(self, payment: PaymentRef, order_id: str) -> dict[str, Any]:
        """The options object for checkout.js (`new Razorpay(options).open()`)."""
        prefill = {k: payment.customer[c] for k, c in (("name", "name"), ("email", "email"), ("contact", "phone"))
                   if payment.customer.get(c)}
        options: dict[str, Any] = {
            # checkout.js reads `key`; `key_id` names it for humans reading the API answer.
            "key_id": self._key_id, "key": self._key_id, "order_id": order_id, "amount": payment.amount,
            "currency": payment.currency, "callback_url": f"{self._public_url}/return/razorpay", "redirect": True,
            # Copied onto the payment: its webhooks then say it is PayHub's (rz.REFERENCE).
            "notes": {rz.REFERENCE: payment.id},
        }
        if self._checkout_name:
            options["name"] = self._checkout_name
        if prefill:
            options["prefill"] = prefill
        return options

    def parse_webhook(self, request: RawRequest) -> StatusUpdate | None:
        given = header(request.headers, "X-Razorpay-Signature")
        if not any(rz.signature_ok(s, request.body, given) for s in self._webhook_secrets):
            raise InvalidSignature("bad or missing X-Razorpay-Signature")
        data = json_object(request.body)
        event, payload = data.get("event"), data.get("payload")
        if not isinstance(event, str) or not isinstance(payload, Mapping):
            raise BadCallback("a Razorpay event needs `event` and `payload`")
        event_id = header(request.headers, "x-razorpay-event-id")
        if event_id is not None and (not event_id or len(event_id) > 200):
            raise BadCallback("bad x-razorpay-event-id")
        facts = rz.event_facts(event, payload)
        if facts is None:
            return None
        return StatusUpdate(gateway=self.name, source=WEBHOOK, gateway_event_id=event_id, payload=redact(data), **facts)

    def parse_return(self, request: RawRequest) -> StatusUpdate:
        fields = request.form or request.args
        if "razorpay_signature" not in fields:
            return self._failed_return(fields)
        order_id, payment_id = text(fields, "razorpay_order_id"), text(fields, "razorpay_payment_id")
        # The signature covers the order id, so a verified one is the order we created and stored.
        if not rz.signature_ok(self._key_secret, f"{order_id}|{payment_id}".encode(), fields["razorpay_signature"]):
            raise InvalidSignature("bad razorpay_signature")
        # Only what the signature covers: anything else the browser posted is the shopper's to
        # choose, and would make every replay of the return look like a new update.
        payload: dict[str, Any] = {"razorpay_order_id": order_id, "razorpay_payment_id": payment_id,
                                   "razorpay_signature": "[redacted]"}
        # A verified return proves Razorpay authorized the payment; one lookup tells whether it
        # was captured, and for how much. If Razorpay cannot say right now, trust the signature.
        facts = {"status": "succeeded", "gateway_status": "authorized", "gateway_payment_id": payment_id}
        try:
            entity = self._call("GET", f"/v1/payments/{payment_id}", timeout=RETURN_LOOKUP_TIMEOUT)
            facts, payload["payment"] = rz.payment_facts(entity), rz.compact_payment(entity)
        except (GatewayError, BadCallback):
            pass
        return StatusUpdate(gateway=self.name, source=RETURN, gateway_order_id=order_id, payload=payload, **facts)

    def _failed_return(self, fields: Mapping[str, str]) -> NoReturn:
        """A failed checkout posts error[...] fields, unsigned: not an update at all (§5)."""
        try:
            metadata = json.loads(fields.get("error[metadata]", ""))
            order_id = text(metadata, "order_id")
        except (ValueError, TypeError, AttributeError, RecursionError):
            raise BadCallback("a Razorpay return needs razorpay_signature or error[metadata]") from None
        raise UnverifiedReturn(order_id)

    def poll(self, payment: PaymentRef) -> StatusUpdate:
        if not payment.gateway_order_id:
            raise GatewayError("razorpay payment has no order id yet")
        data = self._call("GET", f"/v1/orders/{payment.gateway_order_id}/payments")
        items = data.get("items")
        if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
            raise GatewayError("razorpay answered a payment list without items")
        try:
            facts = rz.order_payments_facts(items)
            compact = [rz.compact_payment(i) for i in items]
        except BadCallback as exc:
            raise GatewayError(f"razorpay payment list unreadable: {exc}") from None
        return StatusUpdate(
            gateway=self.name, source=POLL, payment_id=payment.id, gateway_order_id=payment.gateway_order_id,
            payload={"entity": "collection", "count": len(items), "items": compact}, **facts,
        )

    def _call(self, method: str, path: str, *, body: Any = None, timeout: float | None = None) -> dict[str, Any]:
        """One API call; every failure becomes a GatewayError that names no credential."""
        response = self._request(method, path, json=body, auth=(self._key_id, self._key_secret),
                                 timeout=min(timeout or self._timeout, self._timeout))
        try:
            data = response.json()
        except ValueError:
            data = None
        if not 200 <= response.status_code < 300:
            error = data.get("error") if isinstance(data, dict) else None
            code = error.get("code") if isinstance(error, dict) else None
            raise GatewayError(f"razorpay answered {response.status_code} {str(code or '')[:40]}".strip())
        if not isinstance(data, dict):
            raise GatewayError("razorpay answered something that is not a JSON object")
        return data
