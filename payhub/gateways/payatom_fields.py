"""Reading PayAtom's webhook and status-poll answers (GATEWAYS.md §4b, §4e, §4f).

Only order_id, the amount and the status are covered by post_hash; everything else in the
body (bank_ref, sender_upi, refund_info, ...) is informational and is never trusted for money.
"""

from __future__ import annotations

import json
from typing import Any

from . import payatom_hash as envelope
from .base import BadCallback, StatusUpdate
from .fields import rupees_to_paise

# Exact strings: case and spaces matter, they enter the hash.
STATUS_MAP = {
    "Pending": "pending",
    "Approved": "succeeded",
    "Late Approved": "succeeded",
    "Declined": "failed",
    "No Matching Payment for UTR": "failed",
    # The shopper's session ran out before paying: PayHub's "expired", which late money can still lift.
    "User Timed Out": "expired",
    "Refund Initiated": "refund_pending",
    "Refund Completed": "refunded",
}
LIMITS = {"order_id": 100, "received_amount": 20, "amount": 20, "status": 64}


def parse_json(raw: bytes, error: type[Exception]) -> dict[str, Any]:
    """The JSON object in `raw`, or `error` raised."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise error("body is not JSON") from None
    if not isinstance(data, dict):
        raise error("body is not a JSON object")
    return data


def text(data: dict[str, Any], key: str) -> str:
    """A hashed field as the string that enters the hash. A JSON integer counts as its digits,
    as PHP would concatenate it; anything else that is not a string is refused."""
    value = data.get(key)
    if type(value) is int and abs(value) < 10**15:
        value = str(value)
    if not isinstance(value, str) or len(value) > LIMITS[key]:
        raise BadCallback(f"{key} must be a string of at most {LIMITS[key]} characters")
    return value


def to_update(data: dict[str, Any], *, order_id: str, amount: str, status: str, source: str) -> StatusUpdate:
    """The StatusUpdate of an authentic webhook or poll answer (hashed fields passed verbatim)."""
    if not order_id:
        raise BadCallback("order_id is empty")
    target = STATUS_MAP.get(status, "pending")
    received = rupees_to_paise(amount, "the received amount") if target == "succeeded" else None
    bank_ref = data.get("bank_ref")
    return StatusUpdate(
        gateway="payatom", status=target, gateway_status=status, source=source,
        gateway_order_id=order_id,
        gateway_payment_id=bank_ref if isinstance(bank_ref, str) and 0 < len(bank_ref) <= 100 else None,
        amount_received=received, currency="INR" if received is not None else None, payload=data,
    )


def poll_hash_candidates(
    data: dict[str, Any], *, order_id: str, amount: str, status: str, ref_code: str, pid: str,
    requested: str, secret: str,
) -> list[tuple[str, str]]:
    """(name, md5) for each reading of GATEWAYS.md §4f.2, most defensible first: the seed does
    not say which formula the poll answer's hash uses, so each is tried and the match logged."""
    candidates = [("order_id+amount+status", envelope.webhook_digest(order_id, amount, status, secret))]
    for key in ("received_amount", "recieved_amount"):  # the seed's PHP reads the misspelt key
        if isinstance(data.get(key), str):
            candidates.append((f"order_id+{key}+status", envelope.webhook_digest(order_id, data[key], status, secret)))
    requested_digest = envelope.webhook_digest(order_id, requested, status, secret)
    candidates.append(("order_id+requested_amount+status", requested_digest))
    candidates.append(("ref_code+pid", envelope.poll_digest(ref_code, pid, secret)))
    return candidates
