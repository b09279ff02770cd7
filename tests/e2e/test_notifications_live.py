"""Merchant notifications (CONTRACT.md §8) from `python app.py` (eventlet): a merchant endpoint
that hangs on some payments' notifications holds up only those, never the others'; each
message is still delivered once, in order per payment, never twice at once."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import defaultdict
from typing import Any

import pytest
from standardwebhooks import Webhook

from tests.e2e.test_live import callback
from tests.fakes import Answer, Call, FakeServer

pytestmark = pytest.mark.e2e

SECRET = "whsec_" + base64.b64encode(b"a merchant's standard webhooks key").decode()
HANG = 40.0  # longer than the test waits for the other payments' notifications


class HangingMerchant(FakeServer):
    """The merchant's endpoint: verifies each delivery, answers at once, except for the payments
    in `stuck`, whose requests it holds until released (or until HANG seconds pass)."""

    def __init__(self) -> None:
        super().__init__()
        self.stuck: set[str] = set()
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.received: list[dict[str, Any]] = []  # every request, as it started
        self.spans: dict[str, list[tuple[float, float]]] = defaultdict(list)  # webhook-id -> (start, end)
        self.route("POST", "/hooks", self._hook)

    def _hook(self, call: Call, _match: Any) -> Answer:
        started = time.monotonic()
        headers = {name: call.header(name) for name in ("webhook-id", "webhook-timestamp", "webhook-signature")}
        Webhook(SECRET).verify(call.body, headers)
        body = json.loads(call.body)
        with self.lock:
            self.received.append({"webhook_id": headers["webhook-id"], "payment": body["payment"]["id"],
                                  "version": body["payment"]["version"], "type": body["type"]})
        if body["payment"]["id"] in self.stuck:
            self.release.wait(HANG)
        with self.lock:
            self.spans[headers["webhook-id"]].append((started, time.monotonic()))
        return Answer(204)

    def finished(self, payment_id: str) -> list[dict[str, Any]]:
        """The notifications of a payment whose request has been answered."""
        with self.lock:
            return [r for r in self.received if r["payment"] == payment_id and r["webhook_id"] in self.spans]


def eventually(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")


@pytest.fixture
def merchant():
    server = HangingMerchant()
    with server:
        yield server
        server.release.set()
    assert not server.errors


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_merchant_endpoint_hanging_on_some_payments_does_not_hold_up_the_others(live_hub, merchant, database,
                                                                                  request):
    env = {"PAYHUB_DATABASE_URL": request.getfixturevalue("pg_url")} if database == "postgres" else {}
    # The hub waits up to 60 s for the merchant (its HTTP timeout): far longer than the others may wait.
    hub = live_hub(PAYHUB_MERCHANT_WEBHOOK_URL=f"{merchant.url}/hooks", PAYHUB_MERCHANT_WEBHOOK_SECRET=SECRET,
                   PAYHUB_GATEWAY_TIMEOUT="60", **env)
    # Three payments whose notifications hang (more than the process has delivery runners).
    stuck = [hub.create() for _ in range(3)]
    merchant.stuck.update(p["id"] for p in stuck)
    for payment in stuck:
        assert callback(hub, payment, "success").status_code == 200
    time.sleep(3)  # their deliveries begin, one after another or at once

    others = [hub.create() for _ in range(6)]
    for payment in others:
        assert callback(hub, payment, "failure").status_code == 200
        assert callback(hub, payment, "success").status_code == 200
    # Every other payment's two notifications arrive while the stuck one still hangs.
    eventually(lambda: all(len(merchant.finished(p["id"])) == 2 for p in others), 20,
               "the other payments' notifications while some deliveries hang")
    assert not any(merchant.finished(p["id"]) for p in stuck)
    for payment in others:  # in order per payment
        assert [r["type"] for r in merchant.finished(payment["id"])] == ["payment.failed", "payment.succeeded"]

    merchant.release.set()
    eventually(lambda: all(len(merchant.finished(p["id"])) == 1 for p in stuck), 15, "the stuck notifications")
    time.sleep(1)  # nothing more is sent
    with merchant.lock:
        ids = [r["webhook_id"] for r in merchant.received]
        spans = dict(merchant.spans)
    assert len(ids) == len(set(ids)) == 15, "each message is sent once"
    assert all(len(s) == 1 for s in spans.values())
