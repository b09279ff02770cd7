"""RazorpayGateway against a fake Razorpay over real HTTP: creating orders, polling, outages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import razorpay

from payhub.config import Settings
from payhub.gateways.base import AmountNotAccepted, GatewayError, InvalidSignature, PaymentRef, RawRequest
from payhub.gateways.razorpay import RazorpayGateway
from tests.fakes import Answer
from tests.fakes.razorpay_api import KEY_ID, KEY_SECRET, WEBHOOK_SECRET, FakeRazorpay


@pytest.fixture
def fake():
    with FakeRazorpay() as server:
        yield server


def make_gateway(fake: FakeRazorpay, **kw: Any) -> RazorpayGateway:
    options = {"key_id": KEY_ID, "key_secret": KEY_SECRET, "webhook_secrets": (WEBHOOK_SECRET,),
               "public_url": "https://hub.example/", "timeout": 1.0, **kw}
    return RazorpayGateway(**{"base_url": kw.get("base_url") or fake.url, **options})


@pytest.fixture
def gateway(fake):
    return make_gateway(fake)


def ref(**kw: Any) -> PaymentRef:
    values = {"id": "pay_hub123", "order_id": "order-42", "amount": 50000, "currency": "INR",
              "created_at": datetime.now(UTC), **kw}
    return PaymentRef(**values)


def opened(gateway: RazorpayGateway, **kw: Any) -> PaymentRef:
    """A payment created at the fake, as PayHub would hand it to poll()."""
    payment = ref(**kw)
    return ref(**kw, gateway_order_id=gateway.create(payment).gateway_order_id)


# -- create -------------------------------------------------------------------------------------
def test_create_sends_an_order_with_basic_auth_and_hands_checkout_js_its_options(fake, gateway):
    customer = {"name": "Asha", "email": "asha@example.com", "phone": "+919876543210"}
    checkout = gateway.create(ref(customer=customer))
    (call,) = fake.calls_to("POST", "/v1/orders")
    assert call.json() == {"amount": 50000, "currency": "INR", "receipt": "order-42",
                           "notes": {"payhub_payment_id": "pay_hub123"}}
    assert call.header("content-type") == "application/json"
    order = fake.orders[checkout.gateway_order_id]
    assert order["receipt"] == "order-42"
    assert checkout.checkout == {
        "key_id": KEY_ID, "key": KEY_ID, "order_id": order["id"], "amount": 50000, "currency": "INR",
        "callback_url": "https://hub.example/return/razorpay", "redirect": True,
        "prefill": {"name": "Asha", "email": "asha@example.com", "contact": "+919876543210"},
        "notes": {"payhub_payment_id": "pay_hub123"},  # copied onto the payment: its webhooks name PayHub
    }


def test_checkout_never_carries_the_key_secret(fake, gateway):
    assert KEY_SECRET not in repr(gateway.create(ref()))


@pytest.mark.parametrize(("fields", "field"), [({"amount": 99}, "amount"), ({"order_id": "x" * 41}, "order_id")])
def test_validate_refuses_what_razorpay_would_refuse(gateway, fields, field):
    values = {"order_id": "order-42", "amount": 50000, "currency": "INR", **fields}
    with pytest.raises(AmountNotAccepted) as caught:
        gateway.validate(**values)
    assert caught.value.field == field


def test_validate_accepts_the_limits_and_the_fake_agrees(fake, gateway):
    gateway.validate(order_id="x" * 40, amount=100, currency="INR")
    assert gateway.create(ref(order_id="x" * 40, amount=100)).gateway_order_id.startswith("order_")


def test_wrong_key_is_a_gateway_error_that_names_no_secret(fake):
    gateway = make_gateway(fake, key_secret="wrong_secret_value")
    with pytest.raises(GatewayError) as caught:
        gateway.create(ref())
    assert "401" in str(caught.value)
    assert "wrong_secret_value" not in str(caught.value) and KEY_ID not in str(caught.value)


@pytest.mark.parametrize("answer", [
    Answer(500, {"error": {"code": "SERVER_ERROR", "description": "oops"}}),
    Answer(502, "<html>bad gateway</html>"),
    Answer(200, "not json"),
    Answer(200, ["a", "list"]),
    Answer(200, {"entity": "order"}),  # no id
    Answer.delayed(3),  # longer than the 1 s timeout
])
def test_create_failures_are_gateway_errors(fake, gateway, answer):
    fake.script(answer)
    with pytest.raises(GatewayError) as caught:
        gateway.create(ref())
    assert KEY_SECRET not in str(caught.value)


def test_create_when_nothing_listens_is_a_gateway_error(fake):
    url = fake.url
    fake.stop()
    with pytest.raises(GatewayError, match="unreachable"):
        make_gateway(fake, base_url=url).create(ref())


# -- poll ---------------------------------------------------------------------------------------
def test_poll_of_an_order_nobody_paid_yet_is_pending(fake, gateway):
    payment = opened(gateway)
    update = gateway.poll(payment)
    (call,) = fake.calls_to("GET", rf"/v1/orders/{payment.gateway_order_id}/payments")
    assert call.header("authorization", "").startswith("Basic ")
    assert (update.status, update.source, update.payment_id) == ("pending", "poll", "pay_hub123")
    assert update.gateway_order_id == payment.gateway_order_id


def test_poll_finds_the_captured_attempt_after_failed_ones(fake, gateway):
    payment = opened(gateway)
    fake.pay(payment.gateway_order_id, "failed")
    captured = fake.pay(payment.gateway_order_id, "captured")
    update = gateway.poll(payment)
    assert (update.status, update.amount_received, update.currency) == ("succeeded", 50000, "INR")
    assert update.gateway_payment_id == captured["id"]
    assert [i["status"] for i in update.payload["items"]] == ["failed", "captured"]
    assert "email" not in update.payload["items"][0]  # the audit log keeps no contact data


@pytest.mark.parametrize(("attempts", "status"), [
    (["failed"], "failed"),
    (["failed", "failed"], "failed"),
    (["authorized"], "pending"),
    (["failed", "authorized"], "pending"),
])
def test_poll_maps_the_attempts(fake, gateway, attempts, status):
    payment = opened(gateway)
    for attempt in attempts:
        fake.pay(payment.gateway_order_id, attempt)
    assert gateway.poll(payment).status == status


def test_poll_sees_refunds(fake, gateway):
    payment = opened(gateway)
    paid = fake.pay(payment.gateway_order_id)
    fake.refund(paid["id"], 20000)
    assert gateway.poll(payment).status == "refund_pending"
    fake.refund(paid["id"])
    assert gateway.poll(payment).status == "refunded"


@pytest.mark.parametrize("answer", [
    Answer(500, {"error": {"code": "SERVER_ERROR"}}),
    Answer(200, "{truncated"),
    Answer(200, {"entity": "collection", "items": "nope"}),
    Answer(200, {"entity": "collection", "items": [{"id": "pay_1", "status": "captured", "amount": "lots"}]}),
    Answer.delayed(3),
])
def test_poll_failures_are_gateway_errors(fake, gateway, answer):
    payment = opened(gateway)
    fake.script(answer)
    with pytest.raises(GatewayError) as caught:
        gateway.poll(payment)
    assert KEY_SECRET not in str(caught.value)


def test_poll_of_an_order_razorpay_does_not_know_is_a_gateway_error(gateway):
    with pytest.raises(GatewayError, match="400"):
        gateway.poll(ref(gateway_order_id="order_unknown"))


# -- the official SDK talks to the fake ---------------------------------------------------------
def test_the_official_client_works_against_the_fake(fake):
    client = razorpay.Client(auth=(KEY_ID, KEY_SECRET), base_url=fake.url)
    order = client.order.create({"amount": 12345, "currency": "INR", "receipt": "rcpt-1"})
    assert order["entity"] == "order" and order["status"] == "created"
    payment = fake.pay(order["id"])
    assert client.order.fetch(order["id"])["status"] == "paid"
    assert client.order.payments(order["id"])["items"][0]["id"] == payment["id"]
    assert client.payment.fetch(payment["id"])["amount"] == 12345
    with pytest.raises(razorpay.errors.BadRequestError):
        client.order.create({"amount": 99, "currency": "INR"})
    with pytest.raises(razorpay.errors.BadRequestError, match="Authentication"):
        razorpay.Client(auth=(KEY_ID, "nope"), base_url=fake.url).order.fetch(order["id"])


# -- configuration ------------------------------------------------------------------------------
def settings(**extra: str) -> Settings:
    return Settings(instance_path="/tmp", public_url="http://127.0.0.1:5000", extra=extra)


def test_without_credentials_razorpay_is_disabled():
    assert RazorpayGateway.from_config(settings()) is None
    assert RazorpayGateway.from_config(settings(razorpay_key_id="rzp_test_x")) is None


def test_from_config_reads_the_payhub_razorpay_variables(fake):
    gateway = RazorpayGateway.from_config(settings(
        razorpay_key_id=KEY_ID, razorpay_key_secret=KEY_SECRET, razorpay_webhook_secret=WEBHOOK_SECRET,
        razorpay_base_url=fake.url))
    checkout = gateway.create(ref())
    assert checkout.checkout["callback_url"] == "http://127.0.0.1:5000/return/razorpay"
    assert len(fake.calls) == 1


def test_from_config_accepts_the_previous_webhook_secret_during_a_rotation(fake):
    gateway = RazorpayGateway.from_config(settings(
        razorpay_key_id=KEY_ID, razorpay_key_secret=KEY_SECRET, razorpay_webhook_secret="new_secret",
        razorpay_webhook_secret_previous=WEBHOOK_SECRET, razorpay_base_url=fake.url))
    payment = fake.pay(gateway.create(ref()).gateway_order_id)
    for secret in ("new_secret", WEBHOOK_SECRET):
        body, headers = fake.webhook(fake.event("payment.captured", payment), secret=secret)
        assert gateway.parse_webhook(RawRequest(body=body, headers=headers)).status == "succeeded"
    body, headers = fake.webhook(fake.event("payment.captured", payment), secret="older_still")
    with pytest.raises(InvalidSignature):
        gateway.parse_webhook(RawRequest(body=body, headers=headers))


def test_the_default_base_url_is_the_real_api():
    gateway = RazorpayGateway.from_config(settings(razorpay_key_id="k", razorpay_key_secret="s"))
    assert gateway._base_url == "https://api.razorpay.com"
