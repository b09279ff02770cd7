"""The one door and the sweep on PostgreSQL: row locks under real concurrency."""

from __future__ import annotations

import threading

import pytest

from payhub.door import apply_update
from payhub.gateways.base import StatusUpdate
from tests.conftest import Api

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_app(make_app, pg_url):
    return make_app(PAYHUB_DATABASE_URL=pg_url)


def test_api_flow_on_postgres(pg_app):
    api = Api(pg_app.test_client())
    created = api.create(amount=12345, currency="EUR")
    again = api.post("/api/payments", json={"order_id": created["order_id"], "amount": 12345, "currency": "EUR",
                                            "gateway": "sandbox"})
    assert again.status_code == 200 and again.get_json()["id"] == created["id"]
    from tests.conftest import sandbox_body, sign_sandbox

    body = sandbox_body(created["gateway_order_id"], "success", 12345, "evt_pg")
    client = pg_app.test_client()
    for expected in ("applied", "duplicate"):
        response = client.post("/webhooks/sandbox", data=body, content_type="application/json",
                               headers={"X-Payhub-Signature": sign_sandbox(body)})
        assert response.get_json()["result"] == expected
    payment = api.payment(created["id"])
    assert (payment["status"], payment["version"], len(payment["events"])) == ("succeeded", 2, 2)
    assert payment["created_at"].endswith("Z")
    assert api.get("/api/payments?status=succeeded").get_json()["data"][0]["id"] == created["id"]


def test_concurrent_updates_to_one_payment_apply_exactly_once(pg_app):
    api = Api(pg_app.test_client())
    created = api.create()
    statuses = ["succeeded", "failed"] * 6
    barrier = threading.Barrier(len(statuses))
    errors: list[BaseException] = []

    def send(i: int, status: str) -> None:
        try:
            with pg_app.app_context():
                barrier.wait()
                apply_update(StatusUpdate(gateway="sandbox", status=status, gateway_status=status,
                                          payment_id=created["id"], gateway_event_id=f"evt_{i}",
                                          amount_received=1000 if status == "succeeded" else None,
                                          payload={"i": i, "status": status}))
        except BaseException as exc:  # collected and re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(i, s)) for i, s in enumerate(statuses)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    payment = api.payment(created["id"])
    applied = [e for e in payment["events"] if e["applied"]]
    assert len(payment["events"]) == len(statuses)
    # One move from pending, plus at most a late success after a failure; never more.
    assert payment["version"] == 1 + len(applied)
    assert applied[0]["status_before"] == "pending"
    assert payment["status"] in ("succeeded", "failed")
    if applied[0]["status"] == "failed":
        assert payment["status"] == "succeeded" and len(applied) == 2
    else:
        assert len(applied) == 1


def test_concurrent_sweeps_poll_each_payment_once(make_app, pg_url):
    from tests.integration.test_sweep_and_refresh import FakeSandbox, age, run_sweep

    fake = FakeSandbox()
    fake.server.start()
    try:
        app = make_app(PAYHUB_DATABASE_URL=pg_url, PAYHUB_SANDBOX_BASE_URL=fake.server.url,
                       PAYHUB_POLL_AFTER="60", PAYHUB_SWEEP_INTERVAL="30")
        api = Api(app.test_client())
        stale = [api.create() for _ in range(12)]
        for payment in stale:
            age(app, payment, 61)
        reports: list = []
        barrier = threading.Barrier(3)

        def sweep_as_a_process() -> None:
            barrier.wait()
            reports.append(run_sweep(app))

        threads = [threading.Thread(target=sweep_as_a_process) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        polled = [pid for report in reports for pid in report.polled]
        assert sorted(polled) == sorted(p["id"] for p in stale)  # every one, by exactly one sweeper
        assert all(fake.polls(p) == 1 for p in stale)
    finally:
        fake.server.stop()
