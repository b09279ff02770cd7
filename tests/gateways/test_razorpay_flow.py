"""Razorpay through the whole hub: merchant API -> fake Razorpay -> webhooks, returns and polls ->
the one door -> Socket.IO subscribers."""

from __future__ import annotations

import json
import uuid
from urllib.parse import urlencode

import pytest
import razorpay
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from payhub.extensions import db
from payhub.models import PaymentEvent
from tests.conftest import ON_BOTH_DATABASES, Api
from tests.fakes import Answer
from tests.fakes.razorpay_api import KEY_ID, KEY_SECRET, WEBHOOK_SECRET, FakeRazorpay
from tests.gateways.helpers import FLOW_SETTINGS, any_json, fuzzing, pushed, serving, sweep_after, told_again, unchanged


@pytest.fixture
def fake():
    yield from serving(FakeRazorpay())


@pytest.fixture
def hub(make_app, fake, database):
    return make_app(PAYHUB_RAZORPAY_KEY_ID=KEY_ID, PAYHUB_RAZORPAY_KEY_SECRET=KEY_SECRET,
                    PAYHUB_RAZORPAY_WEBHOOK_SECRET=WEBHOOK_SECRET, PAYHUB_RAZORPAY_BASE_URL=fake.url,
                    **FLOW_SETTINGS, **database)


@pytest.fixture
def api(hub):
    return Api(hub.test_client())


@pytest.fixture
def shop(api, hub, subscribe):
    """A Razorpay payment of Rs 500 and a Socket.IO client subscribed to it."""
    created = api.create(gateway="razorpay", amount=50000, order_id=f"ord_{uuid.uuid4().hex[:12]}")
    return created, subscribe(hub, created)


def send(api: Api, fake: FakeRazorpay, event: dict | bytes, **kw) -> object:
    body, headers = fake.webhook(event, **kw)
    return api.client.post("/webhooks/razorpay", data=body, headers=headers)


# -- create -------------------------------------------------------------------------------------
def test_create_opens_a_razorpay_order_and_returns_checkout_js_options(api, fake, shop):
    created, _ = shop
    order = fake.orders[created["gateway_order_id"]]
    assert (order["amount"], order["currency"], order["receipt"]) == (50000, "INR", created["order_id"])
    assert order["notes"] == {"payhub_payment_id": created["id"]}
    checkout = created["checkout"]
    assert (checkout["key"], checkout["order_id"], checkout["amount"]) == (KEY_ID, order["id"], 50000)
    assert checkout["callback_url"] == "http://127.0.0.1:5000/return/razorpay"
    assert KEY_SECRET not in json.dumps(created)


@pytest.mark.parametrize(("fields", "field"), [({"amount": 99}, "amount"), ({"order_id": "o" * 41}, "order_id")])
def test_payments_razorpay_cannot_take_are_refused_before_anything_is_sent(api, fake, fields, field):
    body = {"order_id": "ord-short", "amount": 50000, "currency": "INR", "gateway": "razorpay", **fields}
    response = api.post("/api/payments", json=body)
    assert response.status_code == 400 and response.get_json()["error"]["field"] == field
    assert fake.calls == []


def test_razorpay_down_at_create_is_a_502_and_the_retry_works(api, fake):
    body = {"order_id": "ord-retry-1", "amount": 50000, "currency": "INR", "gateway": "razorpay"}
    fake.script(Answer(500, {"error": {"code": "SERVER_ERROR", "description": "down"}}))
    failed = api.post("/api/payments", json=body)
    assert failed.status_code == 502 and KEY_SECRET not in failed.get_data(as_text=True)
    retried = api.post("/api/payments", json=body)
    assert retried.status_code == 201 and retried.get_json()["gateway_order_id"] in fake.orders


def test_without_credentials_razorpay_is_disabled(make_app):
    client = make_app().test_client()
    body = {"order_id": "ord-off", "amount": 50000, "currency": "INR", "gateway": "razorpay"}
    response = Api(client).post("/api/payments", json=body)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "gateway_disabled"
    assert client.post("/webhooks/razorpay", data=b"{}").status_code == 404


