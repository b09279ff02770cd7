"""Paytm: Initiate Transaction + showPaymentPage, CHECKSUMHASH callbacks, Transaction Status API.

Wire formats: GATEWAYS.md §2. INR only; amounts travel as "1.00" strings and are converted to
paise exactly. The order id sent to Paytm is the merchant's order_id, so callbacks (which carry
ORDERID and no event id) find the payment by it; duplicates are recognised by content.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import replace
from typing import Any, ClassVar
from urllib.parse import urlencode, urlsplit

import requests

from ..money import to_decimal_string
from . import paytm_checksum as checksum
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
)
from .http import pooled_session
from .paytm_fields import FORM, JSON_BODY, read_form, read_json_webhook, to_update

log = logging.getLogger(__name__)

PRODUCTION_URL = "https://securegw.paytm.in"
ORDER_ID = re.compile(r"[A-Za-z0-9@._-]{1,50}")  # fullmatch: whole values only


class PaytmGateway(Gateway):
    name: ClassVar[str] = "paytm"
    label: ClassVar[str] = "Paytm"
    accepts_returns: ClassVar[bool] = True

    def __init__(
        self, *, mid: str, merchant_key: str, public_url: str, website: str = "DEFAULT",
        base_url: str = PRODUCTION_URL, timeout: float = 10, http: requests.Session | None = None,
    ) -> None:
        if len(merchant_key.encode()) not in (16, 24, 32):
            raise ValueError("the Paytm merchant key must be 16, 24 or 32 characters long")
        self._mid = mid
        self._key = merchant_key
        self._website = website
        self._base_url = base_url.rstrip("/")
        self._public_url = public_url.rstrip("/")
        self._timeout = timeout
        self._http = http or pooled_session()

    @classmethod
    def from_config(cls, settings: Any) -> PaytmGateway | None:
        mid, key = settings.get("paytm_mid"), settings.get("paytm_merchant_key")
        if not mid or not key:
            return None
        base_url = settings.get("paytm_base_url", PRODUCTION_URL)
        # Staging MIDs use the WEBSTAGING website; production ones usually DEFAULT.
        website = settings.get("paytm_website") or ("WEBSTAGING" if "stag" in urlsplit(base_url).netloc else "DEFAULT")
        return cls(
            mid=mid, merchant_key=key, website=website, base_url=base_url,
            public_url=settings.public_url, timeout=settings.gateway_timeout,
        )

    def validate(self, *, order_id: str, amount: int, currency: str, **_: Any) -> None:
        if currency != "INR":
            raise AmountNotAccepted("Paytm takes INR only", field="currency")
        if amount < 1:
            raise AmountNotAccepted("amount must be at least 1 paisa")
        if not ORDER_ID.fullmatch(order_id):
            raise AmountNotAccepted(
                "Paytm order ids are 1-50 characters of letters, digits and @ . _ -", field="order_id",
            )

    def create(self, payment: PaymentRef) -> Checkout:
        self.validate(order_id=payment.order_id, amount=payment.amount, currency=payment.currency)
        value = to_decimal_string(payment.amount, "INR")
        body = {
            "requestType": "Payment", "mid": self._mid, "websiteName": self._website,
            "orderId": payment.order_id, "callbackUrl": f"{self._public_url}/return/paytm",
            "txnAmount": {"value": value, "currency": "INR"}, "userInfo": _user_info(payment),
        }
        query = urlencode({"mid": self._mid, "orderId": payment.order_id})
        data = self._call(f"/theia/api/v1/initiateTransaction?{query}", body, "initiateTransaction")
        result = data.get("resultInfo") if isinstance(data.get("resultInfo"), dict) else {}
        token = data.get("txnToken")
        if result.get("resultStatus") != "S" or not isinstance(token, str) or not token:
            code, message = str(result.get("resultCode", ""))[:20], str(result.get("resultMsg", ""))[:200]
            raise GatewayError(f"Paytm refused the transaction: {code} {message}".strip())
        fields = {"mid": self._mid, "orderId": payment.order_id, "txnToken": token}
        return Checkout(payment.order_id, {
            "mid": self._mid, "order_id": payment.order_id, "txn_token": token, "amount": value,
            "action_url": f"{self._base_url}/theia/api/v1/showPaymentPage?{query}",
            "method": "POST", "fields": fields,
        })

    def parse_return(self, request: RawRequest) -> StatusUpdate:
        fields = read_form(request)
        self._check([fields], fields.get(checksum.CHECKSUM_FIELD))
        return _signed_form(to_update(FORM, fields, RETURN, mid=self._mid), fields)

    def parse_webhook(self, request: RawRequest) -> StatusUpdate:
        if request.body.lstrip()[:1] == b"{":
            texts, body, signature = read_json_webhook(request)
            self._check(texts, signature)
            return to_update(JSON_BODY, body, WEBHOOK, mid=self._mid)
        fields = read_form(request)
        self._check([fields], fields.get(checksum.CHECKSUM_FIELD))
        return _signed_form(to_update(FORM, fields, WEBHOOK, mid=self._mid), fields)

    def poll(self, payment: PaymentRef) -> StatusUpdate:
        order_id = payment.gateway_order_id or payment.order_id
        data = self._call("/v3/order/status", {"mid": self._mid, "orderId": order_id}, "order status")
        if data.get("orderId") not in (None, order_id):
            raise GatewayError("Paytm status answered for another order")
        try:
            # An answer about no transaction at all may not echo the orderId it was asked about.
            fields = {**data, "orderId": order_id}
            return to_update(JSON_BODY, fields, POLL, mid=self._mid, payment_id=payment.id, poll=True)
        except BadCallback as exc:
            raise GatewayError(f"Paytm status unreadable: {exc}") from None

    def _check(self, candidates: list[Any], signature: Any) -> None:
        """Authentic if the checksum covers one of `candidates` (all posted fields, or a body text)."""
        if not isinstance(signature, str) or not signature:
            raise InvalidSignature("missing Paytm checksum")
        if not any(checksum.verify(signed, self._key, signature) for signed in candidates):
            raise InvalidSignature("bad Paytm checksum")

    def _call(self, path: str, body: dict[str, Any], what: str) -> dict[str, Any]:
        """POST {head:{signature}, body}; the signature covers exactly the body bytes sent."""
        body_text = json.dumps(body, separators=(",", ":"))
        head = json.dumps({"signature": checksum.generate(body_text, self._key), "channelId": "WEB"})
        payload = f'{{"body":{body_text},"head":{head}}}'.encode()
        response = self._request("POST", path, what, data=payload, headers={"Content-Type": "application/json"})
        self._require_status(response, what)
        return self._response_body(response.text, what)

    def _response_body(self, text: str, what: str) -> dict[str, Any]:
        try:
            data = json.loads(text)
            body_text = checksum.raw_member(text, "body")
        except (ValueError, RecursionError):
            raise GatewayError(f"Paytm {what} answered non-JSON") from None
        body = data.get("body") if isinstance(data, dict) else None
        if not isinstance(body, dict) or body_text is None:
            raise GatewayError(f"Paytm {what} answered without a body")
        head = data.get("head") if isinstance(data.get("head"), dict) else {}
        signature = head.get("signature")
        # How Paytm signs responses is unconfirmed (GATEWAYS.md §2c): check, but only log.
        if isinstance(signature, str) and signature and not checksum.verify(body_text, self._key, signature):
            log.warning("Paytm %s response signature did not verify", what)
        return body


def _signed_form(update: StatusUpdate, fields: dict[str, str]) -> StatusUpdate:
    """The update of a checksummed form. Its identity is what the checksum covers, the values
    joined in key order: the key names are not signed, so the same checksum covers the form with
    a field renamed, and a rename must not count as a new update. The shopper's browser carries
    this very form (the return), and can post it to /webhooks/paytm too, which is not rate
    limited: its repeats are kept once (door.py)."""
    signed = checksum.params_string({k: v for k, v in fields.items() if k != checksum.CHECKSUM_FIELD})
    return replace(update, signed_content=signed, shopper_can_repeat=True)


def _user_info(payment: PaymentRef) -> dict[str, str]:
    # custId is required; the payment id identifies the shopper's attempt without any PII.
    info = {"custId": payment.id}
    email = payment.customer.get("email")
    if email:
        info["email"] = email
    # Paytm wants a bare 10-digit Indian mobile number; anything else is better left out.
    digits = re.sub(r"\D", "", payment.customer.get("phone", ""))
    digits = digits[2:] if len(digits) == 12 and digits.startswith("91") else digits
    if len(digits) == 10:
        info["mobile"] = digits
    return info
