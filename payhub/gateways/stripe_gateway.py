"""Stripe: PaymentIntents + Stripe.js, signed webhooks (GATEWAYS.md §3).

create: POST /v1/payment_intents (form-encoded, Bearer secret key, an Idempotency-Key derived
from the PayHub payment id) -> the client_secret Stripe.js confirms with. Webhooks:
`Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(whsec_..., "t.body")>`, 300 s tolerance,
deduped on the event id. Poll: GET /v1/payment_intents/{id} with its latest charge expanded.
(Not named stripe.py: that would shadow the official package wherever this folder is on sys.path.)
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import requests

from . import stripe_events as st
from .base import (
    POLL,
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
    redact,
)
from .fields import header, json_object, text
from .http import pooled_session

DEFAULT_BASE_URL = "https://api.stripe.com"
TOLERANCE = 300  # seconds; older signatures are replays (Stripe's own library default)
# Stripe's payment partners need the last digit of a three-decimal currency amount to be 0.
THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})


def verify_signature(secret: str, body: bytes, value: str | None, *, now: float, tolerance: float = TOLERANCE) -> None:
    """Raise InvalidSignature unless some v1 in `value` signs "t.body" with `secret` and t is recent."""
    if not secret or not value:
        raise InvalidSignature("missing Stripe-Signature")
    timestamp, signatures = "", []
    for item in value.split(","):
        key, _, given = item.partition("=")
        if key == "t":
            timestamp = given
        elif key == "v1":
            signatures.append(given.encode("utf-8", "replace"))
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12) or not signatures:
        raise InvalidSignature("unreadable Stripe-Signature")
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest().encode()
    # Every v1 is compared, so the time taken says nothing about which one (if any) matched.
    matches = [hmac.compare_digest(expected, given) for given in signatures]
    if not any(matches):
        raise InvalidSignature("no v1 signature matches")
    if int(timestamp) < now - tolerance:
        raise InvalidSignature("Stripe-Signature timestamp is too old")


class StripeGateway(Gateway):
    name: ClassVar[str] = "stripe"
    label: ClassVar[str] = "stripe"

    def __init__(
        self, *, secret_key: str, webhook_secret: str = "", publishable_key: str = "",
        base_url: str = DEFAULT_BASE_URL, timeout: float = 10, http: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret_key, self._webhook_secret = secret_key, webhook_secret
        self._publishable_key = publishable_key
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._http = http or pooled_session()
        self._clock = clock

    @classmethod
    def from_config(cls, settings: Any) -> StripeGateway | None:
        if not settings.get("stripe_secret_key"):
            return None
        return cls(
            secret_key=settings.get("stripe_secret_key"), webhook_secret=settings.get("stripe_webhook_secret"),
            publishable_key=settings.get("stripe_publishable_key"),
            base_url=settings.get("stripe_base_url", DEFAULT_BASE_URL), timeout=settings.gateway_timeout,
        )

    def validate(self, *, order_id: str, amount: int, currency: str) -> None:
        if amount <= 0:
            raise AmountNotAccepted("Stripe needs a positive amount")
        if currency.upper() in THREE_DECIMAL and amount % 10:
            raise AmountNotAccepted(f"Stripe needs {currency} amounts to end in 0 (whole hundredths)")

    def create(self, payment: PaymentRef) -> Checkout:
        self.validate(order_id=payment.order_id, amount=payment.amount, currency=payment.currency)
        form = {
            "amount": str(payment.amount), "currency": payment.currency.lower(),
            "metadata[payhub_payment_id]": payment.id, "metadata[order_id]": payment.order_id,
            "automatic_payment_methods[enabled]": "true",
        }
        # Same key for every attempt at this payment: a retry after a lost answer gets the same
        # intent back instead of a second one.
        intent = self._call("POST", "/v1/payment_intents", data=form, idempotency_key=f"payhub-create-{payment.id}")
        intent_id, client_secret = intent.get("id"), intent.get("client_secret")
        if not (isinstance(intent_id, str) and 0 < len(intent_id) <= 100 and isinstance(client_secret, str)):
            raise GatewayError("stripe answered a PaymentIntent without id or client_secret")
        checkout = {"client_secret": client_secret, "payment_intent_id": intent_id}
        if self._publishable_key:
            checkout["publishable_key"] = self._publishable_key
        if payment.status_page_url:
            checkout["return_url"] = payment.status_page_url  # for stripe.confirmPayment()
        return Checkout(intent_id, checkout)

    def parse_webhook(self, request: RawRequest) -> StatusUpdate | None:
        value = header(request.headers, "Stripe-Signature")
        verify_signature(self._webhook_secret, request.body, value, now=self._clock())
        event = json_object(request.body)
        event_id, event_type = text(event, "id", limit=255), text(event, "type", limit=255)
        data = event.get("data")
        obj = data.get("object") if isinstance(data, Mapping) else None
        if not isinstance(obj, Mapping):
            raise BadCallback("data.object must be an object")
        facts = st.event_facts(event_type, obj)
        if facts is None:
            return None
        return StatusUpdate(
            gateway=self.name, gateway_status=event_type, source=WEBHOOK, gateway_event_id=event_id,
            payload=redact(event), **facts,
        )

    def poll(self, payment: PaymentRef) -> StatusUpdate:
        if not payment.gateway_order_id:
            raise GatewayError("stripe payment has no PaymentIntent yet")
        # The latest charge, expanded, says whether the money has since gone back (a refund).
        path = f"/v1/payment_intents/{payment.gateway_order_id}"
        intent = self._call("GET", path, params={"expand[]": "latest_charge"})
        try:
            facts = st.intent_facts(intent)
        except BadCallback as exc:
            raise GatewayError(f"stripe PaymentIntent unreadable: {exc}") from None
        return StatusUpdate(
            gateway=self.name, gateway_status=str(intent.get("status"))[:64], source=POLL, payment_id=payment.id,
            gateway_order_id=payment.gateway_order_id, payload=redact(st.compact_intent(intent)), **facts,
        )

    def _call(
        self, method: str, path: str, *, data: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None, idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """One API call; every failure becomes a GatewayError (or AmountNotAccepted) naming no key."""
        headers = {"Authorization": f"Bearer {self._secret_key}"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        response = self._request(method, path, data=data, params=params, headers=headers)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not 200 <= response.status_code < 300:
            raise st.api_error(response.status_code, body)
        if not isinstance(body, dict):
            raise GatewayError("stripe answered something that is not a JSON object")
        return body