# -- webhooks -----------------------------------------------------------------------------------
def test_an_authentic_capture_reaches_the_subscriber(api, fake, shop):
    created, sio = shop
    paid = fake.pay(created["gateway_order_id"])
    response = send(api, fake, fake.event("payment.captured", paid), event_id="evt_cap_1")
    assert response.status_code == 200 and response.get_json()["result"] == "applied"
    (view,) = pushed(sio)
    assert (view["status"], view["amount_received"], view["version"], view["final"]) == ("succeeded", 50000, 2, True)
    payment = api.payment(created["id"])
    assert (payment["gateway_payment_id"], payment["gateway_status"]) == (paid["id"], "payment.captured")
    assert payment["events"][-1]["gateway_event_id"] == "evt_cap_1"


def test_a_capture_of_another_amount_goes_to_review(api, fake, shop):
    created, sio = shop
    send(api, fake, fake.event("payment.captured", fake.pay(created["gateway_order_id"], amount=40000)))
    assert [(v["status"], v["amount_received"]) for v in pushed(sio)] == [("needs_review", 40000)]
    assert api.payment(created["id"])["events"][-1]["reason"] == "amount_mismatch"


def test_a_tampered_webhook_is_refused_and_changes_nothing(api, fake, shop):
    created, sio = shop
    body, headers = fake.webhook(fake.event("payment.captured", fake.pay(created["gateway_order_id"])))
    forged = body.replace(b'"amount": 50000', b'"amount": 100')
    response = api.client.post("/webhooks/razorpay", data=forged, headers=headers)
    assert response.status_code in (400, 401)
    unsigned = api.client.post("/webhooks/razorpay", data=body, headers={"Content-Type": "application/json"})
    assert unsigned.status_code in (400, 401)
    assert pushed(sio) == [] and api.payment(created["id"])["version"] == 1


def test_a_duplicate_webhook_is_acknowledged_and_changes_nothing(api, fake, shop):
    created, sio = shop
    event = fake.event("payment.captured", fake.pay(created["gateway_order_id"]))
    assert send(api, fake, event, event_id="evt_dup").status_code == 200
    again = send(api, fake, event, event_id="evt_dup")
    assert again.status_code == 200 and again.get_json()["result"] == "duplicate"
    assert told_again(pushed(sio)) and api.payment(created["id"])["version"] == 2


def test_a_failure_reaches_the_subscriber(api, fake, shop):
    created, sio = shop
    send(api, fake, fake.event("payment.failed", fake.pay(created["gateway_order_id"], "failed")))
    assert [v["status"] for v in pushed(sio)] == ["failed"]


def test_failed_then_captured_ends_succeeded(api, fake, shop):
    created, sio = shop
    send(api, fake, fake.event("payment.failed", fake.pay(created["gateway_order_id"], "failed")))
    send(api, fake, fake.event("payment.captured", fake.pay(created["gateway_order_id"])))
    assert [v["status"] for v in pushed(sio)] == ["failed", "succeeded"]


def test_captured_then_a_late_failure_stays_succeeded(api, fake, shop):
    created, sio = shop
    captured = fake.pay(created["gateway_order_id"])
    failed_attempt = dict(captured, status="failed", captured=False)
    send(api, fake, fake.event("payment.captured", captured))
    late = send(api, fake, fake.event("payment.failed", failed_attempt))
    assert late.status_code == 200 and late.get_json()["result"] == "not_applied"
    payment = api.payment(created["id"])
    assert payment["status"] == "succeeded" and payment["events"][-1]["reason"] == "illegal_transition"
    assert [v["status"] for v in pushed(sio)] == ["succeeded"]


def test_a_refund_moves_the_payment_to_refunded(api, fake, shop):
    created, sio = shop
    paid = fake.pay(created["gateway_order_id"])
    send(api, fake, fake.event("payment.captured", paid))
    refund = fake.refund(paid["id"], status="pending")
    send(api, fake, fake.event("refund.created", paid, refund=refund))
    send(api, fake, fake.event("refund.processed", paid, refund=fake.settle_refund(refund)))
    assert [(v["status"], v["final"]) for v in pushed(sio)] == [
        ("succeeded", True), ("refund_pending", False), ("refunded", True)]


