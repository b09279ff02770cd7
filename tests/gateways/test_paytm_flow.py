"""Paytm through the whole hub: merchant API -> fake Paytm -> callbacks/polls -> the door -> Socket.IO."""

from __future__ import annotations

import json
import uuid
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import Api
from tests.fakes import Answer
from tests.fakes.paytm_api import FakePaytm
from tests.gateways.helpers import FLOW_SETTINGS, any_json, fuzzing, pushed, serving, sweep_after, told_again, unchanged

MID, KEY = "PAYHUBMID00001", "abcdefghijklmnop"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def fake():
    yield from serving(FakePaytm(mid=MID, merchant_key=KEY))


@pytest.fixture
def hub(make_app, fake):
    return make_app(PAYHUB_PAYTM_MID=MID, PAYHUB_PAYTM_MERCHANT_KEY=KEY, PAYHUB_PAYTM_BASE_URL=fake.url,
                    **FLOW_SETTINGS)


@pytest.fixture
def api(hub):
    return Api(hub.test_client())


@pytest.fixture
def shop(api, hub, subscribe):
    """Create a Paytm payment of Rs 100.50 and subscribe a Socket.IO client to it."""
    created = api.create(gateway="paytm", amount=10050, order_id=f"ord_{uuid.uuid4().hex[:12]}")
    return created, subscribe(hub, created)


def post_form(api, path, fields):
    return api.client.post(path, data=urlencode(fields), content_type=FORM)


def webhook(api, fields):
    return post_form(api, "/webhooks/paytm", fields)


def test_created_payment_carries_the_paytm_checkout(api, fake, shop):
    created, _ = shop
    checkout = created["checkout"]
    assert checkout["txn_token"] == fake.orders[created["order_id"]]["token"]
    assert checkout["action_url"].startswith(f"{fake.url}/theia/api/v1/showPaymentPage?mid={MID}")
    assert checkout["fields"]["orderId"] == created["order_id"] == created["gateway_order_id"]
    assert fake.orders[created["order_id"]]["callback_url"] == "http://127.0.0.1:5000/return/paytm"


def test_browser_return_then_the_shopper_is_told(api, fake, shop):
    created, sio = shop
    response = post_form(api, "/return/paytm", fake.pay(created["order_id"], amount="100.50"))
    assert response.status_code == 303
    assert response.headers["Location"].startswith(f"/pay/{created['id']}?token=")
    [view] = pushed(sio)
    assert (view["status"], view["amount_received"], view["version"]) == ("succeeded", 10050, 2)
    payment = api.payment(created["id"])
    assert payment["gateway_payment_id"] == fake.orders[created["order_id"]]["txn_id"]
    assert payment["events"][-1]["source"] == "return"
    assert payment["events"][-1]["payload"]["CHECKSUMHASH"] == "[redacted]"


def test_get_return_works_too(api, fake, shop):
    created, sio = shop
    query = urlencode(fake.pay(created["order_id"], amount="100.50"))
    assert api.client.get(f"/return/paytm?{query}").status_code == 303
    assert pushed(sio)[0]["status"] == "succeeded"


def test_s2s_webhook_form_and_json(api, fake, shop):
    created, sio = shop
    assert webhook(api, fake.pay(created["order_id"], "TXN_FAILURE")).status_code == 200
    body = fake.webhook_json(created["order_id"], amount="100.50")
    assert api.client.post("/webhooks/paytm", data=body, content_type="application/json").status_code == 200
    assert [v["status"] for v in pushed(sio)] == ["failed", "succeeded"]  # late success after a failure


@pytest.mark.parametrize("path", ["/webhooks/paytm", "/return/paytm"])
def test_tampered_callbacks_change_nothing(api, fake, shop, path):
    created, sio = shop
    fields = fake.pay(created["order_id"], "TXN_FAILURE", amount="100.50")
    fields["STATUS"] = "TXN_SUCCESS"
    assert post_form(api, path, fields).status_code == 400
    assert pushed(sio) == [] and api.payment(created["id"])["version"] == 1


def test_duplicate_webhook_changes_nothing(api, fake, shop):
    created, sio = shop
    fields = fake.pay(created["order_id"], amount="100.50")
    first, again = webhook(api, fields), webhook(api, fake.sign_form({k: v for k, v in fields.items()
                                                                          if k != "CHECKSUMHASH"}))
    assert first.status_code == again.status_code == 200
    assert again.get_json()["result"] == "duplicate"  # same content, a fresh checksum salt
    assert told_again(pushed(sio)) and api.payment(created["id"])["version"] == 2


def test_failure(api, fake, shop):
    created, sio = shop
    assert webhook(api, fake.pay(created["order_id"], "TXN_FAILURE")).status_code == 200
    assert pushed(sio)[0]["status"] == "failed"


def test_full_refund(api, fake, shop):
    created, sio = shop
    webhook(api, fake.pay(created["order_id"], amount="100.50"))
    webhook(api, fake.pay(created["order_id"], amount="100.50", refund="100.50"))
    assert [v["status"] for v in pushed(sio)] == ["succeeded", "refunded"]


