"""What a visitor without a key can make the hub write (issue 8 items 2, 3, 8; issue 7 item 10):
the demo shop only ever opens sandbox payments, an unsigned browser return writes nothing and
issues no token, PayAtom's joined order id and amount cannot be re-cut onto another order, and
inputs match whole values."""

from __future__ import annotations

import json
import uuid
from urllib.parse import urlencode

import pytest

from tests.conftest import Api
from tests.fakes.payatom_api import FakePayAtom
from tests.fakes.razorpay_api import KEY_ID, KEY_SECRET, WEBHOOK_SECRET, FakeRazorpay
from tests.fakes.stripe_api import SECRET_KEY, FakeStripe
from tests.gateways.helpers import FLOW_SETTINGS, serving

from .conftest import row_counts


# -- the demo shop -----------------------------------------------------------------------------
@pytest.fixture
def stripe_fake():
    yield from serving(FakeStripe())


def test_the_demo_shop_never_opens_a_payment_on_a_real_gateway(make_app, stripe_fake):
    """Issue 8 item 2: `gateway=stripe` on the shop's form opened a real PaymentIntent with the
    merchant's credentials."""
    app = make_app(PAYHUB_STRIPE_SECRET_KEY=SECRET_KEY, PAYHUB_STRIPE_WEBHOOK_SECRET="whsec_x",
                   PAYHUB_STRIPE_BASE_URL=stripe_fake.url)
    client, before = app.test_client(), row_counts(app)
    for gateway in ("stripe", "razorpay", "paytm", "payatom"):
        answer = client.post("/shop/orders", data={"item": "chai", "gateway": gateway})
        assert answer.status_code == 400, gateway
    assert stripe_fake.calls == [] and row_counts(app) == before
    assert "<select" not in client.get("/").get_data(as_text=True)  # no gateway picker on the page
    assert client.post("/shop/orders", data={"item": "chai"}).status_code == 303  # sandbox: fine


@pytest.mark.parametrize(("env", "open_"), [({}, True), ({"PAYHUB_DEMO_SHOP": "0"}, False),
                                           ({"PAYHUB_SANDBOX": "0"}, False)])
def test_the_demo_shop_is_behind_payhub_demo_shop_which_follows_the_sandbox(make_app, env, open_):
    app = make_app(**env)
    client, before = app.test_client(), row_counts(app)
    expected = (200, 303) if open_ else (404, 404)
    assert (client.get("/").status_code, client.post("/shop/orders", data={"item": "chai"}).status_code) == expected
    if not open_:
        assert row_counts(app) == before


def test_the_demo_shop_cannot_be_on_without_the_sandbox(make_app):
    with pytest.raises(ValueError, match="PAYHUB_DEMO_SHOP"):
        make_app(PAYHUB_DEMO_SHOP="1", PAYHUB_SANDBOX="0")


# -- browser returns ---------------------------------------------------------------------------
@pytest.fixture
def razorpay_fake():
    yield from serving(FakeRazorpay())


@pytest.fixture
def razorpay_hub(make_app, razorpay_fake):
    return make_app(PAYHUB_RAZORPAY_KEY_ID=KEY_ID, PAYHUB_RAZORPAY_KEY_SECRET=KEY_SECRET,
                    PAYHUB_RAZORPAY_WEBHOOK_SECRET=WEBHOOK_SECRET, PAYHUB_RAZORPAY_BASE_URL=razorpay_fake.url,
                    **FLOW_SETTINGS)


