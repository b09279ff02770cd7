"""Concurrent create against `python app.py` (eventlet): the same request twice at once opens the
payment at the gateway once; a process that dies while opening a payment holds its claim only
until the lease runs out, and the retry then opens the same payment."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.fakes import Answer
from tests.fakes.razorpay_api import KEY_ID, KEY_SECRET, WEBHOOK_SECRET, FakeRazorpay
from tests.gateways.helpers import serving

pytestmark = pytest.mark.e2e


@pytest.fixture
def razorpay():
    yield from serving(FakeRazorpay())


def razorpay_env(fake: FakeRazorpay, timeout: str = "5") -> dict[str, str]:
    return {"PAYHUB_RAZORPAY_KEY_ID": KEY_ID, "PAYHUB_RAZORPAY_KEY_SECRET": KEY_SECRET,
            "PAYHUB_RAZORPAY_WEBHOOK_SECRET": WEBHOOK_SECRET, "PAYHUB_RAZORPAY_BASE_URL": fake.url,
            "PAYHUB_GATEWAY_TIMEOUT": timeout, "PAYHUB_SCHEDULER": "0"}


def order() -> dict:
    return {"order_id": f"ord_{uuid.uuid4().hex[:12]}", "amount": 50000, "currency": "INR", "gateway": "razorpay"}


def post(hub, body: dict, timeout: float = 30) -> requests.Response:
    return requests.post(f"{hub.url}/api/payments", json=body, headers=hub.headers, timeout=timeout)


def test_the_same_create_twice_at_once_opens_one_order(live_hub, razorpay):
    hub = live_hub(**razorpay_env(razorpay))
    razorpay.script(Answer.delayed(1.0), path="/v1/orders")
    body = order()
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(post, hub, body)
        time.sleep(0.3)
        second = pool.submit(post, hub, body)
        answers = [first.result(), second.result()]
    assert sorted(a.status_code for a in answers) == [200, 201]
    one, two = (a.json() for a in answers)
    assert (one["id"], one["checkout"]) == (two["id"], two["checkout"])
    assert len(razorpay.calls_to("POST", "/v1/orders")) == 1


def test_a_claim_left_by_a_killed_process_is_taken_over_after_its_lease(live_hub, razorpay, tmp_path):
    # Gateway timeout 2 s: a claim lasts 6 s. The fake holds the first create for 30 s, and the
    # hub is killed while it waits.
    env = razorpay_env(razorpay, timeout="2")
    hub = live_hub(tmp_path / "hub", **env)
    razorpay.script(Answer.delayed(30), path="/v1/orders")
    body = order()
    dying = threading.Thread(target=_ignore_errors, args=(hub, body), daemon=True)
    dying.start()
    deadline = time.monotonic() + 10
    while not razorpay.calls_to("POST", "/v1/orders") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert razorpay.calls_to("POST", "/v1/orders"), "the first create never reached the gateway"
    hub.kill()
    hub.start()
    retried = post(hub, body)
    assert retried.status_code == 201, retried.text
    calls = razorpay.calls_to("POST", "/v1/orders")
    assert len(calls) == 2
    # The retry opened the payment the dead process had claimed, not a new one.
    assert {c.json()["notes"]["payhub_payment_id"] for c in calls} == {retried.json()["id"]}
    again = post(hub, body)
    assert again.status_code == 200 and again.json()["checkout"] == retried.json()["checkout"]


def _ignore_errors(hub, body: dict) -> None:
    with contextlib.suppress(requests.RequestException):
        post(hub, body, timeout=5)