def test_an_event_carrying_payhubs_reference_for_an_unknown_order_is_non_2xx_so_razorpay_retries(api, fake):
    order = fake.add_order()
    order["notes"] = {"payhub_payment_id": "pay_not_yet_here"}
    response = send(api, fake, fake.event("payment.captured", fake.pay(order["id"])))
    assert response.status_code >= 400


# -- issue 7: order, refund failures, foreign orders, disputes -----------------------------------
def events_of(api, created):
    return [(e["kind"], e["applied"], e["reason"]) for e in api.payment(created["id"])["events"]]


@ON_BOTH_DATABASES
def test_an_order_payhub_never_opened_is_acknowledged_and_changes_nothing(api, fake, shop):
    created, sio = shop
    stranger = fake.pay(fake.add_order()["id"])  # another system on the same Razorpay account
    for name in ("payment.captured", "payment.failed", "order.paid"):
        extra = {"order": fake.orders[stranger["order_id"]]} if name == "order.paid" else {}
        response = send(api, fake, fake.event(name, stranger, **extra))
        assert response.status_code == 200 and response.get_json()["result"] == "ignored"
    refund = fake.refund(stranger["id"])
    assert send(api, fake, fake.event("refund.processed", stranger, refund=refund)).status_code == 200
    assert unchanged(api, created, sio)


@ON_BOTH_DATABASES
def test_a_refund_before_its_capture_wins_and_the_late_capture_is_older_news(api, fake, shop):
    created, sio = shop
    paid = fake.pay(created["gateway_order_id"])
    captured = dict(paid)  # the capture's snapshot, taken before the refund
    refund = fake.refund(paid["id"])  # a full refund, processed
    first = send(api, fake, fake.event("refund.processed", paid, refund=refund))
    assert first.status_code == 200 and first.get_json()["result"] == "applied"
    late = send(api, fake, fake.event("payment.captured", captured))
    assert late.status_code == 200 and late.get_json()["result"] == "not_applied"
    assert [(v["status"], v["version"]) for v in pushed(sio)] == [("refunded", 2)]
    payment = api.payment(created["id"])
    assert (payment["status"], payment["version"]) == ("refunded", 2)
    assert events_of(api, created) == [("refunded", True, None), ("success", False, "illegal_transition")]


def test_a_refund_started_before_the_capture_then_processed(api, fake, shop):
    created, sio = shop
    paid = fake.pay(created["gateway_order_id"])
    captured = dict(paid)
    refund = fake.refund(paid["id"], status="pending")
    send(api, fake, fake.event("refund.created", paid, refund=refund))
    send(api, fake, fake.event("payment.captured", captured))
    send(api, fake, fake.event("refund.processed", paid, refund=fake.settle_refund(refund)))
    assert [v["status"] for v in pushed(sio)] == ["refund_pending", "refunded"]


@ON_BOTH_DATABASES
def test_a_failed_refund_returns_the_payment_to_succeeded(api, fake, shop):
    created, sio = shop
    paid = fake.pay(created["gateway_order_id"])
    send(api, fake, fake.event("payment.captured", paid))
    started = fake.refund(paid["id"], status="pending")
    send(api, fake, fake.event("refund.created", paid, refund=started))
    paid.update(amount_refunded=0, refund_status=None)  # the bank sent it back: nothing was refunded
    failed = send(api, fake, fake.event("refund.failed", paid, refund=dict(started, status="failed")))
    assert failed.status_code == 200 and failed.get_json()["result"] == "applied"
    assert [(v["status"], v["final"]) for v in pushed(sio)] == [
        ("succeeded", True), ("refund_pending", False), ("succeeded", True)]
    assert events_of(api, created)[-1] == ("refund_failed", True, "refund_failed")


def test_a_failed_refund_of_a_settled_payment_changes_nothing(api, fake, shop):
    created, sio = shop
    paid = fake.pay(created["gateway_order_id"])
    send(api, fake, fake.event("payment.captured", paid))
    failed = fake.refund(paid["id"], status="failed")
    assert send(api, fake, fake.event("refund.failed", paid, refund=failed)).get_json()["result"] == "not_applied"
    assert [v["status"] for v in pushed(sio)] == ["succeeded"]
    assert api.payment(created["id"])["version"] == 2

