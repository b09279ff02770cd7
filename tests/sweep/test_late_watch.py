"""The late watch (PAYHUB_LATE_WATCH, CONTRACT.md §6): a payment that closed as failed, expired or
cancelled is polled once more at each of the configured ages past closing, so money that arrives
late is found even when its webhook is lost. The tests use ages of 100 s and 200 s."""

from __future__ import annotations

import pytest

from tests.conftest import Api, sandbox_body, sign_sandbox
from tests.fakes import Answer
from tests.sweep.helpers import run_sweep
from tests.timetravel import backdate


def close(how, hub, api, created):
    """Close the payment as failed (gateway webhook), cancelled (merchant) or expired (sweep)."""
    if how == "failed":
        body = sandbox_body(created["gateway_order_id"], "failure")
        response = hub.test_client().post("/webhooks/sandbox", data=body, content_type="application/json",
                                          headers={"X-Payhub-Signature": sign_sandbox(body)})
        assert response.status_code == 200
    elif how == "cancelled":
        assert api.post(f"/api/payments/{created['id']}/cancel").status_code == 200
    else:
        backdate(hub, created["id"], 121)
        run_sweep(hub)
    assert api.payment(created["id"])["status"] == how


@pytest.mark.parametrize("how", ["failed", "cancelled", "expired"])
def test_the_late_watch_finds_late_money_after_a_lost_webhook(swept_hub, gateway, how):
    hub = swept_hub()
    api = Api(hub.test_client())
    created = api.create()
    close(how, hub, api, created)
    polls = gateway.polls(created)
    gateway.pay(created)  # the money arrives late (PayAtom's "Late Approved"); its webhook is lost
    run_sweep(hub)
    assert gateway.polls(created) == polls  # not before the first age
    backdate(hub, created["id"], 101)
    run_sweep(hub)
    assert gateway.polls(created) == polls + 1
    payment = api.payment(created["id"])
    assert (payment["status"], payment["amount_received"]) == ("succeeded", 1000)
    late = payment["events"][-1]
    assert (late["source"], late["applied"], late["status_before"]) == ("poll", True, how)
    backdate(hub, created["id"], 1000)
    run_sweep(hub)
    assert gateway.polls(created) == polls + 1  # succeeded: nothing left to watch


def test_the_late_watch_polls_at_each_age_then_stops(swept_hub, gateway):
    hub = swept_hub()
    api = Api(hub.test_client())
    created = api.create()
    close("cancelled", hub, api, created)
    seen = []
    for seconds in (50, 51, 50, 50, 1000, 100_000):  # ages 50, 101, 151, 201, 1201, 101201
        backdate(hub, created["id"], seconds)
        run_sweep(hub)
        seen.append(gateway.polls(created))
    assert seen == [0, 1, 1, 2, 2, 2]
    payment = api.payment(created["id"])
    assert payment["status"] == "cancelled" and payment["version"] == 2
    assert [e["source"] for e in payment["events"]] == ["api", "poll", "poll"]


def test_a_sweep_that_comes_late_polls_once_not_once_per_missed_age(swept_hub, gateway):
    hub = swept_hub()
    api = Api(hub.test_client())
    created = api.create()
    close("cancelled", hub, api, created)
    backdate(hub, created["id"], 150)  # the hub was down past the first age
    run_sweep(hub)
    run_sweep(hub)
    assert gateway.polls(created) == 1
    backdate(hub, created["id"], 51)  # the second age
    run_sweep(hub)
    assert gateway.polls(created) == 2


def test_a_payment_expired_as_gateway_unreachable_is_still_watched(swept_hub, gateway):
    hub = swept_hub()
    api = Api(hub.test_client())
    created = api.create()
    gateway.script(*[Answer(502, {"error": "bad gateway"})] * 3, path=created["gateway_order_id"])
    for seconds in (121, 60, 60):  # at 121 s, 181 s, 241 s: no answer, then expired unanswered
        backdate(hub, created["id"], seconds)
        run_sweep(hub)
    payment = api.payment(created["id"])
    assert payment["status"] == "expired" and payment["events"][-1]["payload"]["reason"] == "gateway_unreachable"
    gateway.pay(created)  # the gateway is back, and the shopper had paid
    backdate(hub, created["id"], 101)
    run_sweep(hub)
    assert api.payment(created["id"])["status"] == "succeeded"


def test_with_the_late_watch_off_a_closed_payment_is_never_polled(swept_hub, gateway):
    hub = swept_hub(PAYHUB_LATE_WATCH="")
    api = Api(hub.test_client())
    created = api.create()
    close("cancelled", hub, api, created)
    for seconds in (101, 1000, 100_000):
        backdate(hub, created["id"], seconds)
        run_sweep(hub)
    assert gateway.polls(created) == 0
