"""PayAtom "Payin P2P Non-Seamless UPI" (GATEWAYS.md §4, seed 003).

Create: POST /pay/request.php, then send the shopper to /pay/connect.php?code=<hash_value>.
Webhook: POST /webhooks/payatom, JSON authenticated by the AES `post_hash` envelope, answered
with PayAtom's own {hash_status, acknowledge}. Poll: POST /api/status_polling.php with the
ref_code kept from the create answer (PaymentRef.gateway_reference). INR only; amounts travel
as rupee strings ("1", "100.50"), converted to paise exactly and hashed verbatim.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import string
from dataclasses import replace
from typing import Any, ClassVar
from urllib.parse import quote

import requests

from ..money import to_decimal_string
from . import payatom_hash as envelope
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
)
from .http import pooled_session
from .payatom_fields import parse_json, poll_hash_candidates, text, to_update

log = logging.getLogger(__name__)

CODE_KEYS = ("hash_value", "code", "payment_hash")
REPLIES = {
    # acknowledge "yes" only once the update is durably recorded, so PayAtom resends otherwise.
    "applied": ("HashMatched", "yes"), "duplicate": ("HashMatched", "yes"),
    "not_applied": ("HashMatched", "yes"), "ignored": ("HashMatched", "yes"),
    "invalid_signature": ("HashMismatch", "no"), "unknown_payment": ("HashMismatch", "no"),
    # Unreadable: whether it was even authentic is unknown, so it is neither matched nor kept.
    "bad_callback": ("HashMismatch", "no"), "error": ("HashMatched", "no"),
}
REPLY_HEADERS = {"Content-Type": "application/json;charset=utf-8"}


class PayAtomGateway(Gateway):
    name: ClassVar[str] = "payatom"
    label: ClassVar[str] = "PayAtom"

    def __init__(
        self, *, pid: str, secret_key: str, base_url: str, timeout: float = 10,
        http: requests.Session | None = None,
    ) -> None:
        self._pid = pid
        self._secret = secret_key
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._http = http or pooled_session()

    @classmethod
    def from_config(cls, settings: Any) -> PayAtomGateway | None:
        # PayAtom gives each merchant its own domain: there is no default host to fall back on.
        pid, secret = settings.get("payatom_pid"), settings.get("payatom_secret_key")
        base_url = settings.get("payatom_base_url")
        if not pid or not secret or not base_url:
            return None
        return cls(pid=pid, secret_key=secret, base_url=base_url, timeout=settings.gateway_timeout)

    def validate(self, *, order_id: str, amount: int, currency: str, **_: Any) -> None:
        if currency != "INR":
            raise AmountNotAccepted("PayAtom takes INR only", field="currency")
        if amount < 1:
            raise AmountNotAccepted("amount must be at least 1 paisa")
        if len(order_id) < 10:
            raise AmountNotAccepted("PayAtom order ids are at least 10 characters long", field="order_id")

    def create(self, payment: PaymentRef) -> Checkout:
        self.validate(order_id=payment.order_id, amount=payment.amount, currency=payment.currency)
        customer = {key: payment.customer.get(key, "") for key in ("name", "email", "phone")}
        missing = [key for key, value in customer.items() if not value]
        if missing:
            raise AmountNotAccepted(f"PayAtom needs the customer's {missing[0]}", field=f"customer.{missing[0]}")
        body = {
            "order_id": self.order_id_to_send(payment), "pid": self._pid, "amount": self.rupees(payment.amount),
            **customer, "redirect_url": payment.status_page_url,
        }
        data = self._post("/pay/request.php", body, "payment request")
        code = next((data[k] for k in CODE_KEYS if isinstance(data.get(k), str) and data[k]), None)
        if data.get("status") != "success" or code is None:
            raise GatewayError(f"PayAtom refused the payment: {self._message(data)}")
        ref_code = data.get("ref_code") if isinstance(data.get("ref_code"), str) else None
        if not ref_code:
            log.warning("PayAtom accepted %s without a ref_code: it cannot be polled", payment.id)
        redirect = f"{self._base_url}/pay/connect.php?code={quote(code, safe='')}"
        return Checkout(body["order_id"], {"redirect_url": redirect}, gateway_reference=ref_code or None)

    @staticmethod
    def order_id_to_send(payment: PaymentRef) -> str:
        """The merchant's order_id; on a re-opening, a fresh one made from it. PayAtom refuses a
        second payment request for an order id, and an earlier attempt whose answer was lost may
        have made one: without a fresh id, no retry of the create could ever work. The suffix is
        letters only, so the id does not end in a digit (see payhub/joined_binding.py)."""
        if not payment.reopening:
            return payment.order_id
        return f"{payment.order_id}-" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(6))

    def parse_webhook(self, request: RawRequest) -> StatusUpdate:
        data = parse_json(request.body, BadCallback)
        order_id, amount, status = text(data, "order_id"), text(data, "received_amount"), text(data, "status")
        post_hash = data.get("post_hash")
        if not isinstance(post_hash, str) or not post_hash:
            raise InvalidSignature("missing post_hash")
        expected = envelope.webhook_digest(order_id, amount, status, self._secret)
        if not envelope.carries(post_hash, self._secret, expected):
            raise InvalidSignature("post_hash does not match")
        update = to_update(data, order_id=order_id, amount=amount, status=status, source=WEBHOOK)
        return replace(update, joined_order_amount=(order_id, amount))

    def webhook_reply(self, result: str) -> tuple[dict[str, str], int, dict[str, str]]:
        hash_status, acknowledge = REPLIES.get(result, ("HashMismatch", "no"))
        return {"hash_status": hash_status, "acknowledge": acknowledge}, 200, REPLY_HEADERS

    def poll(self, payment: PaymentRef) -> StatusUpdate:
        ref_code, order_id = payment.gateway_reference, payment.gateway_order_id or payment.order_id
        if not ref_code:
            raise GatewayError("PayAtom cannot be polled without the ref_code of the payment request")
        sent_hash = envelope.seal(envelope.poll_digest(ref_code, self._pid, self._secret), self._secret)
        body = {"pid": self._pid, "ref_code": ref_code, "order_id": order_id, "post_hash": sent_hash}
        data = self._post("/api/status_polling.php", body, "status polling")
        try:
            fields = {key: text(data, key) for key in ("order_id", "amount", "status")}
        except BadCallback:
            raise GatewayError(f"PayAtom status unreadable: {self._message(data)}") from None
        if fields["order_id"] != order_id:
            raise GatewayError("PayAtom status answered for another order")
        if data.get("post_hash") == sent_hash:  # our own request hash echoed back proves nothing
            raise GatewayError("PayAtom status answer failed hash verification; not applied")
        matched = self._verified_by(data, fields, ref_code, self.rupees(payment.amount))
        log.info("PayAtom status for %s verified by the %s formula", payment.id, matched)
        try:
            update = to_update(data, **fields, source=POLL)
        except BadCallback as exc:
            raise GatewayError(f"PayAtom status unreadable: {exc}") from None
        return replace(update, payment_id=payment.id)

    def _verified_by(self, data: dict[str, Any], fields: dict[str, str], ref_code: str, requested: str) -> str:
        """The name of the hash formula the answer's post_hash carries; GatewayError if none."""
        post_hash = data.get("post_hash")
        remote = envelope.open_envelope(post_hash, self._secret) if isinstance(post_hash, str) else None
        if remote is not None:
            candidates = poll_hash_candidates(
                data, **fields, ref_code=ref_code, pid=self._pid, requested=requested, secret=self._secret,
            )
            for name, digest in candidates:
                if hmac.compare_digest(remote.encode(), digest.encode()):
                    return name
        raise GatewayError("PayAtom status answer failed hash verification; not applied")

    @staticmethod
    def rupees(paise: int) -> str:
        return to_decimal_string(paise, "INR", min_places=0)

    def _message(self, data: dict[str, Any]) -> str:
        message = data.get("message")
        text_ = message[:200] if isinstance(message, str) else "no reason given"
        return text_.replace(self._secret, "[redacted]")

    def _post(self, path: str, body: dict[str, str], what: str) -> dict[str, Any]:
        response = self._request("POST", path, what, json=body)
        self._require_status(response, what)
        try:
            return parse_json(response.content, GatewayError)
        except GatewayError:
            raise GatewayError(f"PayAtom {what} answered something other than a JSON object") from None