# A refund's failure may arrive before its creation (Razorpay promises no order): the late
# creation is then older news, or the payment would wait in refund_pending for an event that
# never comes.
def send_authentic(api: Api, fake: FakeRazorpay, event: dict) -> dict:
    """Deliver a webhook the official razorpay SDK agrees is Razorpay's; its answer."""
    body, headers = fake.webhook(event)
    assert razorpay.Utility(None).verify_webhook_signature(body.decode(), headers["X-Razorpay-Signature"],
                                                           WEBHOOK_SECRET)
    response = api.client.post("/webhooks/razorpay", data=body, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def refund_story(api, fake, created):
    """A captured payment, a refund of it that failed, and the events Razorpay sends about it."""
    paid = fake.pay(created["gateway_order_id"])
    send_authentic(api, fake, fake.event("payment.captured", paid))
    refund = fake.refund(paid["id"], status="pending")
    creation = fake.event("refund.created", paid, refund=refund)  # the snapshot counts the refund
    settled = dict(paid, amount_refunded=0, refund_status=None)  # the bank sent it back
    failure = fake.event("refund.failed", settled, refund=dict(refund, status="failed"))
    return paid, refund, creation, failure


@ON_BOTH_DATABASES
def test_a_refund_failure_before_its_creation_leaves_the_payment_succeeded(api, fake, shop):
    created, sio = shop
    _, _, creation, failure = refund_story(api, fake, created)
    assert send_authentic(api, fake, failure)["result"] == "not_applied"
    late = send_authentic(api, fake, creation)
    assert late["result"] == "not_applied"
    assert api.payment(created["id"])["events"][-1]["reason"] == "refund_already_failed"
    payment = api.payment(created["id"])
    assert (payment["status"], payment["version"], payment["final"]) == ("succeeded", 2, True)
    assert events_of(api, created) == [("success", True, None), ("refund_failed", False, "no_change"),
                                       ("refund_pending", False, "refund_already_failed")]
    assert [v["status"] for v in pushed(sio)] == ["succeeded"]


@ON_BOTH_DATABASES
def test_a_refund_processed_after_its_failure_is_older_news(api, fake, shop):
    created, sio = shop
    paid, refund, _, failure = refund_story(api, fake, created)
    send_authentic(api, fake, failure)
    processed = dict(paid, status="refunded", amount_refunded=50000, refund_status="full")
    late = send_authentic(api, fake, fake.event("refund.processed", processed, refund=dict(refund, status="processed")))
    assert late["result"] == "not_applied"
    assert api.payment(created["id"])["events"][-1]["reason"] == "refund_already_failed"
    assert api.payment(created["id"])["status"] == "succeeded"
    assert [v["status"] for v in pushed(sio)] == ["succeeded"]


@ON_BOTH_DATABASES
def test_another_refund_after_one_failed_is_pending(api, fake, shop):
    created, sio = shop
    paid, _, _, failure = refund_story(api, fake, created)
    send_authentic(api, fake, failure)
    paid.update(amount_refunded=0, refund_status=None)
    other = fake.refund(paid["id"], 20000, status="pending")  # a new refund: its own rfnd_ id
    assert send_authentic(api, fake, fake.event("refund.created", paid, refund=other))["result"] == "applied"
    payment = api.payment(created["id"])
    assert (payment["status"], payment["final"]) == ("refund_pending", False)
    assert [v["status"] for v in pushed(sio)] == ["succeeded", "refund_pending"]


# Two refunds of one payment (issue 7): the failure of one does not make the page read succeeded
# while the other is still on its way back; the failure of the last one does.
@ON_BOTH_DATABASES
def test_a_refund_failure_while_another_refund_is_open_keeps_refund_pending(api, fake, shop):
    created, sio = shop
    paid = fake.pay(created["gateway_order_id"])
    send_authentic(api, fake, fake.event("payment.captured", paid))
    first = fake.refund(paid["id"], 20000, status="pending")
    send_authentic(api, fake, fake.event("refund.created", paid, refund=first))
    second = fake.refund(paid["id"], 30000, status="pending")  # its own rfnd_ id
    send_authentic(api, fake, fake.event("refund.created", paid, refund=second))
    paid.update(amount_refunded=30000)  # the bank sent the first one back
    failed = send_authentic(api, fake, fake.event("refund.failed", paid, refund=dict(first, status="failed")))
    assert failed["result"] == "not_applied"
    payment = api.payment(created["id"])
    assert (payment["status"], payment["final"], payment["events"][-1]["reason"]) == (
        "refund_pending", False, "other_refund_open")
    paid.update(amount_refunded=0, refund_status=None)  # and the second one too
    assert send_authentic(api, fake, fake.event("refund.failed", paid, refund=dict(second, status="failed")))[
        "result"] == "applied"
    assert api.payment(created["id"])["status"] == "succeeded"
    assert [v["status"] for v in pushed(sio)] == ["succeeded", "refund_pending", "succeeded"]

@ON_BOTH_DATABASES
def test_a_dispute_is_kept_on_the_payments_log_and_changes_nothing(api, fake, shop):
    created, sio = shop
    paid = fake.pay(created["gateway_order_id"])
    send(api, fake, fake.event("payment.captured", paid))
    dispute = fake.dispute(paid, status="open")
    response = send(api, fake, fake.event("payment.dispute.created", paid, dispute=dispute), event_id="evt_disp")
    assert response.status_code == 200 and response.get_json()["result"] == "not_applied"
    payment = api.payment(created["id"])
    assert (payment["status"], payment["version"]) == ("succeeded", 2)
    kept = payment["events"][-1]
    assert (kept["kind"], kept["applied"], kept["reason"], kept["gateway_status"], kept["gateway_event_id"]) == (
        "info", False, "informational", "payment.dispute.created", "evt_disp")
    assert kept["payload"]["payload"]["dispute"]["entity"]["id"] == dispute["id"]
    assert [v["status"] for v in pushed(sio)] == ["succeeded"]


def test_a_dispute_for_an_order_payhub_never_opened_is_acknowledged_and_not_kept(api, fake, hub):
    stranger = fake.pay(fake.add_order()["id"])
    response = send(api, fake, fake.event("payment.dispute.created", stranger, dispute=fake.dispute(stranger)))
    assert response.status_code == 200 and response.get_json()["result"] == "ignored"
    with hub.app_context():
        assert db.session.query(PaymentEvent).filter_by(gateway_order_id=stranger["order_id"]).count() == 0


# -- browser return -----------------------------------------------------------------------------
def test_a_signed_return_redirects_to_the_status_page_and_settles_the_payment(api, fake, shop):
    created, sio = shop
    paid = fake.pay(created["gateway_order_id"])
    response = api.client.post("/return/razorpay", data=urlencode(fake.return_fields(paid)),
                               content_type="application/x-www-form-urlencoded")
    assert response.status_code == 303 and response.headers["Location"].startswith(f"/pay/{created['id']}?token=")
    (view,) = pushed(sio)
    assert (view["status"], view["amount_received"]) == ("succeeded", 50000)
    assert api.payment(created["id"])["events"][-1]["source"] == "return"


def test_a_forged_return_is_refused_and_changes_nothing(api, fake, shop):
    created, sio = shop
    fields = fake.return_fields(fake.pay(created["gateway_order_id"]), key_secret="guessed")
    response = api.client.post("/return/razorpay", data=urlencode(fields),
                               content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400 and pushed(sio) == []
    assert api.payment(created["id"])["status"] == "pending"


def test_a_failed_checkout_return_writes_nothing_and_issues_no_token(api, fake, shop):
    """CONTRACT §5: the failure return is unsigned, so anyone could send it: no row, no token."""
    created, sio = shop
    fields = fake.failed_return_fields(fake.pay(created["gateway_order_id"], "failed"))
    events = len(api.payment(created["id"])["events"])
    response = api.client.post("/return/razorpay", data=urlencode(fields),
                               content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200 and "token=" not in response.get_data(as_text=True)
    assert "Location" not in response.headers
    # A return URL that carries the status page's own token leads back to that page, same token.
    token = created["subscribe_token"]
    back = api.client.post(f"/return/razorpay?token={token}", data=urlencode(fields),
                           content_type="application/x-www-form-urlencoded")
    assert back.status_code == 303 and back.headers["Location"] == f"/pay/{created['id']}?token={token}"
    assert pushed(sio) == [] and api.payment(created["id"])["status"] == "pending"
    assert len(api.payment(created["id"])["events"]) == events


# -- polls --------------------------------------------------------------------------------------
def test_refresh_finds_a_payment_whose_webhook_never_came(api, fake, shop):
    created, sio = shop
    fake.pay(created["gateway_order_id"], "failed")
    fake.pay(created["gateway_order_id"])
    response = api.post(f"/api/payments/{created['id']}/refresh")
    assert response.status_code == 200 and response.get_json()["status"] == "succeeded"
    assert [(v["status"], v["amount_received"]) for v in pushed(sio)] == [("succeeded", 50000)]


def test_the_sweep_polls_a_stale_payment_and_applies_the_answer(hub, api, fake, shop):
    created, sio = shop
    fake.pay(created["gateway_order_id"])
    report = sweep_after(hub, created["id"], 120)
    assert created["id"] in report.polled
    assert [v["status"] for v in pushed(sio)] == ["succeeded"]


@pytest.mark.parametrize("answer", [Answer(500, {"error": {"code": "SERVER_ERROR"}}), Answer.delayed(2)])
def test_refresh_when_razorpay_fails_is_a_clean_502_and_changes_nothing(api, fake, shop, answer):
    created, sio = shop
    fake.pay(created["gateway_order_id"])
    fake.script(answer, path="/payments")
    response = api.post(f"/api/payments/{created['id']}/refresh")
    assert response.status_code == 502 and response.get_json()["error"]["code"] == "gateway_error"
    assert KEY_SECRET not in response.get_data(as_text=True)
    assert pushed(sio) == [] and api.payment(created["id"])["version"] == 1


# -- fuzz: nothing a stranger or a broken gateway sends can hurt ---------------------------------
fuzz_settings = fuzzing(60, HealthCheck.too_slow)
json_values = any_json(text=30, keys=8, width=3, leaves=12)
not_int = json_values.filter(lambda v: type(v) is not int)
# Values a captured payment can never carry: each must be refused, never applied.
wrong_values = {
    "amount": not_int | st.integers(min_value=10**15) | st.integers(max_value=-1),
    "currency": json_values.filter(lambda v: not (isinstance(v, str) and len(v) == 3)) | st.just("₹₹₹"),
    "status": json_values.filter(lambda v: not isinstance(v, str)) | st.text(min_size=33),
    "order_id": json_values.filter(lambda v: v is not None and not isinstance(v, str)) | st.text(min_size=101),
    "id": json_values.filter(lambda v: not isinstance(v, str)) | st.just(""),
}


@fuzz_settings
@given(body=st.binary(max_size=512) | json_values.map(lambda v: json.dumps(v).encode()),
       signature=st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=70))
def test_fuzz_unsigned_webhooks_are_refused_and_change_nothing(api, fake, shop, body, signature):
    created, sio = shop
    response = api.client.post("/webhooks/razorpay", data=body, headers={"X-Razorpay-Signature": signature})
    assert response.status_code in (400, 401) and unchanged(api, created, sio)


@fuzz_settings
@given(data=st.data(), field=st.sampled_from(sorted(wrong_values)))
def test_fuzz_signed_captures_with_impossible_fields_are_400_and_change_nothing(api, fake, shop, data, field):
    created, sio = shop
    entity = {**fake.pay(created["gateway_order_id"]), field: data.draw(wrong_values[field])}
    response = send(api, fake, fake.event("payment.captured", entity))
    assert response.status_code == 400 and unchanged(api, created, sio)


@fuzz_settings
@given(cut=st.integers(min_value=0, max_value=10_000))
def test_fuzz_signed_truncated_bodies_are_400_and_change_nothing(api, fake, shop, cut):
    created, sio = shop
    body = json.dumps(fake.event("payment.captured", fake.pay(created["gateway_order_id"]))).encode()
    response = send(api, fake, body[: cut % len(body)])
    assert response.status_code == 400 and unchanged(api, created, sio)
