"""Merchant notifications (CONTRACT.md §8) from `python app.py` (eventlet): a merchant endpoint
that hangs on some payments' notifications holds up only those, never the others'; each
message is still delivered once, in order per payment, never twice at once; a kill -9 in the
middle loses none, a redelivery carries the same webhook-id, and each payment's stay in order."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from standardwebhooks import Webhook

from payhub import outbox
from tests.e2e.test_live import callback
from tests.fakes import Answer, Call, FakeServer
from tests.livehub import eventually

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


class RecordingMerchant(FakeServer):
    """The merchant's endpoint: verifies and records every delivery (webhook-id, payment, version)."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.received: list[tuple[str, str, int, str]] = []
        self.route("POST", "/hooks", self._hook)

    def _hook(self, call: Call, _match: Any) -> Answer:
        headers = {name: call.header(name) for name in ("webhook-id", "webhook-timestamp", "webhook-signature")}
        Webhook(SECRET).verify(call.body, headers)
        body = json.loads(call.body)
        assert body["id"] == headers["webhook-id"]
        with self.lock:
            self.received.append((headers["webhook-id"], body["payment"]["id"], body["payment"]["version"],
                                  body["type"]))
        return Answer(204)


def deliver_until_acknowledged(hub: Any, payment: dict, status: str) -> None:
    """Like a gateway: the same callback again until it is answered 2xx (the hub may be down)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if callback(hub, payment, status, event_id=f"evt_{status}_{payment['id']}").status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{status} for {payment['id']} was never acknowledged")


# Its two runs (SQLite, PostgreSQL) on one pytest-xdist worker, one after the other: each is a
# load of 80 payments with a kill -9 in the middle.
@pytest.mark.xdist_group("kill-9-notifications")
@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_kill_9_mid_stream_loses_no_notification_and_keeps_their_order(live_hub, database, request, tmp_path):
    env = {"PAYHUB_DATABASE_URL": request.getfixturevalue("pg_url")} if database == "postgres" else {}
    merchant = RecordingMerchant()
    with merchant:
        hub = live_hub(tmp_path / "hub", PAYHUB_MERCHANT_WEBHOOK_URL=f"{merchant.url}/hooks",
                       PAYHUB_MERCHANT_WEBHOOK_SECRET=SECRET, **env)
        payments = [hub.create() for _ in range(80)]

        def both(payment: dict) -> None:  # two changes per payment: failed, then late money
            deliver_until_acknowledged(hub, payment, "failure")
            deliver_until_acknowledged(hub, payment, "success")

        with ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(both, p) for p in payments]
            while sum(f.done() for f in futures) < 20:
                time.sleep(0.005)
            hub.kill()  # mid-stream: callbacks and deliveries in flight
            hub.start()
            for future in futures:
                future.result()
        for payment in payments:  # each acknowledged callback applied exactly once
            view = hub.payment(payment["id"])
            assert (view["status"], view["version"]) == ("succeeded", 3)
            assert [e["kind"] for e in view["events"] if e["applied"]] == ["failure", "success"]
        # The lease of a delivery cut by the kill runs out before it is sent again.
        eventually(lambda: len({r[0] for r in merchant.received}) == 2 * len(payments), 120, "every notification")
    by_payment: dict[str, list[tuple[int, str]]] = defaultdict(list)
    first_seen: dict[str, tuple] = {}
    for webhook_id, payment_id, version, kind in merchant.received:
        assert first_seen.setdefault(webhook_id, (payment_id, version, kind)) == (payment_id, version, kind)
        if (version, kind) not in by_payment[payment_id]:
            by_payment[payment_id].append((version, kind))
    for payment in payments:  # in order per payment, each once
        assert by_payment[payment["id"]] == [(2, "payment.failed"), (3, "payment.succeeded")]
    # Sent twice: at most the deliveries the kill cut short (each delivery run's, kick and tick).
    assert len(merchant.received) - 2 * len(payments) <= 2 * outbox.CONCURRENCY
