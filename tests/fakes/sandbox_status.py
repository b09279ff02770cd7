"""A fake of the sandbox gateway's status API (GET /status/<transaction_id> -> {status, ...}), the
one the sweep polls, with a latency of its choosing and a record of polls that overlapped.

`statuses[txn]` is what the gateway says about a transaction (default `processing`); `latency`
delays every answer; `in_flight_peak` is the most polls it was answering at once, and `overlaps`
lists the transactions that were polled again while a poll of them was still being answered.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from typing import Any

from . import Answer, Call, FakeServer


class FakeSandboxStatus(FakeServer):
    def __init__(self, latency: float = 0.0, amount: int = 1000) -> None:
        super().__init__()
        self.latency, self.amount = latency, amount
        self.statuses: dict[str, str] = {}
        self.overlaps: list[str] = []
        self.in_flight_peak = 0
        self._in_flight: Counter[str] = Counter()
        self._count_lock = threading.Lock()
        self.route("GET", r"/status/(?P<txn>[\w-]+)", self._status)

    def _status(self, call: Call, match: re.Match[str]) -> Answer:
        txn = match["txn"]
        with self._count_lock:
            if self._in_flight[txn]:
                self.overlaps.append(txn)
            self._in_flight[txn] += 1
            self.in_flight_peak = max(self.in_flight_peak, sum(self._in_flight.values()))
        try:
            self._stopping.wait(self.latency)
            return Answer(body={"transaction_id": txn, "status": self.statuses.get(txn, "processing"),
                                "amount": self.amount})
        finally:
            with self._count_lock:
                self._in_flight[txn] -= 1

    def polls(self, payment: dict[str, Any]) -> int:
        """How many status polls this payment's transaction received."""
        return len(self.calls_to("GET", rf"/status/{re.escape(payment['gateway_order_id'])}"))

    def pay(self, payment: dict[str, Any], status: str = "success") -> None:
        """The shopper paid (or failed) at the gateway; its webhook is lost, only a poll tells."""
        self.statuses[payment["gateway_order_id"]] = status
