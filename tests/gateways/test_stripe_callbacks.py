"""StripeGateway's webhooks: Stripe-Signature checked against the official stripe library and the
GATEWAYS.md §6 vector, replay tolerance, event mapping, and fuzzing of the parser."""

from __future__ import annotations

import json
import time

import pytest
import stripe
from hypothesis import given
from hypothesis import strategies as st

from payhub.gateways.base import BadCallback, InvalidSignature, RawRequest, StatusUpdate
from payhub.gateways.stripe_gateway import StripeGateway, verify_signature
from tests.fakes.stripe_api import SECRET_KEY, WEBHOOK_SECRET, FakeStripe
from tests.gateways.helpers import any_json, fuzzing

VECTOR_BODY = b'{"id":"evt_1","object":"event"}'
VECTOR_V1 = "c082a9feb29d45422338b8d4dc9e1a8b3db247f5e1d54c9ef5175bb849b72c37"


@pytest.fixture(scope="module")
def fake():
    with FakeStripe() as server:
        yield server


@pytest.fixture
def gateway(fake):
    return StripeGateway(secret_key=SECRET_KEY, webhook_secret=WEBHOOK_SECRET, base_url=fake.url)


@pytest.fixture
def intent(fake):
    """A PaymentIntent PayHub created at the fake Stripe."""
    params = {"amount": "2500", "currency": "usd", "metadata": {"payhub_payment_id": "pay_1", "order_id": "o-1"}}
    return fake.intents[fake._new_intent(params).body["id"]]


def deliver(gateway: StripeGateway, body: bytes, headers: dict[str, str]) -> StatusUpdate | None:
    return gateway.parse_webhook(RawRequest(body=body, headers=headers, content_type="application/json"))


# -- the signature ------------------------------------------------------------------------------
def test_the_gateways_md_vector():
    header = f"t=1700000000,v1={VECTOR_V1}"
    verify_signature("whsec_test123", VECTOR_BODY, header, now=1700000000)
    assert stripe.WebhookSignature.generate_signature_header(VECTOR_BODY.decode(), "whsec_test123",
                                                            timestamp=1700000000) == header
    with pytest.raises(InvalidSignature):
        verify_signature("whsec_test123", VECTOR_BODY + b" ", header, now=1700000000)


def test_the_key_is_the_whole_whsec_string():
    with pytest.raises(InvalidSignature):
        verify_signature("test123", VECTOR_BODY, f"t=1700000000,v1={VECTOR_V1}", now=1700000000)


@pytest.mark.parametrize(("age", "ok"), [(0, True), (299, True), (301, False), (10_000, False), (-600, True)])
def test_signatures_older_than_five_minutes_are_replays(age, ok):
    header = f"t=1700000000,v1={VECTOR_V1}"
    if ok:
        verify_signature("whsec_test123", VECTOR_BODY, header, now=1700000000 + age)
    else:
        with pytest.raises(InvalidSignature, match="too old"):
            verify_signature("whsec_test123", VECTOR_BODY, header, now=1700000000 + age)


def headers_to_try(body: str) -> list[str]:
    good = stripe.WebhookSignature.generate_signature_header(body, WEBHOOK_SECRET)
    t, v1 = good.split(",")
    old = stripe.WebhookSignature.generate_signature_header(body, WEBHOOK_SECRET, timestamp=int(time.time()) - 400)
    return [
        good, f"{t},v1=00{v1[3:]},{v1}", f"{t},v0=abc,{v1}", f"{v1},{t}", f"{t},{v1},scheme=x",
        f"{t}, {v1}", f"{t},v1={v1[3:].upper()}", f"{t}", v1, "", "t=abc," + v1, old, f"{t},v1=",
        stripe.WebhookSignature.generate_signature_header(body, "whsec_other"),
        stripe.WebhookSignature.generate_signature_header(body + " ", WEBHOOK_SECRET),
    ]


@pytest.mark.parametrize("index", range(15))
def test_payhub_accepts_exactly_the_headers_the_stripe_library_accepts(gateway, index):
    body = json.dumps({"id": "evt_x", "object": "event", "type": "customer.created", "data": {"object": {}}})
    header = headers_to_try(body)[index]
    try:
        stripe.Webhook.construct_event(body, header, WEBHOOK_SECRET)
        stripe_says = True
    except stripe.SignatureVerificationError:
        stripe_says = False
    try:
        deliver(gateway, body.encode(), {"Stripe-Signature": header})
        payhub_says = True
    except InvalidSignature:
        payhub_says = False
    assert payhub_says == stripe_says


def test_the_fakes_webhooks_verify_with_the_stripe_library(fake, intent):
    body, headers = fake.webhook(fake.event("payment_intent.succeeded", fake.succeed(intent["id"])))
    event = stripe.Webhook.construct_event(body, headers["Stripe-Signature"], WEBHOOK_SECRET)
    assert event.type == "payment_intent.succeeded"


