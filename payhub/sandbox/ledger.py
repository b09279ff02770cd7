"""The sandbox gateway's own side: its ledger and the signed callbacks it sends.

This is the 'gateway' half of the built-in sandbox, kept apart from PayHub's payments: PayHub
learns what happened here only through signed callbacks and status polls, like with any
real gateway.
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

import requests
from sqlalchemy import insert

from ..extensions import db, socketio
from ..gateways.base import PaymentRef
from ..models import SandboxTransaction
from .adapter import SIGNATURE_HEADER, sign

log = logging.getLogger(__name__)

RETRY_DELAYS = (1, 2, 4, 8, 16)
OUTCOMES = {"pay": "success", "fail": "failure", "success": "success", "failure": "failure"}
_OPEN = insert(SandboxTransaction.__table__)  # Core: no unit of work on the create path


def open_session(payment: PaymentRef, callback_url: str) -> str:
    """Open a transaction in the ledger, in the caller's database transaction: creation commits
    it together with the payment (one commit), or rolls both back."""
    txn_id = "sbx_" + secrets.token_urlsafe(12)
    db.session.execute(_OPEN, {
        "id": txn_id, "amount": payment.amount, "currency": payment.currency, "status": "processing",
        "callback_url": callback_url, "return_url": payment.status_page_url,
    })
    return txn_id


def find(txn_id: str) -> SandboxTransaction | None:
    return db.session.get(SandboxTransaction, txn_id) if len(txn_id) <= 40 else None


def settle(txn: SandboxTransaction, status: str, amount_paid: int | None = None) -> None:
    """Record the outcome; a success remembers what was actually paid (the requested amount
    unless told), which is what the status API then reports."""
    txn.status = status
    txn.amount_paid = (txn.amount if amount_paid is None else amount_paid) if status == "success" else None
    db.session.commit()


def callback_body(txn_id: str, status: str, amount: int) -> bytes:
    data = {"transaction_id": txn_id, "status": status, "amount": amount, "event_id": "evt_" + secrets.token_hex(12)}
    return json.dumps(data, separators=(",", ":")).encode()


def post_callback(url: str, secret: str, body: bytes, timeout: float = 10) -> int:
    """POST one signed callback; returns the HTTP status."""
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, body)}
    return requests.post(url, data=body, headers=headers, timeout=timeout).status_code


def deliver(url: str, secret: str, body: bytes, delay: float = 0) -> None:
    """Send a callback like a gateway does: after `delay`, retried with backoff until a 2xx."""
    socketio.sleep(delay)
    for wait in (0, *RETRY_DELAYS):
        socketio.sleep(wait)
        try:
            status = post_callback(url, secret, body)
        except requests.RequestException as exc:
            log.warning("sandbox callback to %s failed: %s", url, type(exc).__name__)
            continue
        if 200 <= status < 300:
            return
        log.warning("sandbox callback to %s answered %s", url, status)
    log.error("sandbox callback to %s given up", url)


def send_later(txn: SandboxTransaction, status: str, amount: int, secret: str, delay: float) -> Any:
    body = callback_body(txn.id, status, amount)
    return socketio.start_background_task(deliver, txn.callback_url, secret, body, delay)
