"""StripeGateway against a fake Stripe over real HTTP: PaymentIntents, idempotency, polling,
outages; and the official stripe.StripeClient talking to the same fake."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import stripe

from payhub.config import Settings
from payhub.gateways.base import AmountNotAccepted, GatewayError, PaymentRef
from payhub.gateways.stripe_gateway import StripeGateway
from tests.fakes import Answer
from tests.fakes.stripe_api import SECRET_KEY, WEBHOOK_SECRET, FakeStripe


@pytest.fixture
def fake():
    with FakeStripe() as server:
        yield server


def make_gateway(url: str, **kw: Any) -> StripeGateway:
    return StripeGateway(**{"secret_key": SECRET_KEY, "webhook_secret": WEBHOOK_SECRET, "base_url": url,
                            "timeout": 1.0, **kw})


@pytest.fixture
def gateway(fake):
    return make_gateway(fake.url)


def ref(**kw: Any) -> PaymentRef:
    values = {"id": "pay_hub123", "order_id": "order-42", "amount": 2500, "currency": "USD",
              "created_at": datetime.now(UTC), **kw}
    return PaymentRef(**values)


def opened(gateway: StripeGateway, **kw: Any) -> PaymentRef:
    return ref(**kw, gateway_order_id=gateway.create(ref(**kw)).gateway_order_id)


# -- create -------------------------------------------------------------------------------------
def test_create_posts_a_form_encoded_payment_intent_with_bearer_auth(fake, gateway):
    checkout = gateway.create(ref(status_page_url="https://hub.example/pay/pay_hub123?token=t"))
    (call,) = fake.calls_to("POST", "/v1/payment_intents")
    assert call.header("authorization") == f"Bearer {SECRET_KEY}"
    assert call.header("content-type") == "application/x-www-form-urlencoded"
    assert call.form() == {"amount": "2500", "currency": "usd", "metadata[payhub_payment_id]": "pay_hub123",
                           "metadata[order_id]": "order-42", "automatic_payment_methods[enabled]": "true"}
    intent = fake.intents[checkout.gateway_order_id]
    assert intent["metadata"] == {"payhub_payment_id": "pay_hub123", "order_id": "order-42"}
    assert checkout.checkout == {"client_secret": intent["client_secret"], "payment_intent_id": intent["id"],
                                 "return_url": "https://hub.example/pay/pay_hub123?token=t"}


def test_the_publishable_key_is_handed_to_the_browser_when_set(fake):
    checkout = make_gateway(fake.url, publishable_key="pk_test_abc").create(ref())
    assert checkout.checkout["publishable_key"] == "pk_test_abc"
    assert SECRET_KEY not in repr(checkout)


def test_a_retried_create_gets_the_same_intent_not_a_second_one(fake, gateway):
    first = gateway.create(ref())
    fake.script(Answer(500, {"error": {"type": "api_error"}}))  # an outage in between
    with pytest.raises(GatewayError):
        gateway.create(ref())
    again = gateway.create(ref())
    assert again.gateway_order_id == first.gateway_order_id and len(fake.intents) == 1
    keys = {c.header("idempotency-key") for c in fake.calls_to("POST", "/v1/payment_intents")}
    assert keys == {"payhub-create-pay_hub123"}
    assert gateway.create(ref(id="pay_other")).gateway_order_id != first.gateway_order_id


@pytest.mark.parametrize(("fields", "field"), [
    ({"amount": 10}, "amount"), ({"amount": 10**9}, "amount"), ({"currency": "XX1"}, "currency"),
])
def test_amounts_stripe_refuses_are_the_merchants_400_not_a_502(gateway, fields, field):
    with pytest.raises(AmountNotAccepted) as caught:
        gateway.create(ref(**fields))
    assert caught.value.field == field and "Stripe refused" in str(caught.value)


@pytest.mark.parametrize(("amount", "currency", "ok"), [
    (0, "USD", False), (1005, "KWD", False), (1000, "KWD", True), (1005, "USD", True), (50, "JPY", True),
])
def test_validate(gateway, amount, currency, ok):
    if ok:
        gateway.validate(order_id="o", amount=amount, currency=currency)
    else:
        with pytest.raises(AmountNotAccepted):
            gateway.validate(order_id="o", amount=amount, currency=currency)


def test_a_wrong_key_is_a_gateway_error_naming_no_key(fake):
    with pytest.raises(GatewayError) as caught:
        make_gateway(fake.url, secret_key="sk_test_wrong_key_123").create(ref())
    assert "401" in str(caught.value) and "sk_test_wrong_key_123" not in str(caught.value)


@pytest.mark.parametrize("answer", [
    Answer(500, {"error": {"type": "api_error", "message": "boom"}}),
    Answer(429, {"error": {"type": "invalid_request_error", "code": "rate_limit"}}),
    Answer(200, "<html>"),
    Answer(200, {"object": "payment_intent"}),  # no id, no client_secret
    Answer.delayed(3),
])
def test_create_failures_are_gateway_errors(fake, gateway, answer):
    fake.script(answer)
    with pytest.raises(GatewayError) as caught:
        gateway.create(ref())
    assert SECRET_KEY not in str(caught.value)


# -- poll ---------------------------------------------------------------------------------------
def test_poll_asks_for_the_intent_with_its_latest_charge_expanded(fake, gateway):
    payment = opened(gateway)
    update = gateway.poll(payment)
    (call,) = fake.calls_to("GET", rf"/v1/payment_intents/{payment.gateway_order_id}")
    assert call.query == {"expand[]": ["latest_charge"]} and call.header("authorization") == f"Bearer {SECRET_KEY}"
    assert (update.status, update.gateway_status, update.source) == ("pending", "requires_payment_method", "poll")
    assert (update.payment_id, update.gateway_order_id) == ("pay_hub123", payment.gateway_order_id)
    assert "client_secret" not in update.payload and update.payload["id"] == payment.gateway_order_id


def test_the_poll_payload_keeps_the_facts_not_the_card_or_billing_details(fake, gateway):
    payment = opened(gateway)
    fake.succeed(payment.gateway_order_id)
    fake.refund(payment.gateway_order_id, 500)
    payload = gateway.poll(payment).payload
    assert payload["latest_charge"]["amount_refunded"] == 500 and payload["amount_received"] == 2500
    assert "payment_method_details" not in payload["latest_charge"] and "4242" not in repr(payload)


@pytest.mark.parametrize(("move", "status"), [
    ("process", "pending"), ("fail", "failed"), ("cancel", "cancelled"),
])
def test_poll_maps_the_intent_status(fake, gateway, move, status):
    payment = opened(gateway)
    getattr(fake, move)(payment.gateway_order_id)
    assert gateway.poll(payment).status == status


def test_poll_of_a_succeeded_intent_reports_the_amount_received(fake, gateway):
    payment = opened(gateway)
    intent = fake.succeed(payment.gateway_order_id, amount_received=2400)
    update = gateway.poll(payment)
    assert (update.status, update.amount_received, update.currency) == ("succeeded", 2400, "USD")
    assert update.gateway_payment_id == intent["latest_charge"]


def test_poll_sees_refunds_on_the_latest_charge(fake, gateway):
    payment = opened(gateway)
    fake.succeed(payment.gateway_order_id)
    fake.refund(payment.gateway_order_id, 1000)
    assert gateway.poll(payment).status == "refund_pending"
    fake.refund(payment.gateway_order_id)
    assert gateway.poll(payment).status == "refunded"


@pytest.mark.parametrize("answer", [
    Answer(500, {"error": {"type": "api_error"}}), Answer(200, "nope"), Answer(200, {"status": 5}),
    Answer(200, {"status": "succeeded", "amount_received": "2500", "currency": "usd"}), Answer.delayed(3),
])
def test_poll_failures_are_gateway_errors(fake, gateway, answer):
    payment = opened(gateway)
    fake.script(answer)
    with pytest.raises(GatewayError):
        gateway.poll(payment)


def test_poll_of_an_intent_stripe_does_not_know_is_a_gateway_error(gateway):
    with pytest.raises(GatewayError, match="404 resource_missing"):
        gateway.poll(ref(gateway_order_id="pi_nope"))


# -- the official SDK talks to the fake ---------------------------------------------------------
def test_the_official_client_works_against_the_fake(fake):
    client = stripe.StripeClient(SECRET_KEY, base_addresses={"api": fake.url}, max_network_retries=0)
    intent = client.v1.payment_intents.create(params={
        "amount": 1999, "currency": "eur", "metadata": {"payhub_payment_id": "pay_x"},
        "automatic_payment_methods": {"enabled": True}})
    assert intent.status == "requires_payment_method" and intent.metadata["payhub_payment_id"] == "pay_x"
    fake.succeed(intent.id)
    fetched = client.v1.payment_intents.retrieve(intent.id, params={"expand": ["latest_charge"]})
    assert fetched.status == "succeeded" and fetched.latest_charge.object == "charge"
    assert client.v1.payment_intents.cancel(intent.id).status == "canceled"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.payment_intents.create(params={"amount": 1, "currency": "eur"})
    assert caught.value.code == "amount_too_small"
    with pytest.raises(stripe.AuthenticationError):
        stripe.StripeClient("sk_test_bad", base_addresses={"api": fake.url},
                            max_network_retries=0).v1.payment_intents.retrieve(intent.id)


def test_the_fake_honours_idempotency_keys_like_stripe(fake):
    client = stripe.StripeClient(SECRET_KEY, base_addresses={"api": fake.url}, max_network_retries=0)
    params = {"amount": 1999, "currency": "eur"}
    one = client.v1.payment_intents.create(params=params, options={"idempotency_key": "k1"})
    two = client.v1.payment_intents.create(params=params, options={"idempotency_key": "k1"})
    assert one.id == two.id
    with pytest.raises(stripe.IdempotencyError):
        client.v1.payment_intents.create(params={**params, "amount": 5000}, options={"idempotency_key": "k1"})


# -- configuration ------------------------------------------------------------------------------
def settings(**extra: str) -> Settings:
    return Settings(instance_path="/tmp", extra=extra)


def test_without_a_secret_key_stripe_is_disabled():
    assert StripeGateway.from_config(settings(stripe_webhook_secret="whsec_x")) is None


def test_from_config_reads_the_payhub_stripe_variables(fake):
    gateway = StripeGateway.from_config(settings(
        stripe_secret_key=SECRET_KEY, stripe_webhook_secret=WEBHOOK_SECRET, stripe_publishable_key="pk_test_1",
        stripe_base_url=fake.url))
    assert gateway.create(ref()).checkout["publishable_key"] == "pk_test_1"
    assert StripeGateway.from_config(settings(stripe_secret_key="sk"))._base_url == "https://api.stripe.com"
