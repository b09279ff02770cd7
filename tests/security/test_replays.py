"""A shopper replays what their own browser carried (issue 8 review, h-qa-abuse; CONTRACT §2,
§5, §9): the signed browser returns of Razorpay and Paytm are authentic, so each replay used to
write another event row, without end.

- Razorpay signs only `order_id|payment_id`, yet every field the browser posted was stored: one
  extra junk field (up to 64 KiB) made each replay a new update with attacker text in the log.
- Paytm signs a form's values joined in key order, never the key names: the same checksum
  covers the form with a field renamed, so each rename was a new update (same as above).
- Paytm's return form is also a valid `/webhooks/paytm` body, and webhooks are not rate limited.

A repeat of what the hub already has is recorded once (the first repeat, reason `duplicate`),
then answered the same and written no more; an orphan (no payment of ours) is kept once.
"""

from __future__ import annotations

import time
import uuid
from urllib.parse import urlencode

import pytest

from tests.conftest import Api
from tests.fakes.paytm_api import FakePaytm
from tests.fakes.razorpay_api import KEY_ID, KEY_SECRET, WEBHOOK_SECRET, FakeRazorpay
from tests.fakes.sandbox_status import FakeSandboxStatus
from tests.gateways.helpers import FLOW_SETTINGS, serving

from .conftest import row_counts

FORM = "application/x-www-form-urlencoded"
MID, KEY = "PAYHUBMID00001", "abcdefghijklmnop"


def post_form(api: Api, path: str, fields: dict[str, str]):
    return api.client.post(path, data=urlencode(fields), content_type=FORM)


def events(api: Api, payment: dict) -> list[dict]:
    return api.payment(payment["id"])["events"]


# -- Razorpay ------------------------------------------------------------------------------------
@pytest.fixture
def razorpay_fake():
    yield from serving(FakeRazorpay())


@pytest.fixture
def razorpay(make_app, razorpay_fake):
    hub = make_app(PAYHUB_RAZORPAY_KEY_ID=KEY_ID, PAYHUB_RAZORPAY_KEY_SECRET=KEY_SECRET,
                   PAYHUB_RAZORPAY_WEBHOOK_SECRET=WEBHOOK_SECRET, PAYHUB_RAZORPAY_BASE_URL=razorpay_fake.url,
                   PAYHUB_LIMIT_RETURNS="1000/minute", **FLOW_SETTINGS)
    return hub, Api(hub.test_client())


def test_a_replayed_razorpay_return_is_recorded_once_then_writes_nothing(razorpay, razorpay_fake):
    hub, api = razorpay
    created = api.create(gateway="razorpay", amount=50000)
    fields = razorpay_fake.return_fields(razorpay_fake.pay(created["gateway_order_id"]))
    assert post_form(api, "/return/razorpay", fields).status_code == 303
    assert post_form(api, "/return/razorpay", fields).status_code == 303
    recorded = row_counts(hub)
    assert [e["reason"] for e in events(api, created)] == [None, "duplicate"]
    for _ in range(10):  # the shopper's browser history, or a script
        answer = post_form(api, "/return/razorpay", fields)
        assert answer.status_code == 303 and f"/pay/{created['id']}?token=" in answer.headers["Location"]
    assert row_counts(hub) == recorded
    assert api.payment(created["id"])["status"] == "succeeded"


def test_fields_the_razorpay_signature_does_not_cover_are_not_kept(razorpay, razorpay_fake):
    hub, api = razorpay
    created = api.create(gateway="razorpay", amount=50000)
    fields = razorpay_fake.return_fields(razorpay_fake.pay(created["gateway_order_id"]))
    assert post_form(api, "/return/razorpay", {**fields, "note": "first"}).status_code == 303
    recorded = row_counts(hub)
    for i in range(5):  # each one used to be a new update: a new row with 60 KB of attacker text
        assert post_form(api, "/return/razorpay", {**fields, f"junk{i}": "A" * 60_000}).status_code == 303
    assert row_counts(hub)["payment_events"] <= recorded["payment_events"] + 1
    kept = events(api, created)
    assert all(set(e["payload"]) <= {"razorpay_order_id", "razorpay_payment_id", "razorpay_signature", "payment"}
               for e in kept if e["source"] == "return"), kept
    assert api.payment(created["id"])["status"] == "succeeded"


# -- Paytm ---------------------------------------------------------------------------------------
@pytest.fixture
def paytm_fake():
    yield from serving(FakePaytm(mid=MID, merchant_key=KEY))


@pytest.fixture
def paytm(make_app, paytm_fake):
    hub = make_app(PAYHUB_PAYTM_MID=MID, PAYHUB_PAYTM_MERCHANT_KEY=KEY, PAYHUB_PAYTM_BASE_URL=paytm_fake.url,
                   PAYHUB_LIMIT_RETURNS="1000/minute", **FLOW_SETTINGS)
    return hub, Api(hub.test_client())


