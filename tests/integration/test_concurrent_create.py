"""The same create request twice at the same moment (a merchant's retry while the first is still
waiting on the gateway) opens the payment at its gateway once (CONTRACT.md §3): one answer is
201, the other 200 with the same payment and the same checkout.

The fake gateways hold their create call for a while, so the second request really arrives
while the first is inside the gateway call. `concurrent_creates` is shared with the PostgreSQL
variant in tests/scale/.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from flask import Flask

from tests.conftest import Api
from tests.fakes import Answer
from tests.fakes.razorpay_api import KEY_ID, KEY_SECRET, WEBHOOK_SECRET, FakeRazorpay
from tests.fakes.stripe_api import SECRET_KEY as STRIPE_KEY
from tests.fakes.stripe_api import WEBHOOK_SECRET as STRIPE_WEBHOOK
from tests.fakes.stripe_api import FakeStripe
from tests.gateways.helpers import serving

# Gateway calls may take up to 5 s here: the fakes hold the create for 1 s.
SLOW_CREATE = 1.0
SETTINGS = {"PAYHUB_GATEWAY_TIMEOUT": "5"}


def razorpay_settings(fake: FakeRazorpay) -> dict[str, str]:
    return {"PAYHUB_RAZORPAY_KEY_ID": KEY_ID, "PAYHUB_RAZORPAY_KEY_SECRET": KEY_SECRET,
            "PAYHUB_RAZORPAY_WEBHOOK_SECRET": WEBHOOK_SECRET, "PAYHUB_RAZORPAY_BASE_URL": fake.url, **SETTINGS}


def stripe_settings(fake: FakeStripe) -> dict[str, str]:
    return {"PAYHUB_STRIPE_SECRET_KEY": STRIPE_KEY, "PAYHUB_STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK,
            "PAYHUB_STRIPE_BASE_URL": fake.url, **SETTINGS}


def concurrent_creates(hub: Flask, body: dict[str, Any], count: int = 2, stagger: float = 0.2) -> list[Any]:
    """POST the same body `count` times from as many threads, each `stagger` s after the last
    (well inside the gateway's slow create); the responses in sending order."""
    responses: list[Any] = [None] * count
    errors: list[BaseException] = []

    def send(index: int) -> None:
        try:
            responses[index] = Api(hub.test_client()).post("/api/payments", json=body)
        except BaseException as exc:  # re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
        thread.join(stagger)
    for thread in threads:
        thread.join(30)
    assert errors == [] and all(r is not None for r in responses)
    return responses


def assert_opened_once(responses: list[Any], gateway_creates: int) -> dict[str, Any]:
    """One 201, the rest 200, all the same payment and checkout; one create at the gateway."""
    assert sorted(r.status_code for r in responses) == [200] * (len(responses) - 1) + [201], \
        [r.get_json() for r in responses]
    bodies = [r.get_json() for r in responses]
    assert {b["id"] for b in bodies} == {bodies[0]["id"]}
    assert {b["gateway_order_id"] for b in bodies} == {bodies[0]["gateway_order_id"]}
    assert all(b["checkout"] == bodies[0]["checkout"] for b in bodies)
    assert gateway_creates == 1
    return bodies[0]


def razorpay_body() -> dict[str, Any]:
    return {"order_id": f"ord_{uuid.uuid4().hex[:12]}", "amount": 50000, "currency": "INR", "gateway": "razorpay"}


@pytest.fixture
def razorpay():
    yield from serving(FakeRazorpay())


@pytest.fixture
def stripe():
    yield from serving(FakeStripe())


def test_two_razorpay_creates_at_once_open_one_order(make_app, razorpay):
    hub = make_app(**razorpay_settings(razorpay))
    razorpay.script(Answer.delayed(SLOW_CREATE), path="/v1/orders")
    body = razorpay_body()
    created = assert_opened_once(concurrent_creates(hub, body), len(razorpay.calls_to("POST", "/v1/orders")))
    assert list(razorpay.orders) == [created["gateway_order_id"]]
    # The one payment is listed once and a success on its order is applied (not a 404).
    api = Api(hub.test_client())
    listed = api.get(f"/api/payments?order_id={body['order_id']}").get_json()["data"]
    assert [p["id"] for p in listed] == [created["id"]]
    webhook, headers = razorpay.webhook(razorpay.event("payment.captured", razorpay.pay(created["gateway_order_id"])))
    assert api.client.post("/webhooks/razorpay", data=webhook, headers=headers).get_json()["result"] == "applied"


def test_three_stripe_creates_at_once_make_one_payment_intent(make_app, stripe):
    hub = make_app(**stripe_settings(stripe))
    stripe.script(Answer.delayed(SLOW_CREATE), path="/v1/payment_intents")
    body = {"order_id": f"ord_{uuid.uuid4().hex[:12]}", "amount": 2500, "currency": "USD", "gateway": "stripe"}
    responses = concurrent_creates(hub, body, count=3)
    assert_opened_once(responses, len(stripe.calls_to("POST", "/v1/payment_intents")))
    assert len(stripe.intents) == 1


def test_sandbox_creates_at_once_make_one_payment_and_one_ledger_entry(make_app):
    hub = make_app()
    body = {"order_id": f"ord_{uuid.uuid4().hex[:12]}", "amount": 1000, "currency": "INR", "gateway": "sandbox"}
    responses = concurrent_creates(hub, body, count=4, stagger=0)
    with hub.app_context():
        from payhub.extensions import db
        from payhub.models import SandboxTransaction

        ledger = db.session.query(SandboxTransaction).count()
    assert_opened_once(responses, ledger)


def test_a_request_waiting_on_a_failed_first_opens_the_same_payment_itself(make_app, razorpay):
    """The first request's gateway call fails (502 to it); the request that was waiting for it
    then opens the same payment (same id) and answers 201; a retry after that answers 200."""
    hub = make_app(**razorpay_settings(razorpay))
    razorpay.script(Answer(500, {"error": {"code": "SERVER_ERROR", "description": "down"}}, delay=SLOW_CREATE),
                    path="/v1/orders")
    body = razorpay_body()
    first, second = concurrent_creates(hub, body)
    assert (first.status_code, second.status_code) == (502, 201)
    calls = razorpay.calls_to("POST", "/v1/orders")
    assert len(calls) == 2
    # Both calls were for the same PayHub payment.
    assert {c.json()["notes"]["payhub_payment_id"] for c in calls} == {second.get_json()["id"]}
    again = Api(hub.test_client()).post("/api/payments", json=body)
    assert again.status_code == 200 and again.get_json()["checkout"] == second.get_json()["checkout"]
    assert len(razorpay.calls_to("POST", "/v1/orders")) == 2


def test_a_different_body_for_an_order_being_opened_is_a_conflict_at_once(make_app, razorpay):
    hub = make_app(**{**razorpay_settings(razorpay), "PAYHUB_GATEWAY_TIMEOUT": "15"})  # the create takes 5 s
    razorpay.script(Answer.delayed(5), path="/v1/orders")
    body = razorpay_body()
    results: list[Any] = []
    first = threading.Thread(target=lambda: results.append(Api(hub.test_client()).post("/api/payments", json=body)))
    first.start()
    first.join(0.5)
    other = Api(hub.test_client()).post("/api/payments", json={**body, "amount": 60000})
    assert other.status_code == 409 and first.is_alive()
    first.join(30)
    assert results[0].status_code == 201
