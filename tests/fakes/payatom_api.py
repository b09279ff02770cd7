"""A fake PayAtom (GATEWAYS.md §4, seed 003): payment request, connect page, status polling.

Its `post_hash` envelope is an independent implementation on the `cryptography` package, so
PayHub's pycryptodome code is never checked only against itself. `settle()` plays PayAtom
deciding a payment; `webhook_body()` builds the JSON it would POST to the merchant.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
from typing import Any

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from . import Answer, Call, FakeServer

RUPEES = re.compile(r"^\d+(\.\d{1,2})?$")
REQUIRED = ("order_id", "pid", "amount", "name", "email", "phone")


def seal(plaintext: str, secret: str, iv: bytes | None = None) -> str:
    key = hashlib.sha256(secret.encode()).digest()
    iv = os.urandom(16) if iv is None else iv
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext.encode()) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ct = encryptor.update(padded) + encryptor.finalize()
    return base64.b64encode(iv + hmac.new(key, ct + iv, hashlib.sha256).digest() + ct).decode()


def unseal(post_hash: str, secret: str) -> str | None:
    try:
        raw = base64.b64decode(post_hash, validate=True)
        key = hashlib.sha256(secret.encode()).digest()
        iv, mac, ct = raw[:16], raw[16:48], raw[48:]
        if not hmac.compare_digest(hmac.new(key, ct + iv, hashlib.sha256).digest(), mac):
            return None
        decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
        unpadder = padding.PKCS7(128).unpadder()
        return (unpadder.update(decryptor.update(ct) + decryptor.finalize()) + unpadder.finalize()).decode()
    except Exception:
        return None


def md5(*parts: str) -> str:
    return hashlib.md5("".join(parts).encode()).hexdigest()


class FakePayAtom(FakeServer):
    def __init__(self, *, pid: str = "5345f345345", secret: str = "test_secret_key_123") -> None:
        super().__init__()
        self.pid, self.secret = pid, secret
        self.orders: dict[str, dict[str, Any]] = {}
        # Which reading of GATEWAYS.md §4f.2 the poll answer's hash uses ("amount" is the default).
        self.poll_hash = "amount"
        self.route("POST", r"/pay/request\.php", self._request)
        self.route("GET", r"/pay/connect\.php", self._connect)
        self.route("POST", r"/api/status_polling\.php", self._poll)

    def _request(self, call: Call, _: Any) -> Answer:
        try:
            data = call.json()
        except ValueError:
            return Answer(200, {"status": "error", "message": "Invalid JSON"})
        missing = [k for k in REQUIRED if not isinstance(data.get(k), str) or not data[k]]
        if missing:
            return Answer(200, {"status": "error", "message": f"{missing[0]} is required"})
        if data["pid"] != self.pid:
            return Answer(200, {"status": "error", "message": "Invalid merchant"})
        if len(data["order_id"]) < 10 or data["order_id"] in self.orders:
            return Answer(200, {"status": "error", "message": "Invalid or duplicate order_id"})
        if not RUPEES.match(data["amount"]):
            return Answer(200, {"status": "error", "message": "Invalid amount"})
        code, ref_code = secrets.token_hex(32), secrets.token_hex(8)
        self.orders[data["order_id"]] = {
            "amount": data["amount"], "code": code, "ref_code": ref_code, "status": "Pending",
            "received": "0", "acknowledged": "0", "redirect_url": data.get("redirect_url"), "refund_info": [],
        }
        return Answer(200, {"status": "success", "hash_value": code, "ref_code": ref_code})

    def _connect(self, call: Call, _: Any) -> Answer:
        code = call.query.get("code", [""])[0]
        if not any(o["code"] == code for o in self.orders.values()):
            return Answer(404, "<html><body>Invalid payment link</body></html>")
        return Answer(200, "<html><body>Pay with any UPI app</body></html>")

    def _poll(self, call: Call, _: Any) -> Answer:
        data = call.json()
        order = next((o for o in self.orders.values() if o["ref_code"] == data.get("ref_code")), None)
        if data.get("pid") != self.pid or order is None:
            return Answer(200, {"status": "error", "message": "Invalid request"})
        if unseal(str(data.get("post_hash")), self.secret) != md5(order["ref_code"], self.pid, self.secret):
            return Answer(200, {"status": "error", "message": "Hash mismatch"})
        order_id = next(k for k, v in self.orders.items() if v is order)
        amount = order["received"] if order["status"] in ("Approved", "Late Approved") else order["amount"]
        formula = {
            "amount": (order_id, amount, order["status"]), "ref_code": (order["ref_code"], self.pid),
            "requested": (order_id, order["amount"], order["status"]),
        }[self.poll_hash]
        return Answer(200, {
            "order_id": order_id, "upi_id": "merchant@upi", "amount": amount,
            "webhook_acknowledged": order["acknowledged"], "status": order["status"],
            "post_hash": seal(md5(*formula, self.secret), self.secret), "refund_info": order["refund_info"],
        })

    # -- playing PayAtom's side -----------------------------------------------------------------
    def settle(self, order_id: str, status: str, received_amount: str | None = None) -> None:
        order = self.orders[order_id]
        order["status"] = status
        if received_amount is not None:
            order["received"] = received_amount

    def webhook_body(self, order_id: str, status: str, received_amount: str | None = None, **overrides: Any) -> bytes:
        """Settle the order and return the JSON webhook PayAtom posts, post_hash included."""
        order = self.orders.setdefault(order_id, {"amount": received_amount or "1", "ref_code": secrets.token_hex(8),
                                                  "code": "", "received": "0", "acknowledged": "0", "refund_info": []})
        self.settle(order_id, status, received_amount if received_amount is not None else order["amount"])
        refund = {"refunded_upi": "shopper@upi", "refund_amount": order["amount"], "refund_initiated_time": "",
                  "refund_completed_time": "", "refund_status": status, "refund_notes": ""}
        body = {
            "order_id": order_id, "requested_amount": order["amount"], "status": status,
            "post_hash": seal(md5(order_id, order["received"], status, self.secret), self.secret),
            "received_amount": order["received"], "bank_ref": "UTR" + secrets.token_hex(5),
            "sender_upi": "shopper@upi", "ref_code": order["ref_code"],
            "refund_info": refund if status.startswith("Refund") else [], **overrides,
        }
        return json.dumps(body).encode()

    def acknowledged(self, order_id: str, reply: dict[str, Any]) -> None:
        """Record the merchant's acknowledgement the way the poll's webhook_acknowledged shows it."""
        if reply.get("hash_status") == "HashMatched" and reply.get("acknowledge") == "yes":
            self.orders[order_id]["acknowledged"] = "1"
