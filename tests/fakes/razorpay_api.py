"""A fake Razorpay: the Orders/Payments REST API over real HTTP, plus what Razorpay's servers and
checkout.js would send PayHub (signed webhooks, signed browser returns). GATEWAYS.md §1.

It checks Basic auth and the order rules (amount >= 100 subunits, receipt <= 40 characters),
answers in Razorpay's entity and error shapes, and keeps orders/payments so a test can move a
payment along (`pay`, `refund`) and then deliver the matching webhook or poll answer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from . import Answer, Call, FakeServer

KEY_ID = "rzp_test_fakekey"
KEY_SECRET = "fake_key_secret_do_not_leak"
WEBHOOK_SECRET = "fake_webhook_secret"


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(7)}"


def error(status: int, description: str, field: str | None = None, code: str = "BAD_REQUEST_ERROR") -> Answer:
    return Answer(status, {"error": {
        "code": code, "description": description, "source": "business", "step": "payment_initiation",
        "reason": "input_validation_failed", "metadata": {}, "field": field,
    }})


def hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


class FakeRazorpay(FakeServer):
    def __init__(self, key_id: str = KEY_ID, key_secret: str = KEY_SECRET, webhook_secret: str = WEBHOOK_SECRET):
        super().__init__()
        self.key_id, self.key_secret, self.webhook_secret = key_id, key_secret, webhook_secret
        self.orders: dict[str, dict[str, Any]] = {}
        self.payments: dict[str, dict[str, Any]] = {}
        self.route("POST", r"/v1/orders", self._create_order)
        self.route("GET", r"/v1/orders/(?P<id>[^/]+)", self._fetch_order)
        self.route("GET", r"/v1/orders/(?P<id>[^/]+)/payments", self._order_payments)
        self.route("GET", r"/v1/payments/(?P<id>[^/]+)", self._fetch_payment)

    # -- the REST API -------------------------------------------------------------------------
    def _authorized(self, call: Call) -> bool:
        expected = "Basic " + base64.b64encode(f"{self.key_id}:{self.key_secret}".encode()).decode()
        return hmac.compare_digest((call.header("authorization") or "").encode(), expected.encode())

    def _create_order(self, call: Call, match: Any) -> Answer:
        if not self._authorized(call):
            return error(401, "Authentication failed")
        try:
            data = call.json()
        except ValueError:
            return error(400, "The request body is not valid JSON")
        amount, receipt = data.get("amount"), data.get("receipt")
        if type(amount) is not int or amount < 100:
            return error(400, "The amount must be atleast INR 1.00", "amount")
        if receipt is not None and (not isinstance(receipt, str) or len(receipt) > 40):
            return error(400, "The receipt may not be greater than 40 characters.", "receipt")
        order = self.add_order(amount, data.get("currency", "INR"), receipt)
        order["notes"] = data.get("notes") or []
        return Answer(200, order)

    def _fetch_order(self, call: Call, match: Any) -> Answer:
        if not self._authorized(call):
            return error(401, "Authentication failed")
        order = self.orders.get(match["id"])
        return Answer(200, order) if order else error(400, "The id provided does not exist")

    def _order_payments(self, call: Call, match: Any) -> Answer:
        if not self._authorized(call):
            return error(401, "Authentication failed")
        if match["id"] not in self.orders:
            return error(400, "The id provided does not exist")
        items = [p for p in self.payments.values() if p["order_id"] == match["id"]]
        return Answer(200, {"entity": "collection", "count": len(items), "items": items})

    def _fetch_payment(self, call: Call, match: Any) -> Answer:
        if not self._authorized(call):
            return error(401, "Authentication failed")
        payment = self.payments.get(match["id"])
        return Answer(200, payment) if payment else error(400, "The id provided does not exist")

    # -- what happens at Razorpay (driven by the test) ----------------------------------------
    def add_order(self, amount: int = 50000, currency: str = "INR", receipt: str | None = None) -> dict:
        """An order made by someone else than PayHub (or before the test began)."""
        order = {
            "id": new_id("order"), "entity": "order", "amount": amount, "amount_paid": 0, "amount_due": amount,
            "currency": currency, "receipt": receipt, "offer_id": None, "status": "created", "attempts": 0,
            "notes": [], "created_at": int(time.time()),
        }
        self.orders[order["id"]] = order
        return order

    def pay(self, order_id: str, status: str = "captured", *, amount: int | None = None, method: str = "upi") -> dict:
        """A shopper's payment attempt on an order: authorized, captured or failed."""
        order = self.orders[order_id]
        order["attempts"] += 1
        payment = {
            "id": new_id("pay"), "entity": "payment", "amount": order["amount"] if amount is None else amount,
            "currency": order["currency"], "status": status, "order_id": order_id, "invoice_id": None,
            "international": False, "method": method, "amount_refunded": 0, "refund_status": None,
            "captured": status == "captured", "description": None, "card_id": None, "bank": None, "wallet": None,
            "vpa": "shopper@okbank" if method == "upi" else None, "email": "shopper@example.com",
            # checkout.js copies its `notes` option onto the payment; PayHub's checkout passes the
            # notes it gave its order, so a payment on a PayHub order carries them.
            "contact": "+919999999999", "notes": dict(order["notes"]) or [], "fee": 0, "tax": 0, "error_code": None,
            "error_description": None, "error_source": None, "error_step": None, "error_reason": None,
            "acquirer_data": {"rrn": "123456789012"}, "created_at": int(time.time()),
        }
        if status == "failed":
            payment.update(error_code="BAD_REQUEST_ERROR", error_description="Payment failed",
                           error_source="customer", error_step="payment_authorization", error_reason="payment_failed")
        if status == "captured":
            order.update(status="paid", amount_paid=payment["amount"], amount_due=0)
        elif order["status"] == "created":
            order["status"] = "attempted"
        self.payments[payment["id"]] = payment
        return payment

    def capture(self, payment_id: str) -> dict:
        payment = self.payments[payment_id]
        payment.update(status="captured", captured=True)
        self.orders[payment["order_id"]].update(status="paid", amount_paid=payment["amount"], amount_due=0)
        return payment

    def refund(self, payment_id: str, amount: int | None = None, status: str = "processed") -> dict:
        """Refund (part of) a captured payment; the payment entity shows it as Razorpay's does."""
        payment = self.payments[payment_id]
        amount = payment["amount"] - payment["amount_refunded"] if amount is None else amount
        if status != "failed":
            payment["amount_refunded"] += amount
            full = payment["amount_refunded"] >= payment["amount"]
            payment["refund_status"] = "full" if full else "partial"
            if full and status == "processed":
                payment["status"] = "refunded"
        return {
            "id": new_id("rfnd"), "entity": "refund", "amount": amount, "currency": payment["currency"],
            "payment_id": payment_id, "notes": [], "receipt": None, "acquirer_data": {"arn": None},
            "created_at": int(time.time()), "batch_id": None, "status": status, "speed_processed": "normal",
            "speed_requested": "normal",
        }

    def dispute(self, payment: dict, status: str = "open") -> dict:
        """A chargeback on a payment, as the dispute entity of payment.dispute.* events shows it."""
        lost = status == "lost"
        return {
            "id": new_id("disp"), "entity": "dispute", "payment_id": payment["id"], "amount": payment["amount"],
            "currency": payment["currency"], "amount_deducted": payment["amount"] if lost else 0,
            "reason_code": "chargeback", "respond_by": int(time.time()) + 7 * 86400, "status": status,
            "phase": "chargeback", "created_at": int(time.time()),
        }

    def settle_refund(self, refund: dict) -> dict:
        """A pending refund is processed: the payment shows `refunded` once all of it went back."""
        refund["status"] = "processed"
        payment = self.payments[refund["payment_id"]]
        if payment["amount_refunded"] >= payment["amount"]:
            payment["status"] = "refunded"
        return refund

    # -- what Razorpay sends PayHub -----------------------------------------------------------
    def event(self, name: str, payment: dict, *, order: dict | None = None, refund: dict | None = None,
              dispute: dict | None = None) -> dict:
        """A webhook envelope carrying snapshots of the entities, as Razorpay sends it."""
        payload: dict[str, Any] = {"payment": {"entity": json.loads(json.dumps(payment))}}
        contains = ["payment"]
        if order is not None:
            payload["order"] = {"entity": dict(order)}
            contains.append("order")
        if refund is not None:
            payload = {"refund": {"entity": dict(refund)}, **payload}
            contains.insert(0, "refund")
        if dispute is not None:
            payload = {"dispute": {"entity": dict(dispute)}, **payload}
            contains.insert(0, "dispute")
        return {"entity": "event", "account_id": "acc_fake0001", "event": name, "contains": contains,
                "payload": payload, "created_at": int(time.time())}

    def webhook(self, event: dict | bytes, *, event_id: str | None = None, secret: str | None = None,
                signature: str | None = None) -> tuple[bytes, dict[str, str]]:
        """(raw body, headers) of one webhook delivery, signed like Razorpay signs it."""
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Razorpay-Signature": signature or hmac_hex(secret or self.webhook_secret, body),
            "X-Razorpay-Event-Id": event_id or "evt_" + secrets.token_hex(7),
        }
        return body, headers

    def return_fields(self, payment: dict, *, key_secret: str | None = None) -> dict[str, str]:
        """What checkout.js posts to the callback_url after a successful payment."""
        message = f"{payment['order_id']}|{payment['id']}".encode()
        return {"razorpay_payment_id": payment["id"], "razorpay_order_id": payment["order_id"],
                "razorpay_signature": hmac_hex(key_secret or self.key_secret, message)}

    def failed_return_fields(self, payment: dict) -> dict[str, str]:
        """What checkout.js posts to the callback_url when the payment failed (unsigned)."""
        return {"error[code]": "BAD_REQUEST_ERROR", "error[description]": "Payment failed",
                "error[source]": "customer", "error[step]": "payment_authorization",
                "error[reason]": "payment_failed",
                "error[metadata]": json.dumps({"payment_id": payment["id"], "order_id": payment["order_id"]})}
