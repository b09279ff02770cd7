"""The built-in sandbox gateway: seed 001's generic gateway made concrete (GATEWAYS.md §5).

Callback: POST /webhooks/sandbox, JSON {transaction_id, status, amount, event_id}, header
`X-Payhub-Signature: sha256=<hex HMAC-SHA256 of the raw body>`. Status poll:
GET <sandbox base>/status/<transaction_id> -> {status, amount, currency}, `amount` being what
was paid. `success` and `failure` are final; anything else means still processing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any, ClassVar

import requests

from ..gateways import fields
from ..gateways.base import (
    POLL,
    WEBHOOK,
    BadCallback,
    Checkout,
    Gateway,
    GatewayError,
    InvalidSignature,
    PaymentRef,
    RawRequest,
    StatusUpdate,
)
from ..gateways.http import pooled_session

SIGNATURE_HEADER = "X-Payhub-Signature"
STATUS_MAP = {"success": "succeeded", "failure": "failed"}

# Opens a transaction in the sandbox's own ledger: (payment, callback_url) -> transaction id.
OpenSession = Callable[[PaymentRef, str], str]


def sign(secret: str, body: bytes) -> str:
    """The X-Payhub-Signature value for a raw body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def to_update(data: dict[str, Any], source: str, **extra: Any) -> StatusUpdate:
    raw_status = data.get("status")
    if not isinstance(raw_status, str) or len(raw_status) > 64:
        raise BadCallback("status must be a string")
    status = STATUS_MAP.get(raw_status, "pending")
    amount = None if data.get("amount") is None else fields.amount(data, "amount")  # optional here
    paid_in = None if data.get("currency") is None else fields.currency(data)  # the status API says it
    succeeded = status == "succeeded"
    return StatusUpdate(
        gateway="sandbox", status=status, gateway_status=raw_status, source=source,
        amount_received=amount if succeeded else None, currency=paid_in if succeeded else None,
        payload=data, **extra,
    )


class SandboxGateway(Gateway):
    name: ClassVar[str] = "sandbox"
    label: ClassVar[str] = "sandbox"
    # create() writes only to PayHub's own database, in the caller's transaction (no network I/O),
    # so creation commits the payment and the ledger entry together.
    opens_in_transaction: ClassVar[bool] = True

    def __init__(
        self, *, webhook_secret: str, base_url: str, public_url: str,
        open_session: OpenSession, timeout: float = 10, http: requests.Session | None = None,
    ) -> None:
        self._secret = webhook_secret
        self._base_url = base_url.rstrip("/")
        self._public_url = public_url.rstrip("/")
        self._open_session = open_session
        self._timeout = timeout
        self._http = http or pooled_session()

    @classmethod
    def from_config(cls, settings: Any) -> SandboxGateway | None:
        if not settings.sandbox:
            return None
        from .ledger import open_session

        return cls(
            webhook_secret=settings.sandbox_webhook_secret, base_url=settings.sandbox_base_url,
            public_url=settings.public_url, open_session=open_session,
            timeout=settings.gateway_timeout,
        )

    def create(self, payment: PaymentRef) -> Checkout:
        txn = self._open_session(payment, f"{self._public_url}/webhooks/sandbox")
        return Checkout(txn, {"redirect_url": f"{self._public_url}/sandbox/checkout/{txn}"})

    def parse_webhook(self, request: RawRequest) -> StatusUpdate:
        given = request.headers.get(SIGNATURE_HEADER, "")
        if not hmac.compare_digest(given.encode(), sign(self._secret, request.body).encode()):
            raise InvalidSignature("bad or missing X-Payhub-Signature")
        try:
            data = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            raise BadCallback("body is not JSON") from None
        if not isinstance(data, dict):
            raise BadCallback("body must be a JSON object")
        txn, event_id = fields.text(data, "transaction_id"), data.get("event_id")
        if event_id is not None and (not isinstance(event_id, str) or len(event_id) > 200):
            raise BadCallback("event_id must be a string")
        return to_update(data, WEBHOOK, gateway_order_id=txn, gateway_event_id=event_id)

    def poll(self, payment: PaymentRef) -> StatusUpdate:
        response = self._request("GET", f"/status/{payment.gateway_order_id}", "status")
        self._require_status(response, "status")
        try:
            data = response.json()
        except ValueError:
            raise GatewayError("sandbox status answered non-JSON") from None
        if not isinstance(data, dict):
            raise GatewayError("sandbox status answered a non-object")
        try:
            return to_update(data, POLL, payment_id=payment.id, gateway_order_id=payment.gateway_order_id)
        except BadCallback as exc:
            raise GatewayError(f"sandbox status unreadable: {exc}") from None
