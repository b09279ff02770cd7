"""A fake Stripe: the PaymentIntents API over real HTTP, plus the signed webhook events Stripe
would send PayHub. GATEWAYS.md §3.

It checks the Bearer key, decodes form bodies with bracket notation (metadata[k]=v), honours
Idempotency-Key (same key + same parameters = the same answer again; other parameters = a 400
idempotency_error), expands latest_charge on request, and answers in Stripe's object and
error shapes, so the official stripe.StripeClient can talk to it. Webhook headers are made by
the official library (stripe.WebhookSignature.generate_signature_header).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from typing import Any
from urllib.parse import parse_qsl

import stripe

from . import Answer, Call, FakeServer

SECRET_KEY = "sk_test_fake_secret_do_not_leak"
WEBHOOK_SECRET = "whsec_fake_endpoint_secret"


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def error(status: int, message: str, *, code: str | None = None, param: str | None = None,
          kind: str = "invalid_request_error") -> Answer:
    body = {"error": {"type": kind, "message": message, "code": code, "param": param}}
    return Answer(status, body, headers={"Request-Id": new_id("req")})


def decode_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's bracket notation -> nested dicts/lists: metadata[a]=1, expand[]=x, expand[0]=x."""
    result: dict[str, Any] = {}
    for key, value in pairs:
        names = [key.split("[", 1)[0], *re.findall(r"\[([^\]]*)\]", key)]
        target: Any = result
        for name, following in zip(names, [*names[1:], None], strict=True):
            if following is None and isinstance(target, list):
                target.append(value)
            elif following is None:
                target[name] = value
            else:  # a list for expand[] / expand[0], else a dict
                target = target.setdefault(name, [] if following == "" or following.isdigit() else {})
    return result