@pytest.mark.parametrize("headers", [{}, {"Stripe-Signature": ""}, {"Stripe-Signature": "t=1,v1=" + "é" * 64}])
def test_missing_or_garbled_signatures_are_refused(gateway, headers):
    with pytest.raises(InvalidSignature):
        deliver(gateway, VECTOR_BODY, headers)


def test_without_a_webhook_secret_every_webhook_is_refused(fake, intent):
    gateway = StripeGateway(secret_key=SECRET_KEY, base_url=fake.url)
    body, headers = fake.webhook(fake.event("payment_intent.succeeded", intent), secret="")
    with pytest.raises(InvalidSignature):
        deliver(gateway, body, headers)


# -- events -------------------------------------------------------------------------------------
def test_succeeded_intent_brings_amount_upper_cased_currency_charge_and_event_id(fake, gateway, intent):
    fake.succeed(intent["id"])
    body, headers = fake.webhook(fake.event("payment_intent.succeeded", intent, event_id="evt_ok_1"))
    update = deliver(gateway, body, headers)
    assert (update.status, update.amount_received, update.currency) == ("succeeded", 2500, "USD")
    assert (update.gateway_order_id, update.gateway_payment_id) == (intent["id"], intent["latest_charge"])
    assert (update.gateway_event_id, update.source, update.gateway_status) == ("evt_ok_1", "webhook",
                                                                             "payment_intent.succeeded")
    assert update.payload["data"]["object"]["client_secret"] == "[redacted]"


def test_lower_case_header_names_work(fake, gateway, intent):
    body, headers = fake.webhook(fake.event("payment_intent.processing", fake.process(intent["id"])))
    assert deliver(gateway, body, {"stripe-signature": headers["Stripe-Signature"]}).status == "pending"


@pytest.mark.parametrize(("event_type", "move", "status"), [
    ("payment_intent.processing", "process", "pending"),
    ("payment_intent.payment_failed", "fail", "failed"),
    ("payment_intent.canceled", "cancel", "cancelled"),
])
def test_intent_events_map_to_payhub_statuses(fake, gateway, intent, event_type, move, status):
    obj = getattr(fake, move)(intent["id"])
    update = deliver(gateway, *fake.webhook(fake.event(event_type, obj)))
    assert (update.status, update.gateway_order_id, update.amount_received) == (status, intent["id"], None)


def test_charge_refunded_is_refunded_only_when_the_whole_charge_went_back(fake, gateway, intent):
    fake.succeed(intent["id"])
    partial = fake.refund(intent["id"], 500)
    update = deliver(gateway, *fake.webhook(fake.event("charge.refunded", partial)))
    assert (update.status, update.gateway_order_id, update.gateway_payment_id) == (
        "refund_pending", intent["id"], partial["id"])
    assert update.subject_id is None  # a charge may hold several refunds: it names none of them
    full = fake.refund(intent["id"])
    assert deliver(gateway, *fake.webhook(fake.event("charge.refunded", full))).status == "refunded"


@pytest.mark.parametrize(("event_type", "status", "kind"), [
    ("refund.created", "pending", "refund_pending"), ("refund.created", "succeeded", "refund_pending"),
    ("refund.updated", "requires_action", "refund_pending"), ("refund.updated", "succeeded", "refund_pending"),
    ("refund.updated", "failed", "refund_failed"), ("refund.updated", "canceled", "refund_failed"),
    ("charge.refund.updated", "failed", "refund_failed"), ("refund.failed", "failed", "refund_failed"),
])
def test_refund_objects_map_to_update_kinds(fake, gateway, intent, event_type, status, kind):
    fake.succeed(intent["id"])
    refund = fake.refund_object(intent["id"], 1000, status=status)
    update = deliver(gateway, *fake.webhook(fake.event(event_type, refund)))
    assert (update.kind, update.gateway_order_id, update.gateway_payment_id) == (kind, intent["id"], refund["charge"])
    assert update.subject_id == refund["id"]  # which refund: its failure may come before its creation
    assert update.unknown_is_foreign is True  # a refund of an intent PayHub lacks is not PayHub's


@pytest.mark.parametrize("event_type", ["charge.dispute.created", "charge.dispute.updated", "charge.dispute.closed",
                                        "charge.dispute.funds_withdrawn", "charge.dispute.funds_reinstated"])
def test_disputes_are_kept_as_information_on_the_payment(fake, gateway, intent, event_type):
    fake.succeed(intent["id"])
    update = deliver(gateway, *fake.webhook(fake.event(event_type, fake.dispute(intent["id"]))))
    assert (update.kind, update.status, update.gateway_order_id, update.gateway_status) == (
        "info", "pending", intent["id"], event_type)


