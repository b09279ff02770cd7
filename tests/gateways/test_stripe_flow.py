"""Stripe through the whole hub: merchant API -> fake Stripe -> signed webhooks and polls ->
the one door -> Socket.IO subscribers."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import stripe
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from tests.conftest import ON_BOTH_DATABASES, Api
from tests.fakes import Answer
from tests.fakes.stripe_api import SECRET_KEY, WEBHOOK_SECRET, FakeStripe
from tests.gateways.helpers import FLOW_SETTINGS, any_json, fuzzing, pushed, serving, sweep_after, told_again, unchanged


@pytest.fixture
def fake():
    yield from serving(FakeStripe())


@pytest.fixture
def hub(make_app, fake, database):
    return make_app(PAYHUB_STRIPE_SECRET_KEY=SECRET_KEY, PAYHUB_STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
                    PAYHUB_STRIPE_PUBLISHABLE_KEY="pk_test_fake", PAYHUB_STRIPE_BASE_URL=fake.url,
                    **FLOW_SETTINGS, **database)


@pytest.fixture
def api(hub):
    return Api(hub.test_client())


@pytest.fixture
def shop(api, hub, subscribe):
    """A Stripe payment of $25.00 and a Socket.IO client subscribed to it."""
    created = api.create(gateway="stripe", amount=2500, currency="USD", order_id=f"ord_{uuid.uuid4().hex[:12]}")
    return created, subscribe(hub, created)


def send(api: Api, fake: FakeStripe, event: dict | bytes, **kw) -> object:
    body, headers = fake.webhook(event, **kw)
    return api.client.post("/webhooks/stripe", data=body, headers=headers)


# -- create -------------------------------------------------------------------------------------
def test_create_opens_a_payment_intent_and_hands_the_browser_its_client_secret(api, fake, shop):
    created, _ = shop
    intent = fake.intents[created["gateway_order_id"]]
    assert (intent["amount"], intent["currency"]) == (2500, "usd")
    assert intent["metadata"] == {"payhub_payment_id": created["id"], "order_id": created["order_id"]}
    checkout = created["checkout"]
    assert checkout["client_secret"] == intent["client_secret"] and checkout["publishable_key"] == "pk_test_fake"
    assert SECRET_KEY not in json.dumps(created)


def test_the_client_secret_stays_out_of_the_event_log(api, fake, shop):
    created, _ = shop
    send(api, fake, fake.event("payment_intent.succeeded", fake.succeed(created["gateway_order_id"])))
    api.post(f"/api/payments/{created['id']}/refresh")
    events = api.payment(created["id"])["events"]
    assert len(events) == 2 and fake.intents[created["gateway_order_id"]]["client_secret"] not in json.dumps(events)


def test_an_amount_stripe_refuses_is_a_400_for_the_merchant(api, fake):
    body = {"order_id": "ord-tiny", "amount": 10, "currency": "USD", "gateway": "stripe"}
    response = api.post("/api/payments", json=body)
    assert response.status_code == 400 and response.get_json()["error"]["field"] == "amount"


def test_stripe_down_at_create_is_a_502_and_the_retry_works(api, fake):
    body = {"order_id": "ord-retry-1", "amount": 2500, "currency": "USD", "gateway": "stripe"}
    fake.script(Answer.delayed(2))
    failed = api.post("/api/payments", json=body)
    assert failed.status_code == 502 and SECRET_KEY not in failed.get_data(as_text=True)
    retried = api.post("/api/payments", json=body)
    assert retried.status_code == 201 and retried.get_json()["gateway_order_id"] in fake.intents
    # The slow first call did create an intent; the retry got that one back (same idempotency key).
    assert len(fake.intents) == 1


def test_without_credentials_stripe_is_disabled(make_app):
    client = make_app().test_client()
    body = {"order_id": "ord-off", "amount": 2500, "currency": "USD", "gateway": "stripe"}
    response = Api(client).post("/api/payments", json=body)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "gateway_disabled"
    assert client.post("/webhooks/stripe", data=b"{}").status_code == 404


# -- webhooks -----------------------------------------------------------------------------------
def test_an_authentic_success_reaches_the_subscriber(api, fake, shop):
    created, sio = shop
    intent = fake.succeed(created["gateway_order_id"])
    response = send(api, fake, fake.event("payment_intent.succeeded", intent, event_id="evt_ok"))
    assert response.status_code == 200 and response.get_json()["result"] == "applied"
    (view,) = pushed(sio)
    assert (view["status"], view["amount_received"], view["version"]) == ("succeeded", 2500, 2)
    payment = api.payment(created["id"])
    assert payment["gateway_payment_id"] == intent["latest_charge"]
    assert payment["events"][-1]["gateway_event_id"] == "evt_ok"


def test_less_money_than_asked_goes_to_review(api, fake, shop):
    created, sio = shop
    send(api, fake, fake.event("payment_intent.succeeded", fake.succeed(created["gateway_order_id"],
                                                                        amount_received=2000)))
    assert [(v["status"], v["amount_received"]) for v in pushed(sio)] == [("needs_review", 2000)]


@pytest.mark.parametrize("tamper", ["body", "secret", "old", "missing"])
def test_a_tampered_or_replayed_webhook_is_refused_and_changes_nothing(api, fake, shop, tamper):
    created, sio = shop
    event = fake.event("payment_intent.succeeded", fake.succeed(created["gateway_order_id"]))
    body, headers = fake.webhook(event, secret="whsec_guess" if tamper == "secret" else None,
                                 timestamp=int(time.time()) - 301 if tamper == "old" else None)
    if tamper == "body":
        body = body.replace(b'"amount_received": 2500', b'"amount_received": 2501')
    if tamper == "missing":
        del headers["Stripe-Signature"]
    response = api.client.post("/webhooks/stripe", data=body, headers=headers)
    assert response.status_code in (400, 401) and unchanged(api, created, sio)


def test_a_duplicate_event_is_acknowledged_and_changes_nothing(api, fake, shop):
    created, sio = shop
    event = fake.event("payment_intent.succeeded", fake.succeed(created["gateway_order_id"]))
    assert send(api, fake, event).status_code == 200
    again = send(api, fake, event)  # Stripe re-signs a retry with a new timestamp
    assert again.status_code == 200 and again.get_json()["result"] == "duplicate"
    assert told_again(pushed(sio))


def test_failed_then_succeeded_ends_succeeded(api, fake, shop):
    created, sio = shop
    send(api, fake, fake.event("payment_intent.payment_failed", fake.fail(created["gateway_order_id"])))
    send(api, fake, fake.event("payment_intent.succeeded", fake.succeed(created["gateway_order_id"])))
    assert [v["status"] for v in pushed(sio)] == ["failed", "succeeded"]


def test_succeeded_then_a_late_failure_stays_succeeded(api, fake, shop):
    created, sio = shop
    failed = dict(fake.fail(created["gateway_order_id"]))
    send(api, fake, fake.event("payment_intent.succeeded", fake.succeed(created["gateway_order_id"])))
    late = send(api, fake, fake.event("payment_intent.payment_failed", failed))
    assert late.status_code == 200 and late.get_json()["result"] == "not_applied"
    assert [v["status"] for v in pushed(sio)] == ["succeeded"]
    assert api.payment(created["id"])["status"] == "succeeded"


def test_a_cancelled_intent_reaches_the_subscriber(api, fake, shop):
    created, sio = shop
    send(api, fake, fake.event("payment_intent.canceled", fake.cancel(created["gateway_order_id"])))
    assert [(v["status"], v["final"]) for v in pushed(sio)] == [("cancelled", True)]


def test_partial_then_full_refund(api, fake, shop):
    created, sio = shop
    send(api, fake, fake.event("payment_intent.succeeded", fake.succeed(created["gateway_order_id"])))
    send(api, fake, fake.event("charge.refunded", fake.refund(created["gateway_order_id"], 1000)))
    send(api, fake, fake.event("charge.refunded", fake.refund(created["gateway_order_id"])))
    assert [v["status"] for v in pushed(sio)] == ["succeeded", "refund_pending", "refunded"]


def test_an_event_for_an_intent_payhub_does_not_know_is_answered_non_2xx(api, fake):
    stranger = fake._new_intent({"amount": "2500", "currency": "usd", "metadata": {"payhub_payment_id": "pay_x"}})
    response = send(api, fake, fake.event("payment_intent.succeeded", fake.succeed(stranger.body["id"])))
    assert response.status_code >= 400


def test_an_intent_of_another_integration_is_acknowledged_and_ignored(api, fake):
    foreign = fake._new_intent({"amount": "2500", "currency": "usd"}).body
    response = send(api, fake, fake.event("payment_intent.succeeded", fake.succeed(foreign["id"])))
    assert response.status_code == 200 and response.get_json()["result"] == "ignored"


def test_an_event_for_our_intent_without_our_metadata_still_applies(api, fake, shop):
    created, sio = shop
    paid = {**fake.succeed(created["gateway_order_id"]), "metadata": {}}
    response = send(api, fake, fake.event("payment_intent.succeeded", paid))
    assert response.status_code == 200 and response.get_json()["result"] == "applied"
    assert [v["status"] for v in pushed(sio)] == ["succeeded"]


# -- issue 7: refunds in any order, refund failures, disputes -------------------------------------
def events_of(api, created):
    return [(e["kind"], e["applied"], e["reason"]) for e in api.payment(created["id"])["events"]]


@ON_BOTH_DATABASES
def test_a_refund_before_its_success_wins_and_the_late_success_is_older_news(api, fake, shop):
    created, sio = shop
    intent = dict(fake.succeed(created["gateway_order_id"]))  # the success's snapshot, before the refund
    first = send(api, fake, fake.event("charge.refunded", fake.refund(created["gateway_order_id"])))
    assert first.status_code == 200 and first.get_json()["result"] == "applied"
    late = send(api, fake, fake.event("payment_intent.succeeded", intent))
    assert late.status_code == 200 and late.get_json()["result"] == "not_applied"
    assert [(v["status"], v["version"]) for v in pushed(sio)] == [("refunded", 2)]
    assert events_of(api, created) == [("refunded", True, None), ("success", False, "illegal_transition")]


@ON_BOTH_DATABASES
def test_refund_events_in_any_order_around_the_success(api, fake, shop):
    created, sio = shop
    intent_id = created["gateway_order_id"]
    intent = dict(fake.succeed(intent_id))
    refund = fake.refund_object(intent_id, status="pending")
    send(api, fake, fake.event("refund.created", refund))
    send(api, fake, fake.event("payment_intent.succeeded", intent))  # late: older news
    send(api, fake, fake.event("refund.updated", {**refund, "status": "succeeded"}))  # may be partial: still pending
    send(api, fake, fake.event("charge.refunded", fake.charges[intent["latest_charge"]]))  # all of it went back
    assert [v["status"] for v in pushed(sio)] == ["refund_pending", "refunded"]
    assert api.payment(created["id"])["version"] == 3


@ON_BOTH_DATABASES
def test_a_failed_refund_returns_the_payment_to_succeeded(api, fake, shop):
    created, sio = shop
    intent_id = created["gateway_order_id"]
    send(api, fake, fake.event("payment_intent.succeeded", fake.succeed(intent_id)))
    refund = fake.refund_object(intent_id, 1000, status="pending")
    send(api, fake, fake.event("refund.created", refund))
    response = send(api, fake, fake.event("refund.failed", fake.fail_refund(refund)))
    assert response.status_code == 200 and response.get_json()["result"] == "applied"
    assert [v["status"] for v in pushed(sio)] == ["succeeded", "refund_pending", "succeeded"]
    assert events_of(api, created)[-1] == ("refund_failed", True, "refund_failed")


def test_a_cancelled_refund_reported_on_the_charge_returns_the_payment_to_succeeded(api, fake, shop):
    created, sio = shop
    intent_id = created["gateway_order_id"]
    send(api, fake, fake.event("payment_intent.succeeded", fake.succeed(intent_id)))
    refund = fake.refund_object(intent_id, 500, status="requires_action")
    send(api, fake, fake.event("charge.refund.updated", refund))
    send(api, fake, fake.event("charge.refund.updated", {**refund, "status": "canceled"}))
    assert [v["status"] for v in pushed(sio)] == ["succeeded", "refund_pending", "succeeded"]

# A refund's failure may arrive before its creation (Stripe promises no order): the late news of
# that refund is then older news, or the payment would wait in refund_pending for nothing.
def send_authentic(api: Api, fake: FakeStripe, event: dict) -> dict:
    """Deliver a webhook the official stripe SDK agrees is Stripe's; its answer."""
    body, headers = fake.webhook(event)
    stripe.Webhook.construct_event(body.decode(), headers["Stripe-Signature"], WEBHOOK_SECRET)  # raises if not
    response = api.client.post("/webhooks/stripe", data=body, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@ON_BOTH_DATABASES
@pytest.mark.parametrize(("failed_as", "late_as"), [
    ("refund.failed", "refund.created"), ("charge.refund.updated", "refund.updated"),
])
def test_a_refund_failure_before_its_creation_leaves_the_payment_succeeded(api, fake, shop, failed_as, late_as):
    created, sio = shop
    intent_id = created["gateway_order_id"]
    send_authentic(api, fake, fake.event("payment_intent.succeeded", fake.succeed(intent_id)))
    refund = fake.refund_object(intent_id, 1000, status="pending")
    creation = fake.event(late_as, {**refund, "status": "succeeded" if late_as == "refund.updated" else "pending"})
    assert send_authentic(api, fake, fake.event(failed_as, fake.fail_refund(refund)))["result"] == "not_applied"
    late = send_authentic(api, fake, creation)
    assert late["result"] == "not_applied"
    assert api.payment(created["id"])["events"][-1]["reason"] == "refund_already_failed"
    payment = api.payment(created["id"])
    assert (payment["status"], payment["version"], payment["final"]) == ("succeeded", 2, True)
    assert [v["status"] for v in pushed(sio)] == ["succeeded"]


@ON_BOTH_DATABASES
def test_another_refund_after_one_failed_is_pending(api, fake, shop):
    created, sio = shop
    intent_id = created["gateway_order_id"]
    send_authentic(api, fake, fake.event("payment_intent.succeeded", fake.succeed(intent_id)))
    failed = fake.fail_refund(fake.refund_object(intent_id, 1000, status="pending"))
    send_authentic(api, fake, fake.event("refund.failed", failed))
    other = fake.refund_object(intent_id, 500, status="pending")  # a new refund: its own re_ id
    assert send_authentic(api, fake, fake.event("refund.created", other))["result"] == "applied"
    assert [v["status"] for v in pushed(sio)] == ["succeeded", "refund_pending"]


def test_a_refund_of_an_intent_payhub_never_made_is_acknowledged(api, fake, shop):
    created, sio = shop
    foreign = fake._new_intent({"amount": "2500", "currency": "usd"}).body
    fake.succeed(foreign["id"])
    for event in (fake.event("charge.refunded", fake.refund(foreign["id"])),
                  fake.event("refund.created", fake.refund_object(foreign["id"], 0, status="pending")),
                  fake.event("charge.dispute.created", fake.dispute(foreign["id"]))):
        response = send(api, fake, event)
        assert response.status_code == 200 and response.get_json()["result"] == "ignored"
    assert unchanged(api, created, sio)


@ON_BOTH_DATABASES
def test_a_dispute_is_kept_on_the_payments_log_and_changes_nothing(api, fake, shop):
    created, sio = shop
    intent_id = created["gateway_order_id"]
    send(api, fake, fake.event("payment_intent.succeeded", fake.succeed(intent_id)))
    dispute = fake.dispute(intent_id)
    response = send(api, fake, fake.event("charge.dispute.created", dispute, event_id="evt_dp"))
    assert response.status_code == 200 and response.get_json()["result"] == "not_applied"
    payment = api.payment(created["id"])
    assert (payment["status"], payment["version"]) == ("succeeded", 2)
    kept = payment["events"][-1]
    assert (kept["kind"], kept["applied"], kept["reason"], kept["gateway_event_id"]) == (
        "info", False, "informational", "evt_dp")
    assert kept["payload"]["data"]["object"]["id"] == dispute["id"]
    assert [v["status"] for v in pushed(sio)] == ["succeeded"]


# -- polls --------------------------------------------------------------------------------------
def test_refresh_finds_a_success_whose_webhook_never_came(api, fake, shop):
    created, sio = shop
    fake.succeed(created["gateway_order_id"])
    response = api.post(f"/api/payments/{created['id']}/refresh")
    assert response.status_code == 200 and response.get_json()["status"] == "succeeded"
    assert [(v["status"], v["amount_received"]) for v in pushed(sio)] == [("succeeded", 2500)]


def test_the_sweep_polls_a_stale_payment(hub, fake, shop):
    created, sio = shop
    fake.succeed(created["gateway_order_id"])
    assert created["id"] in sweep_after(hub, created["id"], 120).polled
    assert [v["status"] for v in pushed(sio)] == ["succeeded"]


@pytest.mark.parametrize("answer", [Answer(500, {"error": {"type": "api_error"}}), Answer.delayed(2)])
def test_refresh_when_stripe_fails_is_a_clean_502_and_changes_nothing(api, fake, shop, answer):
    created, sio = shop
    fake.succeed(created["gateway_order_id"])
    fake.script(answer, path="/v1/payment_intents/")
    response = api.post(f"/api/payments/{created['id']}/refresh")
    assert response.status_code == 502 and response.get_json()["error"]["code"] == "gateway_error"
    assert SECRET_KEY not in response.get_data(as_text=True) and unchanged(api, created, sio)


# -- fuzz ---------------------------------------------------------------------------------------
fuzz_settings = fuzzing(60, HealthCheck.too_slow)
json_values = any_json(text=30, keys=8, width=3, leaves=12)
wrong_values = {
    "amount_received": json_values.filter(lambda v: type(v) is not int) | st.integers(min_value=10**15)
    | st.integers(max_value=-1),
    "currency": json_values.filter(lambda v: not (isinstance(v, str) and len(v) == 3)) | st.just("€€€"),
    "id": json_values.filter(lambda v: not isinstance(v, str)) | st.just("") | st.text(min_size=101),
}


@fuzz_settings
@given(body=st.binary(max_size=512) | json_values.map(lambda v: json.dumps(v).encode()),
       header=st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=120))
def test_fuzz_unsigned_webhooks_are_refused_and_change_nothing(api, fake, shop, body, header):
    created, sio = shop
    response = api.client.post("/webhooks/stripe", data=body, headers={"Stripe-Signature": header})
    assert response.status_code in (400, 401) and unchanged(api, created, sio)


@fuzz_settings
@given(data=st.data(), field=st.sampled_from(sorted(wrong_values)))
def test_fuzz_signed_successes_with_impossible_fields_are_400_and_change_nothing(api, fake, shop, data, field):
    created, sio = shop
    intent = {**fake.succeed(created["gateway_order_id"]), field: data.draw(wrong_values[field])}
    response = send(api, fake, fake.event("payment_intent.succeeded", intent))
    assert response.status_code == 400 and unchanged(api, created, sio)


@fuzz_settings
@given(cut=st.integers(min_value=0, max_value=10_000))
def test_fuzz_signed_truncated_bodies_are_400_and_change_nothing(api, fake, shop, cut):
    created, sio = shop
    body = json.dumps(fake.event("payment_intent.succeeded", fake.succeed(created["gateway_order_id"]))).encode()
    response = send(api, fake, body[: cut % len(body)])
    assert response.status_code == 400 and unchanged(api, created, sio)
