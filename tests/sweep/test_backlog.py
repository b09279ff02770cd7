"""A backlog of stale payments (CONTRACT.md §6): every one is polled in one sweep, concurrently
within bounds, one slow gateway does not hold up the others, and two sweeps running at once
(two processes, or a sweep that outlasts its interval) never poll one payment at the same time."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from tests.conftest import Api
from tests.fakes.razorpay_api import KEY_ID, KEY_SECRET, WEBHOOK_SECRET, FakeRazorpay
from tests.sweep.helpers import backdate_all, run_sweep


def test_230_stale_payments_are_all_polled_in_one_sweep(swept_hub, gateway):
    hub = swept_hub()
    api = Api(hub.test_client())
    created = [api.create() for _ in range(230)]
    backdate_all(hub, 61)
    gateway.pay(created[-1])  # the newest of them paid, and its webhook was lost
    run_sweep(hub)
    assert [gateway.polls(p) for p in created] == [1] * 230
    assert api.payment(created[-1]["id"])["status"] == "succeeded"


def test_a_backlog_is_polled_concurrently_within_the_per_gateway_limit(swept_hub, gateway):
    hub = swept_hub(PAYHUB_SWEEP_CONCURRENCY="16", PAYHUB_SWEEP_GATEWAY_CONCURRENCY="6", PAYHUB_GATEWAY_TIMEOUT="5")
    api = Api(hub.test_client())
    created = [api.create() for _ in range(48)]
    backdate_all(hub, 61)
    gateway.latency = 0.3
    report = run_sweep(hub)
    assert sorted(report.polled) == sorted(p["id"] for p in created)
    assert [gateway.polls(p) for p in created] == [1] * 48
    assert 3 <= gateway.in_flight_peak <= 6  # concurrent, never more than the gateway's share
    assert gateway.overlaps == []


@pytest.fixture
def razorpay():
    fake = FakeRazorpay()
    with fake:
        yield fake


def arrivals(fake) -> list[float]:
    """Make the fake note when each request arrives (time.monotonic); the list it fills."""
    times: list[float] = []
    answer = fake.answer

    def timed(call):
        times.append(time.monotonic())
        return answer(call)

    fake.answer = timed
    return times


def test_a_slow_gateway_does_not_hold_up_the_others(swept_hub, gateway, razorpay):
    hub = swept_hub(PAYHUB_SWEEP_CONCURRENCY="4", PAYHUB_SWEEP_GATEWAY_CONCURRENCY="2", PAYHUB_GATEWAY_TIMEOUT="5",
                    PAYHUB_RAZORPAY_KEY_ID=KEY_ID, PAYHUB_RAZORPAY_KEY_SECRET=KEY_SECRET,
                    PAYHUB_RAZORPAY_WEBHOOK_SECRET=WEBHOOK_SECRET, PAYHUB_RAZORPAY_BASE_URL=razorpay.url)
    api = Api(hub.test_client())
    sandbox = [api.create() for _ in range(6)]
    later = [api.create(gateway="razorpay", amount=50000, order_id=f"rzp_{uuid.uuid4().hex[:8]}") for _ in range(3)]
    for created in later:
        razorpay.pay(created["gateway_order_id"])
    backdate_all(hub, 61)
    gateway.latency = 1.0  # the sandbox answers, but slowly: 2 at a time, its 6 polls take 3 s
    sandbox_polled, razorpay_polled = arrivals(gateway), arrivals(razorpay)
    run_sweep(hub)
    assert [gateway.polls(p) for p in sandbox] == [1] * 6
    assert [api.payment(p["id"])["status"] for p in later] == ["succeeded"] * 3
    # Razorpay's polls went out beside the sandbox's first two, not after the sandbox's queue.
    assert len(razorpay_polled) == 3 and max(razorpay_polled) < sorted(sandbox_polled)[2]


@pytest.mark.parametrize("second_starts_after", [0, 1.2], ids=["together", "one-interval-later"])
def test_two_sweeps_at_once_never_poll_one_payment_at_the_same_time(swept_hub, gateway, second_starts_after):
    # Two hubs on one database, each with its own engine and pool: two processes. The sweep
    # interval is 1 s and a poll takes 1.5 s, so the first sweep runs past its interval while the
    # second begins (the old sweep's lease, 0.9 x interval from the sweep's start, had ended).
    settings = {"PAYHUB_SWEEP_INTERVAL": "1", "PAYHUB_SWEEP_GATEWAY_CONCURRENCY": "4", "PAYHUB_GATEWAY_TIMEOUT": "5"}
    first, second = swept_hub(**settings), swept_hub(**settings)
    api = Api(first.test_client())
    created = [api.create() for _ in range(12)]
    backdate_all(first, 61)
    gateway.latency = 1.5
    reports, errors = [], []

    def sweep_as_a_process(hub, wait):
        try:
            time.sleep(wait)
            reports.append(run_sweep(hub))
        except BaseException as exc:  # re-raised below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=sweep_as_a_process, args=(hub, wait))
               for hub, wait in ((first, 0), (second, second_starts_after))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert gateway.overlaps == []
    # Each payment polled once, by one of the two.
    assert [gateway.polls(p) for p in created] == [1] * 12
    assert sorted(pid for r in reports for pid in r.polled) == sorted(p["id"] for p in created)
