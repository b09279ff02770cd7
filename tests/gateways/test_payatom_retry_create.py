"""A PayAtom create whose request reached PayAtom but whose answer was lost (a timeout) must not
make the order unusable: PayAtom refuses a second payment request for the same order_id, so the
retry of the same create (CONTRACT.md §3: "a retry of the same request must work") opens the
payment under a fresh order id, and that payment is paid, polled and notified like any other."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.conftest import Api
from tests.fakes import Answer
from tests.fakes.payatom_api import FakePayAtom
from tests.gateways.helpers import FLOW_SETTINGS, pushed, serving

PID, SECRET = "5345f345345", "test_secret_key_123"
CUSTOMER = {"name": "Anushk", "email": "anushk@example.com", "phone": "9000000000"}
YES = {"hash_status": "HashMatched", "acknowledge": "yes"}


@pytest.fixture
def fake():
    yield from serving(FakePayAtom(pid=PID, secret=SECRET))


@pytest.fixture
def hub(make_app, fake, database):
    return make_app(PAYHUB_PAYATOM_PID=PID, PAYHUB_PAYATOM_SECRET_KEY=SECRET, PAYHUB_PAYATOM_BASE_URL=fake.url,
                    **FLOW_SETTINGS, **database)  # gateway timeout 0.5 s


def lost_answer(fake: FakePayAtom, api: Api, body: dict) -> None:
    """The first create times out at the hub (502) while PayAtom still registers the order."""
    fake.script(Answer.delayed(1.5), path=r"/pay/request\.php")
    assert api.post("/api/payments", json=body).status_code == 502
    deadline = time.monotonic() + 10
    while body["order_id"] not in fake.orders and time.monotonic() < deadline:
        time.sleep(0.05)
    assert body["order_id"] in fake.orders, "the lost request never reached PayAtom"


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
                         indirect=True)
def test_the_retry_of_a_create_whose_answer_was_lost_opens_the_payment(hub, fake, subscribe):
    api = Api(hub.test_client())
    body = {"order_id": f"ORD{uuid.uuid4().hex[:12]}", "amount": 10000, "currency": "INR", "gateway": "payatom",
            "customer": CUSTOMER}
    lost_answer(fake, api, body)

    retried = api.post("/api/payments", json=body)
    assert retried.status_code == 201, retried.get_json()
    created = retried.get_json()
    sent = created["gateway_order_id"]
    assert sent != body["order_id"] and sent in fake.orders  # a second payment request, under its own id
    assert created["checkout"]["redirect_url"].endswith(f"code={fake.orders[sent]['code']}")
    again = api.post("/api/payments", json=body)  # and the same request once more: the same payment
    assert again.status_code == 200 and again.get_json()["checkout"] == created["checkout"]

    sio = subscribe(hub, created)
    response = api.client.post("/webhooks/payatom", data=fake.webhook_body(sent, "Approved", "100"),
                               content_type="application/json")
    assert response.get_json() == YES
    assert [(v["status"], v["amount_received"]) for v in pushed(sio)] == [("succeeded", 10000)]
    fake.settle(sent, "Refund Completed")  # its status poll finds it too
    assert api.post(f"/api/payments/{created['id']}/refresh").get_json()["status"] == "refunded"


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_first_create_sends_the_merchants_order_id(hub, fake):
    api = Api(hub.test_client())
    body = {"order_id": f"ORD{uuid.uuid4().hex[:12]}", "amount": 10000, "currency": "INR", "gateway": "payatom",
            "customer": CUSTOMER}
    created = api.post("/api/payments", json=body).get_json()
    assert created["gateway_order_id"] == body["order_id"] and list(fake.orders) == [body["order_id"]]