def test_an_unsigned_failure_return_writes_nothing_and_issues_no_token(razorpay_hub, razorpay_fake):
    """Issue 8 item 3: the unsigned failure return stored up to 57 KB per request, and for a
    known order handed out a working subscribe token and wrote attacker text into the log."""
    api = Api(razorpay_hub.test_client())
    created = api.create(gateway="razorpay", amount=50000)
    before = row_counts(razorpay_hub)
    attacker = {f"error[field{i}]": "x" * 500 for i in range(100)} | {
        "error[description]": "<script>alert(1)</script>",
        "error[metadata]": json.dumps({"order_id": created["gateway_order_id"], "payment_id": "pay_fake"}),
    }
    for _ in range(5):
        answer = api.client.post("/return/razorpay", data=urlencode(attacker),
                                 content_type="application/x-www-form-urlencoded")
        assert answer.status_code == 200 and "Location" not in answer.headers
        assert "token=" not in answer.get_data(as_text=True) and "<script>alert" not in answer.get_data(as_text=True)
    unknown = {**attacker, "error[metadata]": json.dumps({"order_id": "order_nobody"})}
    assert api.client.post("/return/razorpay", data=urlencode(unknown),
                           content_type="application/x-www-form-urlencoded").status_code == 200
    assert row_counts(razorpay_hub) == before
    assert api.payment(created["id"])["version"] == 1


