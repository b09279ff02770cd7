"""A fake Paytm PG (GATEWAYS.md §2): Initiate Transaction, showPaymentPage, Transaction Status.

Signatures are made and checked with Paytm's own `paytmchecksum` package, never with PayHub's
code. `pay()` plays the shopper paying: it settles the order and hands back the callback Paytm
would post (UPPERCASE form fields with CHECKSUMHASH), `webhook_json()` the JSON webhook form.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any
from urllib.parse import urlencode

from paytmchecksum import PaytmChecksum

from . import Answer, Call, FakeServer

AMOUNT = re.compile(r"^\d+\.\d{2}$")


def body_text(raw: str) -> str | None:
    """The exact text of the top-level "body" member: what Paytm verifies head.signature on."""
    decoder, i = json.JSONDecoder(), raw.index("{") + 1
    while True:
        key, i = decoder.raw_decode(raw, raw.index('"', i))
        start = raw.index(":", i) + 1
        while raw[start] in " \t\r\n":
            start += 1
        _, end = decoder.raw_decode(raw, start)
        if key == "body":
            return raw[start:end]
        i = raw.find(",", end)
        if i < 0:
            return None


class FakePaytm(FakeServer):
    def __init__(self, *, mid: str = "PAYHUBMID00001", merchant_key: str = "abcdefghijklmnop") -> None:
        super().__init__()
        self.mid, self.key = mid, merchant_key
        self.orders: dict[str, dict[str, Any]] = {}  # orderId -> what Paytm knows of it
        self.route("POST", r"/theia/api/v1/initiateTransaction", self._initiate)
        self.route("POST", r"/theia/api/v1/showPaymentPage", self._payment_page)
        self.route("POST", r"/v3/order/status", self._status)

    # -- the API ------------------------------------------------------------------------------
    def _signed_request(self, call: Call) -> tuple[dict[str, Any] | None, str]:
        raw = call.body.decode()
        data, signed = json.loads(raw), body_text(raw)
        signature = (data.get("head") or {}).get("signature", "")
        try:
            ok = signed is not None and PaytmChecksum.verifySignature(signed, self.key, signature)
        except Exception:
            ok = False
        return (data["body"] if ok else None), signed or ""

    def _initiate(self, call: Call, _: Any) -> Answer:
        body, _signed = self._signed_request(call)
        if body is None:
            return self._answer(_failure("2005", "Checksum provided is invalid"))
        order_id = body.get("orderId")
        if call.query.get("mid") != [self.mid] or body.get("mid") != self.mid:
            return self._answer(_failure("2006", "Mid is invalid"))
        if call.query.get("orderId") != [order_id]:
            return self._answer(_failure("2007", "Txn amount or order id mismatch"))
        amount = (body.get("txnAmount") or {})
        if not AMOUNT.match(str(amount.get("value"))) or amount.get("currency") != "INR":
            return self._answer(_failure("1007", "Txn amount is invalid"))
        if not (body.get("userInfo") or {}).get("custId") or not body.get("callbackUrl"):
            return self._answer(_failure("1001", "Request parameters are not valid"))
        known = self.orders.get(order_id)
        if known and known["status"] != "PENDING":
            return self._answer(_failure("325", "Duplicate Order Id"))
        token = secrets.token_hex(16)
        self.orders[order_id] = {
            "amount": amount["value"], "token": token, "status": "PENDING", "txn_id": None,
            "refund": "0.00", "website": body.get("websiteName"), "callback_url": body["callbackUrl"],
        }
        return self._answer({
            "resultInfo": {"resultStatus": "S", "resultCode": "0000", "resultMsg": "Success"},
            "txnToken": token, "isPromoCodeValid": False, "authenticated": False,
        })

    def _payment_page(self, call: Call, _: Any) -> Answer:
        form, order = call.form(), self.orders.get(call.query.get("orderId", [""])[0])
        if order is None or form.get("txnToken") != order["token"] or form.get("mid") != self.mid:
            return Answer(400, "<html><body>Invalid payment request</body></html>")
        return Answer(200, f"<html><body>Pay Rs {order['amount']} with Paytm</body></html>")

    def _status(self, call: Call, _: Any) -> Answer:
        body, _signed = self._signed_request(call)
        if body is None:
            return self._answer(_failure("2005", "Checksum provided is invalid"))
        order = self.orders.get(body.get("orderId"))
        if body.get("mid") != self.mid or order is None or order["txn_id"] is None:
            return self._answer(_failure("334", "Invalid Order Id.", status="TXN_FAILURE"))
        codes = {"TXN_SUCCESS": ("01", "Txn Success"), "TXN_FAILURE": ("227", "Your payment has been declined"),
                 "PENDING": ("402", "Looks like the payment is not complete.")}
        code, message = codes[order["status"]]
        return self._answer({
            "resultInfo": {"resultStatus": order["status"], "resultCode": code, "resultMsg": message},
            "txnId": order["txn_id"], "bankTxnId": "BANK" + order["txn_id"][-8:], "orderId": body["orderId"],
            "txnAmount": order["amount"], "txnType": "SALE", "gatewayName": "HDFC", "bankName": "HDFC Bank",
            "mid": self.mid, "paymentMode": "UPI", "refundAmt": order["refund"], "txnDate": "2026-11-22 10:00:00.0",
        })

    def _answer(self, body: dict[str, Any]) -> Answer:
        """Like Paytm: {head:{signature over the body text}, body}, always HTTP 200."""
        text = json.dumps(body)
        head = {"responseTimestamp": "1700000000000", "version": "v1",
                "signature": PaytmChecksum.generateSignature(text, self.key)}
        return Answer(200, f'{{"head": {json.dumps(head)}, "body": {text}}}'.encode(),
                      headers={"Content-Type": "application/json"})

    # -- playing the shopper and Paytm's notifications -----------------------------------------
    def pay(self, order_id: str, status: str = "TXN_SUCCESS", *, amount: str | None = None,
            refund: str | None = None, **extra: str) -> dict[str, str]:
        """Settle the order and return the signed callback form Paytm posts to callbackUrl."""
        order = self.orders.setdefault(order_id, {"amount": amount or "1.00", "token": "", "refund": "0.00"})
        order["status"], order["txn_id"] = status, order.get("txn_id") or "2026" + secrets.token_hex(8)
        if amount is not None:
            order["amount"] = amount
        if refund is not None:
            order["refund"] = refund
        fields = {
            "MID": self.mid, "ORDERID": order_id, "TXNID": order["txn_id"], "BANKTXNID": "77700" + order_id[-6:],
            "TXNAMOUNT": order["amount"], "CURRENCY": "INR", "STATUS": status,
            "RESPCODE": "01" if status == "TXN_SUCCESS" else "227", "RESPMSG": "Txn Success",
            "PAYMENTMODE": "UPI", "GATEWAYNAME": "HDFC", "BANKNAME": "HDFC Bank", "TXNDATE": "2026-11-22 10:00:00.0",
            **({"REFUNDAMT": refund} if refund is not None else {}), **extra,
        }
        return self.sign_form(fields)

    def sign_form(self, fields: dict[str, str]) -> dict[str, str]:
        return {**fields, "CHECKSUMHASH": PaytmChecksum.generateSignature(dict(fields), self.key)}

    @staticmethod
    def encode(fields: dict[str, str]) -> bytes:
        return urlencode(fields).encode()

    def webhook_json(self, order_id: str, status: str = "TXN_SUCCESS", *, amount: str = "1.00",
                     indent: int | None = None, **extra: Any) -> bytes:
        """The JSON webhook (GATEWAYS.md §2b): {head:{signature}, body:{camelCase}}."""
        body = {"mid": self.mid, "orderId": order_id, "txnId": "2026" + secrets.token_hex(8), "txnAmount": amount,
                "currency": "INR", "status": status, "respCode": "01", "respMsg": "Txn Success",
                "paymentMode": "UPI", "bankTxnId": "777001", "txnDate": "2026-11-22 10:00:00.0", **extra}
        text = json.dumps(body, indent=indent)
        head = {"responseTimestamp": "1700000000000", "version": "v1",
                "signature": PaytmChecksum.generateSignature(text, self.key)}
        return f'{{"head": {json.dumps(head)}, "body": {text}}}'.encode()


def _failure(code: str, message: str, status: str = "F") -> dict[str, Any]:
    return {"resultInfo": {"resultStatus": status, "resultCode": code, "resultMsg": message}}
