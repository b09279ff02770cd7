"""/metrics has the series worth graphing, and they move when the app does the thing they measure."""

from __future__ import annotations

import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from payhub import outbox
from payhub.scheduler import sweep


def scrape(client) -> dict[str, float]:
    """Every sample of /metrics: 'name{labels}' -> value."""
    response = client.get("/metrics")
    assert response.status_code == 200
    samples = {}
    for line in response.get_data(as_text=True).splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            samples[key] = float(value)
    return samples


def value(samples: dict[str, float], name: str, **labels: str) -> float:
    """The sample of `name` whose labels include `labels` (0 when there is none)."""
    for key, number in samples.items():
        metric, _, rest = key.partition("{")
        found = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        if metric == name and all(found.get(k) == v for k, v in labels.items()):
            return number
    return 0.0


def total(samples: dict[str, float], name: str, **labels: str) -> float:
    """The sum of every sample of `name` whose labels include `labels` (e.g. over each result)."""
    return sum(number for key, number in samples.items()
               if key.partition("{")[0] == name
               and all(dict(re.findall(r'(\w+)="([^"]*)"', key.partition("{")[2])).get(k) == v
                       for k, v in labels.items()))


def test_callback_door_push_and_http_latencies_are_recorded(api, client, sandbox_callback):
    payment = api.create()
    before = scrape(client)
    assert sandbox_callback(payment, "success").status_code == 200
    after = scrape(client)
    assert value(after, "payhub_callback_seconds_count", gateway="sandbox", route="webhook") == \
        value(before, "payhub_callback_seconds_count", gateway="sandbox", route="webhook") + 1
    assert value(after, "payhub_door_seconds_count", source="webhook") == \
        value(before, "payhub_door_seconds_count", source="webhook") + 1
    assert value(after, "payhub_push_seconds_count") == value(before, "payhub_push_seconds_count") + 1
    assert value(after, "payhub_http_request_seconds_count", endpoint="webhooks.webhook", method="POST",
                 status="200") >= 1
    assert value(after, "payhub_callback_seconds_bucket", gateway="sandbox", route="webhook", le="+Inf") >= 1


def test_an_unknown_gateway_name_makes_no_callback_series(client):
    assert client.post("/webhooks/nonsense", data=b"{}", content_type="application/json").status_code == 404
    assert 'gateway="nonsense"' not in client.get("/metrics").get_data(as_text=True)


def test_poll_and_sweep_durations_and_the_backlog(make_app):
    app = make_app(PAYHUB_POLL_AFTER="0.01", PAYHUB_EXPIRE_AFTER="3600")
    client = app.test_client()
    headers = {"Authorization": "Bearer test-api-key"}
    created = client.post("/api/payments", headers=headers, json={
        "order_id": "m-1", "amount": 1000, "currency": "INR", "gateway": "sandbox"})
    assert created.status_code == 201
    time.sleep(0.1)  # older than PAYHUB_POLL_AFTER
    before = scrape(client)
    assert value(before, "payhub_sweep_backlog") == 1  # pending and older than PAYHUB_POLL_AFTER
    with app.app_context():
        report = sweep()
    assert created.get_json()["id"] in report.polled
    after = scrape(client)
    assert value(after, "payhub_sweep_seconds_count") == value(before, "payhub_sweep_seconds_count") + 1
    # Answered or not (nothing serves the sandbox's status API here), the poll is timed.
    assert total(after, "payhub_poll_seconds_count", gateway="sandbox") >= \
        total(before, "payhub_poll_seconds_count", gateway="sandbox") + 1


class Merchant(BaseHTTPRequestHandler):
    """The merchant's webhook endpoint: answers with the status code it is told."""

    answer = 200

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(Merchant.answer)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_merchant_notifications_are_counted_by_outcome(make_app, sandbox_callback):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Merchant)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        app = make_app(PAYHUB_MERCHANT_WEBHOOK_URL=f"http://127.0.0.1:{server.server_port}/hook",
                       PAYHUB_MERCHANT_WEBHOOK_SECRET="whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY",
                       PAYHUB_METRICS_COUNT_EVERY="0")  # the outbox as it is at each scrape
        client = app.test_client()
        headers = {"Authorization": "Bearer test-api-key"}
        Merchant.answer = 500
        created = client.post("/api/payments", headers=headers, json={
            "order_id": "n-1", "amount": 1000, "currency": "INR", "gateway": "sandbox"}).get_json()
        before = scrape(client)
        assert client.post(f"/api/payments/{created['id']}/cancel", headers=headers).status_code == 200
        # The door kicks a delivery in the background; deliver here too, and wait for the attempt.
        deadline = time.monotonic() + 20
        while True:
            with app.app_context():
                outbox.deliver_due()
            failed = scrape(client)
            if value(failed, "payhub_notifications_total", outcome="failed") > \
                    value(before, "payhub_notifications_total", outcome="failed"):
                break
            assert time.monotonic() < deadline, "the failed delivery was never counted"
            time.sleep(0.1)
        assert value(failed, "payhub_notifications_queued", state="pending") == 1
    finally:
        server.shutdown()
