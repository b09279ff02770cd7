"""PayAtom through the whole hub: merchant API -> fake PayAtom -> webhooks/polls -> the door -> Socket.IO."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import Api
from tests.fakes import Answer
from tests.fakes.payatom_api import FakePayAtom, md5, seal
from tests.gateways.helpers import FLOW_SETTINGS, any_json, fuzzing, pushed, serving, sweep_after, told_again, unchanged

PID, SECRET = "5345f345345", "test_secret_key_123"
CUSTOMER = {"name": "Anushk", "email": "anushk@example.com", "phone": "9000000000"}
YES = {"hash_status": "HashMatched", "acknowledge": "yes"}
MISMATCH = {"hash_status": "HashMismatch", "acknowledge": "no"}


@pytest.fixture
def fake():
    yield from serving(FakePayAtom(pid=PID, secret=SECRET))


@pytest.fixture
def hub(make_app, fake):
    return make_app(PAYHUB_PAYATOM_PID=PID, PAYHUB_PAYATOM_SECRET_KEY=SECRET, PAYHUB_PAYATOM_BASE_URL=fake.url,
                    **FLOW_SETTINGS)


@pytest.fixture
def api(hub):
    return Api(hub.test_client())


@pytest.fixture
def shop(api, hub, subscribe):
    """Create a PayAtom payment of Rs 100 and subscribe a Socket.IO client to it."""
    created = api.create(gateway="payatom", amount=10000, order_id=f"ORD{uuid.uuid4().hex[:12]}", customer=CUSTOMER)
    return created, subscribe(hub, created)


def deliver(api, body: bytes):
    """POST the webhook; PayAtom always gets its JSON answer with HTTP 200."""
    response = api.client.post("/webhooks/payatom", data=body, content_type="application/json")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json;charset=utf-8"
    return response.get_json()


def test_created_payment_redirects_to_payatom_and_keeps_the_ref_code(api, fake, shop):
    created, _ = shop
    order = fake.orders[created["order_id"]]
    assert created["checkout"] == {"redirect_url": f"{fake.url}/pay/connect.php?code={order['code']}"}
    assert order["redirect_url"].startswith(f"http://127.0.0.1:5000/pay/{created['id']}?token=")
    assert order["amount"] == "100"


def test_approved_webhook_is_acknowledged_and_pushed(api, fake, shop):
    created, sio = shop
    assert deliver(api, fake.webhook_body(created["order_id"], "Approved", "100")) == YES
    [view] = pushed(sio)
    assert (view["status"], view["amount_received"], view["version"]) == ("succeeded", 10000, 2)
    event = api.payment(created["id"])["events"][-1]
    assert event["payload"]["post_hash"] == "[redacted]" and event["gateway_status"] == "Approved"


def test_tampered_webhook_is_a_mismatch_and_changes_nothing(api, fake, shop):
    created, sio = shop
    data = json.loads(fake.webhook_body(created["order_id"], "Declined", "100"))
    assert deliver(api, json.dumps({**data, "status": "Approved"}).encode()) == MISMATCH
    assert pushed(sio) == [] and api.payment(created["id"])["version"] == 1


def test_a_resent_notification_is_acknowledged_without_a_change(api, fake, shop):
    created, sio = shop
    body = fake.webhook_body(created["order_id"], "Approved", "100")
    assert deliver(api, body) == YES and deliver(api, body) == YES
    assert told_again(pushed(sio))
    assert [e["reason"] for e in api.payment(created["id"])["events"]] == [None, "duplicate"]


def test_decline_then_late_approval(api, fake, shop):
    created, sio = shop
    assert deliver(api, fake.webhook_body(created["order_id"], "Declined", "0")) == YES
    assert deliver(api, fake.webhook_body(created["order_id"], "Late Approved", "100")) == YES
    assert [v["status"] for v in pushed(sio)] == ["failed", "succeeded"]


@pytest.mark.parametrize(("status", "expected"), [("No Matching Payment for UTR", "failed"),
                                                  ("User Timed Out", "expired")])
def test_unpaid_endings(api, fake, shop, status, expected):
    created, sio = shop
    assert deliver(api, fake.webhook_body(created["order_id"], status, "0")) == YES
    assert pushed(sio)[0]["status"] == expected


def test_a_different_received_amount_needs_review(api, fake, shop):
    created, sio = shop
    assert deliver(api, fake.webhook_body(created["order_id"], "Approved", "99.50")) == YES
    [view] = pushed(sio)
    assert (view["status"], view["amount_received"]) == ("needs_review", 9950)


def test_refund(api, fake, shop):
    created, sio = shop
    for status in ("Approved", "Refund Initiated", "Refund Completed"):
        assert deliver(api, fake.webhook_body(created["order_id"], status, "100")) == YES
    assert [v["status"] for v in pushed(sio)] == ["succeeded", "refund_pending", "refunded"]


def test_an_illegal_move_is_recorded_and_acknowledged(api, fake, shop):
    created, sio = shop
    deliver(api, fake.webhook_body(created["order_id"], "Approved", "100"))
    assert deliver(api, fake.webhook_body(created["order_id"], "Declined", "0")) == YES
    assert [v["status"] for v in pushed(sio)] == ["succeeded"]
    assert api.payment(created["id"])["events"][-1]["reason"] == "illegal_transition"


def test_an_unknown_order_is_not_acknowledged(api, fake):
    assert deliver(api, fake.webhook_body("ORDNOTHERE0001", "Approved", "100")) == MISMATCH


def test_a_storage_failure_is_matched_but_not_acknowledged(api, fake, shop, monkeypatch):
    created, sio = shop

    def broken(update):
        raise RuntimeError("database down")

    monkeypatch.setattr("payhub.web.webhooks.apply_update", broken)
    reply = deliver(api, fake.webhook_body(created["order_id"], "Approved", "100"))
    assert reply == {"hash_status": "HashMatched", "acknowledge": "no"}
    assert pushed(sio) == []


def test_refresh_polls_payatom_and_applies_a_verified_answer(api, fake, shop):
    created, sio = shop
    fake.settle(created["order_id"], "Approved", "100")  # the webhook never arrives
    response = api.post(f"/api/payments/{created['id']}/refresh")
    assert response.status_code == 200 and response.get_json()["status"] == "succeeded"
    assert pushed(sio)[0]["status"] == "succeeded"
    call = fake.calls_to("POST", r"/api/status_polling\.php")[-1].json()
    assert call["ref_code"] == fake.orders[created["order_id"]]["ref_code"]


def test_sweep_polls_a_payment_whose_webhook_never_came(hub, api, fake, shop):
    created, sio = shop
    fake.settle(created["order_id"], "Approved", "100")
    assert sweep_after(hub, created["id"], 61).polled == [created["id"]]
    assert pushed(sio)[0]["status"] == "succeeded"


@pytest.mark.parametrize("answer", [
    Answer(500, "down"), Answer.delayed(2),
    Answer(200, {"order_id": "x", "amount": "100", "status": "Approved", "post_hash": seal("x", "guess")}),
])
def test_refresh_when_payatom_fails_times_out_or_is_unverified(api, fake, shop, answer):
    created, sio = shop
    fake.settle(created["order_id"], "Approved", "100")
    fake.script(answer, path="status_polling")
    assert api.post(f"/api/payments/{created['id']}/refresh").status_code == 502
    assert pushed(sio) == [] and api.payment(created["id"])["version"] == 1


def test_create_needs_inr_a_long_order_id_and_the_customer(api):
    def create(**kw):
        body = {"order_id": "ORD000000001", "amount": 100, "currency": "INR", "gateway": "payatom",
                "customer": CUSTOMER, **kw}
        return api.post("/api/payments", json=body)

    assert create(order_id="short").get_json()["error"]["field"] == "order_id"
    assert create(currency="USD").get_json()["error"]["field"] == "currency"
    assert create(customer={"name": "A"}).get_json()["error"]["field"] == "customer.email"
    assert create().status_code == 201


# -- fuzz: every answer is PayAtom's JSON with acknowledge "no", never a 500, never a change -----
json_values = any_json(text=40, keys=40, width=4, leaves=12)
FUZZ = fuzzing(60)


def assert_refused(api, created, sio, body):
    reply = deliver(api, body)
    assert reply["acknowledge"] == "no" and reply["hash_status"] == "HashMismatch"
    assert unchanged(api, created, sio)


@FUZZ
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(api, shop, body):
    created, sio = shop
    assert_refused(api, created, sio, body)


@FUZZ
@given(st.dictionaries(st.sampled_from(["order_id", "received_amount", "status", "post_hash", "refund_info"]),
                       json_values, max_size=5), st.integers(0, 700))
def test_fuzz_mutated_and_truncated_webhooks(api, fake, shop, mutations, cut):
    created, sio = shop
    data = {**json.loads(fake.webhook_body(created["order_id"], "Declined", "0")), "status": "Approved", **mutations}
    body = json.dumps(data).encode()
    assert_refused(api, created, sio, body[:cut] if cut < 700 else body)


@FUZZ
@given(st.one_of(st.text(max_size=40).filter(lambda s: not re.fullmatch(r"[0-9]+(\.[0-9]+)?", s)),
                 st.integers(10**12, 10**40).map(str),
                 st.sampled_from(["\u0661\u0660\u0660", " 100", "100\n", "+100", "1e2", "-0", "1.005"])))
def test_fuzz_authentic_webhooks_with_impossible_amounts(api, shop, amount):
    created, sio = shop
    body = {"order_id": created["order_id"], "received_amount": amount, "status": "Approved",
            "post_hash": seal(md5(created["order_id"], amount, "Approved", SECRET), SECRET)}
    assert_refused(api, created, sio, json.dumps(body).encode())