def paid_paytm(api: Api, fake: FakePaytm) -> tuple[dict, dict[str, str]]:
    created = api.create(gateway="paytm", amount=10050, order_id=f"ord_{uuid.uuid4().hex[:12]}")
    return created, fake.pay(created["order_id"], amount="100.50")


def test_a_paytm_return_replayed_as_a_webhook_is_recorded_once(paytm, paytm_fake):
    """Webhooks are not rate limited: the shopper's own return form, sent to /webhooks/paytm in
    a loop, wrote a row per request."""
    hub, api = paytm
    created, form = paid_paytm(api, paytm_fake)
    assert post_form(api, "/return/paytm", form).status_code == 303
    assert post_form(api, "/webhooks/paytm", form).get_json()["result"] == "duplicate"
    recorded = row_counts(hub)
    for _ in range(10):
        answer = post_form(api, "/webhooks/paytm", form)
        assert answer.status_code == 200 and answer.get_json()["result"] == "duplicate"
    assert row_counts(hub) == recorded
    assert [e["reason"] for e in events(api, created)] == [None, "duplicate"]


def test_a_paytm_form_with_a_renamed_field_is_the_same_signed_update(paytm, paytm_fake):
    """Paytm's checksum covers the values in key order, not the keys: BANKNAME renamed to any
    name that sorts in the same place (here 20 KB long) keeps the checksum valid."""
    hub, api = paytm
    created, form = paid_paytm(api, paytm_fake)
    assert post_form(api, "/return/paytm", form).status_code == 303
    recorded = row_counts(hub)
    for i in range(5):
        renamed = {(f"BANKNAME_{i}" + "X" * 20_000 if k == "BANKNAME" else k): v for k, v in form.items()}
        answer = post_form(api, "/webhooks/paytm", renamed)
        assert answer.status_code == 200 and answer.get_json()["result"] == "duplicate"  # authentic, known
    assert row_counts(hub)["payment_events"] <= recorded["payment_events"] + 1
    assert sum("X" * 100 in str(e["payload"]) for e in events(api, created)) <= 1  # the one repeat kept
    assert api.payment(created["id"])["version"] == 2


def test_an_orphan_is_kept_once_however_often_it_comes(paytm, paytm_fake):
    """An authentic callback for an order the hub never opened (another shop on the same MID)
    is kept and answered 404 so Paytm retries; its repeats are not kept again."""
    hub, api = paytm
    form = paytm_fake.pay("someone_elses_order", amount="1.00")
    assert post_form(api, "/webhooks/paytm", form).status_code == 404
    recorded = row_counts(hub)
    for _ in range(10):
        assert post_form(api, "/webhooks/paytm", form).status_code == 404
    assert row_counts(hub) == recorded


def test_a_new_fact_about_the_payment_is_still_recorded(paytm, paytm_fake):
    """Bounding repeats must not swallow news: the refund that follows the success is applied."""
    _, api = paytm
    created, form = paid_paytm(api, paytm_fake)
    for _ in range(3):
        post_form(api, "/webhooks/paytm", form)
    refunded = paytm_fake.pay(created["order_id"], amount="100.50", refund="100.50")
    assert post_form(api, "/webhooks/paytm", refunded).get_json()["result"] == "applied"
    assert api.payment(created["id"])["status"] == "refunded"


# -- a shopper's refresh ---------------------------------------------------------------------------
@pytest.fixture
def sandbox_status():
    yield from serving(FakeSandboxStatus())


def test_a_shoppers_refreshes_of_an_unchanged_payment_are_recorded_once(make_app, sandbox_status):
    """With the subscribe token a shopper may refresh every PAYHUB_REFRESH_INTERVAL (5 s) for the
    token's week: each unchanged answer was another row (17,280 a day per payment)."""
    hub = make_app(PAYHUB_SANDBOX_BASE_URL=sandbox_status.url, PAYHUB_REFRESH_INTERVAL="0.001")
    api = Api(hub.test_client())
    created = api.create()
    shopper = hub.test_client()

    def refresh():
        answer = shopper.post(f"/api/payments/{created['id']}/refresh",
                              headers={"X-Payhub-Token": created["subscribe_token"]})
        assert answer.status_code == 200, answer.get_json()
        time.sleep(0.01)

    refresh()
    refresh()
    recorded = row_counts(hub)
    for _ in range(10):
        refresh()
    assert row_counts(hub) == recorded
    assert [e["reason"] for e in events(api, created)] == ["no_change", "duplicate"]
    # News still counts: the payment succeeds at the gateway, the next refresh applies it.
    sandbox_status.statuses[created["gateway_order_id"]] = "success"
    refresh()
    assert api.payment(created["id"])["status"] == "succeeded"