def test_a_forged_signed_return_writes_nothing_either(razorpay_hub, razorpay_fake):
    api = Api(razorpay_hub.test_client())
    created = api.create(gateway="razorpay", amount=50000)
    before = row_counts(razorpay_hub)
    forged = {"razorpay_order_id": created["gateway_order_id"], "razorpay_payment_id": "pay_x",
              "razorpay_signature": "0" * 64}
    answer = api.client.post("/return/razorpay", data=urlencode(forged),
                             content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 400 and row_counts(razorpay_hub) == before


# -- PayAtom: order id and amount are hashed with no separator between them ---------------------
PID, SECRET = "5345f345345", "test_secret_key_123"
CUSTOMER = {"name": "Anushk", "email": "anushk@example.com", "phone": "9000000000"}
MISMATCH = {"hash_status": "HashMismatch", "acknowledge": "no"}
YES = {"hash_status": "HashMatched", "acknowledge": "yes"}


@pytest.fixture
def payatom_fake():
    yield from serving(FakePayAtom(pid=PID, secret=SECRET))


@pytest.fixture
def payatom(make_app, payatom_fake):
    hub = make_app(PAYHUB_PAYATOM_PID=PID, PAYHUB_PAYATOM_SECRET_KEY=SECRET, PAYHUB_PAYATOM_BASE_URL=payatom_fake.url,
                   **FLOW_SETTINGS)
    return hub, Api(hub.test_client())


def deliver(api: Api, body: bytes) -> dict:
    answer = api.client.post("/webhooks/payatom", data=body, content_type="application/json")
    assert answer.status_code == 200
    return answer.get_json()


def recut(body: bytes, order_id: str, amount: str) -> bytes:
    """The same authentic envelope with the joined "order id + amount" cut elsewhere."""
    data = json.loads(body)
    assert data["order_id"] + data["received_amount"] == order_id + amount
    return json.dumps({**data, "order_id": order_id, "received_amount": amount, "requested_amount": amount}).encode()


def test_an_envelope_recut_onto_another_order_is_refused_and_writes_nothing(payatom, payatom_fake):
    """Issue 8 item 8: Approved for `…1` paying 25 verified as `…12` paying 5."""
    hub, api = payatom
    base = f"ORD{uuid.uuid4().hex[:8].upper()}"
    small = api.create(gateway="payatom", amount=2500, order_id=base + "1", customer=CUSTOMER)   # Rs 25
    big = api.create(gateway="payatom", amount=50000, order_id=base + "12", customer=CUSTOMER)   # Rs 500
    authentic = payatom_fake.webhook_body(small["order_id"], "Approved", "25")
    before = row_counts(hub)
    assert deliver(api, recut(authentic, big["order_id"], "5")) == MISMATCH
    assert row_counts(hub) == before and api.payment(big["id"])["status"] == "pending"
    # The envelope's real reading still goes through.
    assert deliver(api, authentic) == YES
    assert api.payment(small["id"])["status"] == "succeeded" and api.payment(big["id"])["version"] == 1


def test_a_recut_onto_an_order_the_hub_never_opened_writes_nothing(payatom, payatom_fake):
    hub, api = payatom
    small = api.create(gateway="payatom", amount=2500, order_id=f"ORD{uuid.uuid4().hex[:8]}1", customer=CUSTOMER)
    authentic = payatom_fake.webhook_body(small["order_id"], "Approved", "25")
    before = row_counts(hub)
    assert deliver(api, recut(authentic, small["order_id"] + "2", "5")) == MISMATCH
    assert row_counts(hub) == before


def test_when_both_readings_name_a_payment_of_exactly_that_amount_neither_is_trusted(payatom, payatom_fake):
    """Both `…1` for Rs 25 and `…12` for Rs 5 exist: the bytes cannot say which one was paid, so
    the envelope changes nothing and the status poll (which hashes PayAtom's ref_code) decides."""
    hub, api = payatom
    base = f"ORD{uuid.uuid4().hex[:8]}"
    small = api.create(gateway="payatom", amount=2500, order_id=base + "1", customer=CUSTOMER)
    twin = api.create(gateway="payatom", amount=500, order_id=base + "12", customer=CUSTOMER)
    authentic = payatom_fake.webhook_body(small["order_id"], "Approved", "25")
    before = row_counts(hub)
    assert deliver(api, recut(authentic, twin["order_id"], "5")) == MISMATCH
    assert deliver(api, authentic) == MISMATCH
    assert row_counts(hub) == before
    assert [api.payment(p["id"])["status"] for p in (small, twin)] == ["pending", "pending"]


def test_an_unambiguous_partial_payment_or_decline_is_still_booked(payatom, payatom_fake):
    _, api = payatom
    paid_less = api.create(gateway="payatom", amount=10000, order_id=f"ORD{uuid.uuid4().hex[:10]}",
                           customer=CUSTOMER)
    assert deliver(api, payatom_fake.webhook_body(paid_less["order_id"], "Approved", "99.50")) == YES
    assert api.payment(paid_less["id"])["status"] == "needs_review"
    declined = api.create(gateway="payatom", amount=10000, order_id=f"ORD{uuid.uuid4().hex[:10]}",
                          customer=CUSTOMER)
    assert deliver(api, payatom_fake.webhook_body(declined["order_id"], "Declined", "0")) == YES
    assert api.payment(declined["id"])["status"] == "failed"


# -- whole values (issue 7 item 10) ---------------------------------------------------------------
@pytest.mark.parametrize("order_id", ["order-1\n", "order-1\r\n", "\norder-1", "order-1\x00", "ordér-1"])
def test_an_order_id_with_anything_around_it_is_a_400(api, order_id):
    api.create(order_id="order-1")
    answer = api.post("/api/payments", json={"order_id": order_id, "amount": 1000, "currency": "INR",
                                             "gateway": "sandbox"})
    assert answer.status_code == 400 and answer.get_json()["error"]["field"] == "order_id"
    assert len(api.get("/api/payments").get_json()["data"]) == 1


@pytest.mark.parametrize(("field", "value"), [("email", "a@b.co\n"), ("phone", "+91 90000 00000\n")])
def test_customer_fields_match_whole_values(api, field, value):
    answer = api.post("/api/payments", json={"order_id": "cust-1", "amount": 1000, "currency": "INR",
                                             "gateway": "sandbox", "customer": {field: value}})
    assert answer.status_code == 400 and answer.get_json()["error"]["field"] == f"customer.{field}"


@pytest.mark.parametrize("value", ["²", "\u0661\u0660", "1\n", " 1", "+1", "1.0", "", "0x1", "9" * 40])
def test_limit_and_wait_take_ascii_digits_only(api, value):
    created = api.create()
    listing = api.get("/api/payments", query_string={"limit": value})
    assert listing.status_code == 400 and listing.get_json()["error"]["field"] == "limit"
    status = api.client.get(f"/api/payments/{created['id']}/status",
                            query_string={"wait": value, "token": created["subscribe_token"]})
    assert status.status_code == 400 and status.get_json()["error"]["field"] == "wait"


def test_the_sandbox_checkout_form_ignores_unicode_digits(api, client):
    created = api.create()
    txn = created["gateway_order_id"]
    # "²" and an Arabic-Indic 3 pass str.isdigit() but not int()
    answer = client.post(f"/sandbox/checkout/{txn}", data={"action": "fail", "delay": "²", "amount": "\u0663"})
    assert answer.status_code == 303