def test_other_events_naming_an_intent_are_kept_as_information(fake, gateway, intent):
    created = deliver(gateway, *fake.webhook(fake.event("payment_intent.created", intent)))
    assert (created.kind, created.gateway_order_id) == ("info", intent["id"])
    charge = fake.charges[fake.succeed(intent["id"])["latest_charge"]]
    succeeded = deliver(gateway, *fake.webhook(fake.event("charge.succeeded", charge)))
    assert (succeeded.kind, succeeded.gateway_order_id) == ("info", intent["id"])
    expanded = dict(charge, payment_intent=dict(intent))
    assert deliver(gateway, *fake.webhook(fake.event("charge.updated", expanded))).gateway_order_id == intent["id"]


def test_checkout_session_completed_counts_only_when_paid(fake, gateway, intent):
    session = {"id": "cs_test_1", "object": "checkout.session", "status": "complete", "payment_status": "paid",
               "payment_intent": intent["id"], "amount_total": 2500, "currency": "usd"}
    update = deliver(gateway, *fake.webhook(fake.event("checkout.session.completed", session)))
    assert (update.status, update.amount_received, update.currency, update.gateway_order_id) == (
        "succeeded", 2500, "USD", intent["id"])
    unpaid = {**session, "payment_status": "unpaid"}
    update = deliver(gateway, *fake.webhook(fake.event("checkout.session.completed", unpaid)))
    assert (update.kind, update.gateway_order_id) == ("info", intent["id"])  # kept, never applied


def test_events_about_other_things_are_ignored(fake, gateway, intent):
    assert deliver(gateway, *fake.webhook(fake.event("customer.created", {"id": "cus_1"}))) is None
    foreign = {**intent, "metadata": {}}  # maybe an intent another integration on the account made
    update = deliver(gateway, *fake.webhook(fake.event("payment_intent.succeeded", foreign)))
    assert (update.gateway_order_id, update.unknown_is_foreign) == (intent["id"], True)
    ours = deliver(gateway, *fake.webhook(fake.event("payment_intent.succeeded", intent)))
    assert ours.unknown_is_foreign is False
    no_intent = {"id": "ch_1", "object": "charge", "refunded": True, "payment_intent": None}
    assert deliver(gateway, *fake.webhook(fake.event("charge.refunded", no_intent))) is None


@pytest.mark.parametrize("change", [
    {"amount_received": "2500"}, {"amount_received": 2500.0}, {"amount_received": None}, {"amount_received": -5},
    {"amount_received": 10**30}, {"currency": "dollars"}, {"currency": None}, {"id": 12}, {"id": ""},
])
def test_authentic_but_malformed_intents_are_bad_callbacks(fake, gateway, intent, change):
    obj = {**fake.succeed(intent["id"]), **change}
    with pytest.raises(BadCallback):
        deliver(gateway, *fake.webhook(fake.event("payment_intent.succeeded", obj)))


@pytest.mark.parametrize("body", [
    b"", b"[]", b"{", b"\xff", b'{"id": "evt_1"}', b'{"id": "evt_1", "type": "x", "data": []}',
    b'{"id": 5, "type": "x", "data": {"object": {}}}', b"[" * 100_000,
    b'{"id": "evt_1", "type": "charge.refunded", "data": {"object": {"refunded": "yes"}}}',
])
def test_authentic_garbage_is_a_bad_callback(fake, gateway, body):
    with pytest.raises(BadCallback):
        deliver(gateway, *fake.webhook(body))


json_values = any_json(text=20, keys=10, width=4, leaves=20, nan=False)
event_types = st.sampled_from(["payment_intent.succeeded", "payment_intent.payment_failed", "charge.refunded",
                               "checkout.session.completed", "payment_intent.canceled", "other"])
object_keys = st.sampled_from(["id", "metadata", "amount_received", "currency", "refunded", "payment_intent",
                               "payment_status", "amount_total", "latest_charge", "status"])


@fuzzing(150)
@given(event_type=event_types, obj=st.dictionaries(object_keys, json_values), raw=json_values)
def test_signed_random_events_never_crash_the_parser(fake, gateway, event_type, obj, raw):
    obj.setdefault("metadata", {"payhub_payment_id": "pay_1"})
    for event in ({"id": "evt_f", "type": event_type, "data": {"object": obj}}, raw):
        try:
            update = deliver(gateway, *fake.webhook(json.dumps(event).encode()))
        except BadCallback:
            continue
        assert update is None or update.status in {"pending", "succeeded", "failed", "cancelled", "refund_pending",
                                                   "refunded"}


@fuzzing(150)
@given(body=st.binary(max_size=300), header=st.text(max_size=120))
def test_random_unsigned_bodies_are_always_invalid_signatures(gateway, body, header):
    with pytest.raises(InvalidSignature):
        deliver(gateway, body, {"Stripe-Signature": header})
