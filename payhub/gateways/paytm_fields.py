"""Reading Paytm's callbacks and status answers into a StatusUpdate (GATEWAYS.md §2b, §2c).

Three shapes carry the same facts: the browser return and the S2S webhook as UPPERCASE form
fields, the JSON webhook and the Transaction Status answer as a camelCase `body`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from .base import BadCallback, RawRequest, StatusUpdate
from .fields import rupees_to_paise
from .paytm_checksum import raw_member

FORM = {
    "order_id": "ORDERID", "status": "STATUS", "amount": "TXNAMOUNT", "currency": "CURRENCY",
    "txn_id": "TXNID", "refund": "REFUNDAMT", "mid": "MID",
}
JSON_BODY = {
    "order_id": "orderId", "status": "status", "amount": "txnAmount", "currency": "currency",
    "txn_id": "txnId", "refund": "refundAmt", "mid": "mid",
}
STATUS_MAP = {"TXN_SUCCESS": "succeeded", "TXN_FAILURE": "failed", "PENDING": "pending"}
MAX_FIELDS = 100


def read_form(request: RawRequest) -> dict[str, str]:
    """Every posted field, decoded from the raw body (GET: the query string)."""
    if request.method == "POST" and request.body:
        try:
            pairs = parse_qsl(
                request.body.decode("utf-8"), keep_blank_values=True, strict_parsing=True,
                max_num_fields=MAX_FIELDS,
            )
        except (UnicodeDecodeError, ValueError):
            raise BadCallback("body is not a form") from None
        fields = dict(pairs)
        if len(fields) != len(pairs):
            raise BadCallback("a form field is given twice")
        return fields
    return dict(request.form or request.args)


def read_json_webhook(request: RawRequest) -> tuple[list[str], dict[str, Any], Any]:
    """(texts the signature may cover, body, signature) of a {head:{signature}, body} webhook."""
    try:
        text = request.body.decode("utf-8")
        data = json.loads(text)
        body_text = raw_member(text, "body")
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadCallback("body is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("body"), dict) or body_text is None:
        raise BadCallback("expected a JSON object with head and body")
    head = data.get("head")
    signature = head.get("signature") if isinstance(head, dict) else None
    # Paytm signs `body` as it serialised it: the raw text first, then the usual re-serialisations.
    body = data["body"]
    texts = [body_text, json.dumps(body, separators=(",", ":")), json.dumps(body)]
    return list(dict.fromkeys(texts)), body, signature or request.headers.get("X-Paytm-Signature")


def to_update(
    keys: Mapping[str, str], fields: Mapping[str, Any], source: str, *, mid: str,
    payment_id: str | None = None, poll: bool = False,
) -> StatusUpdate:
    """One StatusUpdate from authentic fields. Raises BadCallback for what cannot be read."""
    get = _reader(keys, fields)
    order_id, raw_status = get("order_id", 50, required=True), _status(keys, fields, get)
    if get("mid", 64) not in (None, mid):
        raise BadCallback("the callback is for another MID")
    if poll and raw_status not in STATUS_MAP:
        # Not a transaction status but an error answer (resultStatus "F": a bad checksum, a system
        # error): it says nothing about the payment, so it is no answer (the sweep tries again).
        raise BadCallback(f"an error, not a status (code {str(_result(fields).get('resultCode', ''))[:20]})")
    status = STATUS_MAP.get(raw_status, "pending")
    if poll and status == "failed" and "invalid order" in str(_result(fields).get("resultMsg", "")).lower():
        status = "pending"  # Paytm has no transaction for this order yet: the shopper may still pay
    amount = currency = None
    if status == "succeeded":
        amount = rupees_to_paise(get("amount", 20, required=True), keys["amount"])
        currency = (get("currency", 3) or "INR").upper()
        refund = get("refund", 20)
        if refund and rupees_to_paise(refund, keys["refund"]) >= amount > 0:
            status, amount, currency = "refunded", None, None
    return StatusUpdate(
        gateway="paytm", status=status, gateway_status=raw_status, source=source,
        payment_id=payment_id, gateway_order_id=order_id, gateway_payment_id=get("txn_id", 64),
        amount_received=amount, currency=currency, payload=dict(fields),
    )


def _reader(keys: Mapping[str, str], fields: Mapping[str, Any]) -> Any:
    def get(name: str, limit: int, required: bool = False) -> str | None:
        value = fields.get(keys[name])
        if isinstance(value, dict) and name == "amount":  # {"value": "1.00", "currency": "INR"}
            value = value.get("value")
        if value is None or value == "":
            if required:
                raise BadCallback(f"{keys[name]} is missing")
            return None
        if not isinstance(value, str) or len(value) > limit:
            raise BadCallback(f"{keys[name]} must be a string of at most {limit} characters")
        return value

    return get


def _result(fields: Mapping[str, Any]) -> Mapping[str, Any]:
    result = fields.get("resultInfo")
    return result if isinstance(result, dict) else {}


def _status(keys: Mapping[str, str], fields: Mapping[str, Any], get: Any) -> str:
    status = get("status", 64)
    if status is None and keys is JSON_BODY:
        status = _result(fields).get("resultStatus")
    if not isinstance(status, str) or not status or len(status) > 64:
        raise BadCallback("the status is missing")
    return status