def test_a_different_amount_needs_review(api, fake, shop):
    created, sio = shop
    webhook(api, fake.pay(created["order_id"], amount="1.00"))
    [view] = pushed(sio)
    assert (view["status"], view["amount_received"]) == ("needs_review", 100)
    assert api.payment(created["id"])["events"][-1]["reason"] == "amount_mismatch"


def test_an_unknown_order_is_answered_non_2xx_so_paytm_retries(api, fake):
    assert webhook(api, fake.pay("never_created_here")).status_code == 404


def test_sweep_polls_and_applies_a_success_that_no_callback_reported(hub, api, fake, shop):
    created, sio = shop
    fake.pay(created["order_id"], amount="100.50")  # paid, but the callback never reaches the hub
    report = sweep_after(hub, created["id"], 61)
    assert report.polled == [created["id"]]
    assert pushed(sio)[0]["status"] == "succeeded"
    assert api.payment(created["id"])["events"][-1]["source"] == "poll"


def test_refresh_before_the_shopper_paid_changes_nothing(api, fake, shop):
    created, sio = shop
    response = api.post(f"/api/payments/{created['id']}/refresh")
    assert response.status_code == 200 and response.get_json()["status"] == "pending"
    assert pushed(sio) == []


@pytest.mark.parametrize("answer", [Answer(500, "down"), Answer.delayed(2)])
def test_refresh_when_paytm_fails_or_times_out(api, fake, shop, answer):
    created, sio = shop
    fake.pay(created["order_id"], amount="100.50")
    fake.script(answer, path="/v3/order/status")
    assert api.post(f"/api/payments/{created['id']}/refresh").status_code == 502
    assert pushed(sio) == [] and api.payment(created["id"])["version"] == 1


def test_create_is_validated_and_survives_an_outage(api, fake):
    usd = api.post("/api/payments", json={"order_id": "o_usd_1", "amount": 100, "currency": "USD", "gateway": "paytm"})
    assert usd.status_code == 400 and usd.get_json()["error"]["field"] == "currency"
    body = {"order_id": "o_retry_1", "amount": 100, "currency": "INR", "gateway": "paytm"}
    fake.script(Answer(500, "down"))
    assert api.post("/api/payments", json=body).status_code == 502
    assert api.post("/api/payments", json=body).status_code == 201


def test_disabled_without_credentials(make_app):
    client = make_app().test_client()
    assert client.post("/webhooks/paytm", data="a=b", content_type=FORM).status_code == 404


# -- fuzz: nothing a stranger posts may change a payment or crash the hub ------------------------
text = st.text(max_size=40)
json_values = any_json(text=40, keys=40, width=4, leaves=12)
FUZZ = fuzzing(60)


def assert_untouched(api, created, sio, response):
    assert 400 <= response.status_code < 500, response.status_code
    assert unchanged(api, created, sio)


@FUZZ
@given(st.binary(max_size=300), st.sampled_from([FORM, "application/json", "text/plain"]),
       st.sampled_from(["/webhooks/paytm", "/return/paytm"]))
def test_fuzz_random_bodies(api, shop, body, content_type, path):
    created, sio = shop
    assert_untouched(api, created, sio, api.client.post(path, data=body, content_type=content_type))


@FUZZ
@given(st.dictionaries(st.sampled_from(["STATUS", "TXNAMOUNT", "ORDERID", "MID", "CHECKSUMHASH", "X"]),
                       st.one_of(text, st.integers(-10**30, 10**30).map(str)), max_size=6),
       st.integers(0, 400))
def test_fuzz_mutated_and_truncated_callbacks(api, fake, shop, mutations, cut):
    created, sio = shop
    fields = {**fake.pay(created["order_id"], "TXN_FAILURE"), **mutations, "STATUS": "TXN_SUCCESS"}
    body = urlencode(fields)[:cut] if cut < 400 else urlencode(fields)
    assert_untouched(api, created, sio, api.client.post("/webhooks/paytm", data=body, content_type=FORM))


@FUZZ
@given(json_values, json_values)
def test_fuzz_json_webhooks(api, shop, head, body):
    created, sio = shop
    data = json.dumps({"head": head, "body": body})
    assert_untouched(api, created, sio, api.client.post("/webhooks/paytm", data=data, content_type="application/json"))


@FUZZ
@given(st.one_of(st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=30)
                 .filter(lambda s: not s.replace(".", "", 1).isdigit()),
                 st.integers(10**14, 10**40).map(lambda n: f"{n}.00")))
def test_fuzz_authentic_callbacks_with_impossible_amounts(api, fake, shop, amount):
    created, sio = shop
    fields = fake.sign_form({"MID": MID, "ORDERID": created["order_id"], "STATUS": "TXN_SUCCESS", "TXNAMOUNT": amount})
    assert_untouched(api, created, sio, webhook(api, fields))