class FakeStripe(FakeServer):
    def __init__(self, secret_key: str = SECRET_KEY, webhook_secret: str = WEBHOOK_SECRET):
        super().__init__()
        self.secret_key, self.webhook_secret = secret_key, webhook_secret
        self.intents: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}
        self._idempotent: dict[str, tuple[str, Answer]] = {}
        self.route("POST", r"/v1/payment_intents", self._create_intent)
        self.route("GET", r"/v1/payment_intents/(?P<id>[^/]+)", self._retrieve_intent)
        self.route("POST", r"/v1/payment_intents/(?P<id>[^/]+)/cancel", self._cancel_intent)

    # -- the REST API -------------------------------------------------------------------------
    def _refuse(self, call: Call) -> Answer | None:
        if call.header("authorization") != f"Bearer {self.secret_key}":
            return error(401, "Invalid API Key provided: sk_****", kind="invalid_request_error")
        return None

    def _create_intent(self, call: Call, match: Any) -> Answer:
        refused = self._refuse(call)
        if refused:
            return refused
        key = call.header("idempotency-key")
        if key and key in self._idempotent:
            seen_body, answer = self._idempotent[key]
            if seen_body != call.body.decode():
                return error(400, "Keys for idempotent requests can only be used with the same parameters "
                                  "they were first used with.", kind="idempotency_error")
            return Answer(answer.status, answer.body, {**answer.headers, "Idempotent-Replayed": "true"})
        answer = self._new_intent(decode_form(parse_qsl(call.body.decode(), keep_blank_values=True)))
        if key and answer.status == 200:  # Stripe keeps no result for a request that failed validation
            self._idempotent[key] = (call.body.decode(), answer)
        return answer

    def _new_intent(self, params: dict[str, Any]) -> Answer:
        amount, currency = params.get("amount", ""), params.get("currency", "")
        if not amount.isdigit():
            return error(400, "Invalid integer: " + amount, code="parameter_invalid_integer", param="amount")
        if not re.fullmatch(r"[a-z]{3}", currency):
            return error(400, f"Invalid currency: {currency}.", code="invalid_currency", param="currency")
        if int(amount) < 50:
            return error(400, "Amount must be at least 50 cents", code="amount_too_small", param="amount")
        if int(amount) > 99_999_999:
            return error(400, "Amount must be no more than 999,999.99", code="amount_too_large", param="amount")
        intent_id, automatic = new_id("pi"), params.get("automatic_payment_methods", {})
        intent = {
            "id": intent_id, "object": "payment_intent", "amount": int(amount), "amount_received": 0,
            "currency": currency, "status": "requires_payment_method",
            "client_secret": f"{intent_id}_secret_{secrets.token_hex(12)}",
            "metadata": params.get("metadata", {}), "latest_charge": None, "last_payment_error": None,
            "automatic_payment_methods": {"enabled": automatic.get("enabled") == "true"},
            "canceled_at": None, "cancellation_reason": None, "created": int(time.time()), "livemode": False,
        }
        self.intents[intent_id] = intent
        return Answer(200, intent)

    def _retrieve_intent(self, call: Call, match: Any) -> Answer:
        refused = self._refuse(call)
        if refused:
            return refused
        intent = self.intents.get(match["id"])
        if intent is None:
            return error(404, f"No such payment_intent: '{match['id']}'", code="resource_missing", param="intent")
        expand = [v for k, values in call.query.items() if k.startswith("expand[") for v in values]
        return Answer(200, self.view(intent, expand_charge="latest_charge" in expand))

    def _cancel_intent(self, call: Call, match: Any) -> Answer:
        refused = self._refuse(call)
        if refused:
            return refused
        return Answer(200, self.cancel(match["id"]))

    def view(self, intent: dict, *, expand_charge: bool = False) -> dict:
        shown = json.loads(json.dumps(intent))
        if expand_charge and intent["latest_charge"]:
            shown["latest_charge"] = dict(self.charges[intent["latest_charge"]])
        return shown

    # -- what happens at Stripe (driven by the test) ------------------------------------------
    def succeed(self, intent_id: str, *, amount_received: int | None = None) -> dict:
        intent = self.intents[intent_id]
        charge = {
            "id": new_id("ch"), "object": "charge", "amount": intent["amount"], "currency": intent["currency"],
            "amount_captured": intent["amount"], "amount_refunded": 0, "refunded": False, "paid": True,
            "captured": True, "status": "succeeded", "payment_intent": intent_id, "metadata": {},
            "payment_method_details": {"type": "card", "card": {"brand": "visa", "last4": "4242"}},
        }
        self.charges[charge["id"]] = charge
        received = intent["amount"] if amount_received is None else amount_received
        intent.update(status="succeeded", amount_received=received, latest_charge=charge["id"], last_payment_error=None)
        return intent

    def fail(self, intent_id: str, code: str = "card_declined") -> dict:
        intent = self.intents[intent_id]
        declined = {"type": "card_error", "code": code, "decline_code": "generic_decline",
                    "message": "Your card was declined."}
        intent.update(status="requires_payment_method", last_payment_error=declined)
        return intent

    def process(self, intent_id: str) -> dict:
        intent = self.intents[intent_id]
        intent["status"] = "processing"
        return intent

    def cancel(self, intent_id: str) -> dict:
        intent = self.intents[intent_id]
        intent.update(status="canceled", canceled_at=int(time.time()), cancellation_reason="requested_by_customer")
        return intent

    def refund(self, intent_id: str, amount: int | None = None) -> dict:
        charge = self.charges[self.intents[intent_id]["latest_charge"]]
        charge["amount_refunded"] += charge["amount"] - charge["amount_refunded"] if amount is None else amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        return charge

    def refund_object(self, intent_id: str, amount: int | None = None, status: str = "pending") -> dict:
        """A Refund of the intent's charge, as refund.* events carry it; the charge counts it as
        refunded (charge.refunded's snapshot) unless it failed or was cancelled."""
        charge = self.charges[self.intents[intent_id]["latest_charge"]]
        amount = charge["amount"] - charge["amount_refunded"] if amount is None else amount
        refund = {"id": new_id("re"), "object": "refund", "amount": amount, "currency": charge["currency"],
                  "charge": charge["id"], "payment_intent": intent_id, "status": status, "failure_reason": None,
                  "created": int(time.time()), "metadata": {}, "reason": None}
        if status not in ("failed", "canceled"):
            self.refund(intent_id, amount)
        return refund

    def fail_refund(self, refund: dict, reason: str = "expired_or_canceled_card") -> dict:
        """The bank sent the refund back: the money stays with the merchant."""
        charge = self.charges[refund["charge"]]
        charge["amount_refunded"] -= refund["amount"]
        charge["refunded"] = False
        return {**refund, "status": "failed", "failure_reason": reason}

    def dispute(self, intent_id: str, status: str = "needs_response") -> dict:
        """A Dispute on the intent's charge, as charge.dispute.* events carry it."""
        charge = self.charges[self.intents[intent_id]["latest_charge"]]
        return {"id": new_id("dp"), "object": "dispute", "amount": charge["amount"], "currency": charge["currency"],
                "charge": charge["id"], "payment_intent": intent_id, "reason": "fraudulent", "status": status,
                "created": int(time.time()), "is_charge_refundable": True, "livemode": False, "metadata": {}}

    # -- what Stripe sends PayHub -------------------------------------------------------------
    def event(self, event_type: str, obj: dict, *, event_id: str | None = None) -> dict:
        return {
            "id": event_id or new_id("evt"), "object": "event", "api_version": "2026-10-28.endive",
            "created": int(time.time()), "data": {"object": json.loads(json.dumps(obj))}, "livemode": False,
            "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None}, "type": event_type,
        }

    def webhook(self, event: dict | bytes, *, secret: str | None = None, timestamp: int | None = None,
                header: str | None = None) -> tuple[bytes, dict[str, str]]:
        """(raw body, headers) of one delivery, signed by the official stripe library."""
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        secret = self.webhook_secret if secret is None else secret
        try:
            signature = header or stripe.WebhookSignature.generate_signature_header(
                body.decode(), secret, timestamp=timestamp)
        except UnicodeError:  # Stripe only sends UTF-8; to fuzz with other bytes, sign them by hand
            t = int(time.time()) if timestamp is None else timestamp
            signature = f"t={t},v1=" + hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
        return body, {"Content-Type": "application/json", "Stripe-Signature": signature}
