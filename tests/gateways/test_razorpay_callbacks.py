"""RazorpayGateway's webhooks and browser returns: signatures checked by the official razorpay
package and GATEWAYS.md §6 vectors, event mapping, and fuzzing of the parsers."""

from __future__ import annotations

import json

import pytest
import razorpay
from hypothesis import given
from hypothesis import strategies as st

from payhub.gateways.base import BadCallback, InvalidSignature, RawRequest, StatusUpdate, UnverifiedReturn
from payhub.gateways.razorpay import RazorpayGateway
from tests.fakes import Answer
from tests.fakes.razorpay_api import KEY_ID, KEY_SECRET, WEBHOOK_SECRET, FakeRazorpay
from tests.gateways.helpers import any_json, fuzzing


@pytest.fixture(scope="module")
def fake():
    with FakeRazorpay() as server:
        yield server


@pytest.fixture
def gateway(fake):
    return RazorpayGateway(key_id=KEY_ID, key_secret=KEY_SECRET, webhook_secrets=(WEBHOOK_SECRET, "old_secret"),
                           public_url="https://hub.example", base_url=fake.url, timeout=1.0)


@pytest.fixture
def order(fake):
    """An order at the fake Razorpay, as PayHub's create() would have made it."""
    return fake.orders.setdefault("order_T3st", {
        "id": "order_T3st", "entity": "order", "amount": 50000, "amount_paid": 0, "amount_due": 50000,
        "currency": "INR", "receipt": "order-42", "status": "created", "attempts": 0, "notes": {}})


def deliver(gateway: RazorpayGateway, body: bytes, headers: dict[str, str]) -> StatusUpdate | None:
    return gateway.parse_webhook(RawRequest(body=body, headers=headers, content_type="application/json"))


def sdk() -> razorpay.Client:
    return razorpay.Client(auth=(KEY_ID, KEY_SECRET))


# -- signatures, checked with code this project did not write -----------------------------------
def test_known_answer_vectors_of_gateways_md_and_the_sdk_agree():
    checkout = {"razorpay_order_id": "order_ABC", "razorpay_payment_id": "pay_XYZ",
                "razorpay_signature": "482a6b2bd480b29b51a464283d157fa3a0c2b7f265f653ea2449571681163ace"}
    assert razorpay.Client(auth=("k", "key_secret_test")).utility.verify_payment_signature(checkout)
    body = '{"entity":"event","event":"payment.captured"}'
    vector = "ad8291a0c9758b674dabe08e475c0900370ccf1d6141d82792200e65936e0e47"
    assert sdk().utility.verify_webhook_signature(body, vector, "webhook_secret_test")


def test_the_webhook_vector_passes_payhubs_check(fake):
    gateway = RazorpayGateway(key_id="k", key_secret="s", webhook_secrets=("webhook_secret_test",), public_url="")
    body = b'{"entity":"event","event":"payment.captured"}'
    vector = "ad8291a0c9758b674dabe08e475c0900370ccf1d6141d82792200e65936e0e47"
    with pytest.raises(BadCallback):  # authentic, but carries no payload
        deliver(gateway, body, {"X-Razorpay-Signature": vector})
    with pytest.raises(InvalidSignature):
        deliver(gateway, body.replace(b"captured", b"failed"), {"X-Razorpay-Signature": vector})


def test_the_return_vector_passes_payhubs_check(fake):
    gateway = RazorpayGateway(key_id="k", key_secret="key_secret_test", public_url="", base_url=fake.url, timeout=1)
    fields = {"razorpay_order_id": "order_ABC", "razorpay_payment_id": "pay_XYZ",
              "razorpay_signature": "482a6b2bd480b29b51a464283d157fa3a0c2b7f265f653ea2449571681163ace"}
    update = gateway.parse_return(RawRequest(body=b"", headers={}, form=fields))
    assert (update.status, update.gateway_order_id, update.gateway_payment_id) == ("succeeded", "order_ABC", "pay_XYZ")


def test_the_fakes_signatures_are_razorpays(fake, order):
    payment = fake.pay(order["id"])
    body, headers = fake.webhook(fake.event("payment.captured", payment))
    assert sdk().utility.verify_webhook_signature(body.decode(), headers["X-Razorpay-Signature"], WEBHOOK_SECRET)
    assert sdk().utility.verify_payment_signature(fake.return_fields(payment))


# -- webhooks -----------------------------------------------------------------------------------
def test_captured_payment_succeeds_with_amount_currency_and_event_id(fake, gateway, order):
    payment = fake.pay(order["id"])
    body, headers = fake.webhook(fake.event("payment.captured", payment), event_id="evt_cap_1")
    update = deliver(gateway, body, headers)
    assert (update.status, update.amount_received, update.currency) == ("succeeded", 50000, "INR")
    assert (update.gateway_order_id, update.gateway_payment_id) == (order["id"], payment["id"])
    assert (update.gateway_event_id, update.source) == ("evt_cap_1", "webhook")
    assert update.gateway_status == "payment.captured"
    assert update.payload == json.loads(body)


@pytest.mark.parametrize(("event", "attempt", "status"), [
    ("payment.authorized", "authorized", "pending"),
    ("payment.failed", "failed", "failed"),
    ("order.paid", "captured", "succeeded"),
])
def test_payment_events_map_to_payhub_statuses(fake, gateway, order, event, attempt, status):
    payment = fake.pay(order["id"], attempt)
    extra = {"order": fake.orders[order["id"]]} if event == "order.paid" else {}
    update = deliver(gateway, *fake.webhook(fake.event(event, payment, **extra)))
    assert update.status == status and update.gateway_order_id == order["id"]


def test_headers_are_found_whatever_their_case(fake, gateway, order):
    body, headers = fake.webhook(fake.event("payment.captured", fake.pay(order["id"])), event_id="evt_case")
    update = deliver(gateway, body, {k.lower(): v for k, v in headers.items()})
    assert update.gateway_event_id == "evt_case"


def test_an_event_signed_with_the_previous_secret_is_accepted_during_rotation(fake, gateway, order):
    body, headers = fake.webhook(fake.event("payment.captured", fake.pay(order["id"])), secret="old_secret")
    assert deliver(gateway, body, headers).status == "succeeded"


@pytest.mark.parametrize("tamper", ["body", "missing", "empty", "key_secret", "uppercase", "unicode"])
def test_unauthentic_webhooks_are_refused(fake, gateway, order, tamper):
    body, headers = fake.webhook(fake.event("payment.captured", fake.pay(order["id"])))
    if tamper == "body":
        body = body.replace(b'"amount": 50000', b'"amount": 5')
    elif tamper == "missing":
        del headers["X-Razorpay-Signature"]
    elif tamper == "empty":
        headers["X-Razorpay-Signature"] = ""
    elif tamper == "key_secret":  # the API secret is not the webhook secret
        body, headers = fake.webhook(json.loads(body), secret=KEY_SECRET)
    elif tamper == "uppercase":
        headers["X-Razorpay-Signature"] = headers["X-Razorpay-Signature"].upper()
    else:
        headers["X-Razorpay-Signature"] = "é" * 64
    with pytest.raises(InvalidSignature):
        deliver(gateway, body, headers)


def test_a_gateway_without_webhook_secret_refuses_every_webhook(fake, order):
    gateway = RazorpayGateway(key_id=KEY_ID, key_secret=KEY_SECRET, public_url="", base_url=fake.url)
    body, headers = fake.webhook(fake.event("payment.captured", fake.pay(order["id"])), secret="")
    with pytest.raises(InvalidSignature):
        deliver(gateway, body, headers)


def test_refunds_are_pending_until_the_whole_amount_went_back(fake, gateway, order):
    payment = fake.pay(order["id"])
    def refund_event(name: str, refund: dict) -> StatusUpdate:
        return deliver(gateway, *fake.webhook(fake.event(name, payment, refund=refund)))

    started = fake.refund(payment["id"], 20000, status="pending")
    assert refund_event("refund.created", started).status == "refund_pending"
    assert refund_event("refund.processed", fake.refund(payment["id"], 10000)).status == "refund_pending"
    update = refund_event("refund.processed", fake.refund(payment["id"]))
    assert (update.status, update.gateway_order_id) == ("refunded", order["id"])
    assert update.gateway_payment_id == payment["id"]


def test_a_failed_refund_is_a_refund_failed_update(fake, gateway, order):
    payment = fake.pay(order["id"])
    failed = fake.refund(payment["id"], status="failed")
    update = deliver(gateway, *fake.webhook(fake.event("refund.failed", payment, refund=failed)))
    assert (update.kind, update.status, update.gateway_order_id) == ("refund_failed", "succeeded", order["id"])
    assert update.subject_id == failed["id"]  # which refund failed: its creation may come later


def test_refund_events_name_their_refund_and_payment_events_none(fake, gateway, order):
    payment = fake.pay(order["id"])
    assert deliver(gateway, *fake.webhook(fake.event("payment.captured", payment))).subject_id is None
    for name, status in (("refund.created", "pending"), ("refund.processed", "processed")):
        refund = fake.refund(payment["id"], 10000, status=status)
        assert deliver(gateway, *fake.webhook(fake.event(name, payment, refund=refund))).subject_id == refund["id"]


def test_an_auto_refund_of_an_uncaptured_payment_is_a_failure(fake, gateway, order):
    payment = fake.pay(order["id"], "authorized")
    refund = fake.refund(payment["id"])
    assert deliver(gateway, *fake.webhook(fake.event("refund.processed", payment, refund=refund))).status == "failed"


@pytest.mark.parametrize("name", ["payment.dispute.created", "payment.dispute.lost", "payment.dispute.won",
                                  "payment.dispute.closed", "payment.dispute.under_review"])
def test_disputes_are_kept_as_information_on_the_payment(fake, gateway, order, name):
    payment = fake.pay(order["id"])
    event = fake.event(name, payment, dispute=fake.dispute(payment, status=name.rsplit(".", 1)[1]))
    update = deliver(gateway, *fake.webhook(event))
    assert (update.kind, update.status, update.gateway_status) == ("info", "pending", name)
    assert (update.gateway_order_id, update.gateway_payment_id) == (order["id"], payment["id"])
    assert update.payload["payload"]["dispute"]["entity"]["id"].startswith("disp_")


def test_other_events_naming_a_payment_are_kept_as_information(fake, gateway, order):
    payment = fake.pay(order["id"])
    refund = fake.refund(payment["id"], status="pending")
    update = deliver(gateway, *fake.webhook(fake.event("refund.speed_changed", payment, refund=refund)))
    assert (update.kind, update.gateway_order_id) == ("info", order["id"])


def test_events_that_name_no_order_are_ignored(fake, gateway, order):
    payment = fake.pay(order["id"])
    no_order = dict(payment, order_id=None)  # a payment link or POS payment: no order of ours
    assert deliver(gateway, *fake.webhook(fake.event("payment.captured", no_order))) is None
    assert deliver(gateway, *fake.webhook(fake.event("payment.dispute.created", no_order))) is None
    assert deliver(gateway, *fake.webhook({"event": "account.updated", "payload": {}})) is None


def test_only_an_event_with_payhubs_notes_is_ours_for_sure(fake, gateway, order):
    """An unknown order without PayHub's notes is another system's (answered 2xx); with them, it is
    PayHub's and not yet known (answered non-2xx, so Razorpay retries)."""
    theirs = fake.pay(order["id"])
    assert deliver(gateway, *fake.webhook(fake.event("payment.captured", theirs))).unknown_is_foreign is True
    ours = dict(theirs, notes={"payhub_payment_id": "pay_x"})
    assert deliver(gateway, *fake.webhook(fake.event("payment.captured", ours))).unknown_is_foreign is False
    paid_order = dict(fake.orders[order["id"]], notes={"payhub_payment_id": "pay_x"})
    event = fake.event("order.paid", theirs, order=paid_order)
    assert deliver(gateway, *fake.webhook(event)).unknown_is_foreign is False


def test_card_data_is_redacted_from_the_payload(fake, gateway, order):
    payment = dict(fake.pay(order["id"]), method="card", card={"last4": "1111", "network": "Visa"})
    update = deliver(gateway, *fake.webhook(fake.event("payment.captured", payment)))
    assert update.payload["payload"]["payment"]["entity"]["card"] == "[redacted]"


@pytest.mark.parametrize("change", [
    {"amount": "50000"}, {"amount": True}, {"amount": 10**20}, {"amount": -1}, {"amount": 1.5},
    {"currency": "RUPEES"}, {"currency": 356}, {"id": None}, {"order_id": 7}, {"status": None},
])
def test_authentic_but_malformed_payments_are_bad_callbacks(fake, gateway, order, change):
    payment = {**fake.pay(order["id"]), **change}
    with pytest.raises(BadCallback):
        deliver(gateway, *fake.webhook(fake.event("payment.captured", payment)))


@pytest.mark.parametrize("body", [b"", b"null", b"[]", b'"x"', b"{", b"\xff\xfe", b'{"event": 1, "payload": {}}',
                                  b'{"event": "payment.captured", "payload": []}', b"[" * 100_000])
def test_authentic_garbage_is_a_bad_callback(fake, gateway, body):
    with pytest.raises(BadCallback):
        deliver(gateway, *fake.webhook(body))


json_values = any_json(text=20, keys=10, width=4, leaves=20, nan=False)


@fuzzing(150)
@given(event=st.sampled_from(["payment.captured", "payment.failed", "order.paid", "refund.processed", "x"]),
       payload=json_values, entity=st.dictionaries(st.sampled_from(
           ["id", "order_id", "status", "amount", "currency", "amount_refunded", "captured"]), json_values))
def test_signed_random_events_never_crash_the_parser(fake, gateway, event, payload, entity):
    for body in ({"event": event, "payload": payload},
                 {"event": event, "payload": {"payment": {"entity": entity}, "refund": {"entity": entity},
                                              "order": {"entity": entity}}}):
        try:
            update = deliver(gateway, *fake.webhook(body))
        except BadCallback:
            continue
        assert update is None or update.status in {"pending", "succeeded", "failed", "refund_pending", "refunded"}
        assert update is None or update.kind in {"processing", "success", "failure", "refund_pending", "refunded",
                                                 "refund_failed", "info"}


@fuzzing(150)
@given(body=st.binary(max_size=300), signature=st.text(max_size=80))
def test_random_unsigned_bodies_are_always_invalid_signatures(gateway, body, signature):
    with pytest.raises(InvalidSignature):
        deliver(gateway, body, {"X-Razorpay-Signature": signature})


# -- browser returns ----------------------------------------------------------------------------
def returned(gateway: RazorpayGateway, fields: dict[str, str]) -> StatusUpdate:
    return gateway.parse_return(RawRequest(body=b"", headers={}, form=fields,
                                           content_type="application/x-www-form-urlencoded"))


def test_a_signed_return_asks_razorpay_for_the_payment_and_succeeds_with_its_amount(fake, gateway, order):
    payment = fake.pay(order["id"])
    update = returned(gateway, fake.return_fields(payment))
    assert fake.calls_to("GET", f"/v1/payments/{payment['id']}")
    assert (update.status, update.amount_received, update.currency) == ("succeeded", 50000, "INR")
    assert update.source == "return"
    assert (update.gateway_order_id, update.gateway_payment_id) == (order["id"], payment["id"])
    assert update.payload["razorpay_signature"] == "[redacted]"
    assert update.payload["payment"]["status"] == "captured"


def test_a_signed_return_of_a_payment_not_yet_captured_stays_pending(fake, gateway, order):
    payment = fake.pay(order["id"], "authorized")
    assert returned(gateway, fake.return_fields(payment)).status == "pending"


@pytest.mark.parametrize("answer", [Answer(503, {"error": {"code": "SERVER_ERROR"}}), Answer.delayed(3)])
def test_a_signed_return_still_succeeds_when_razorpay_cannot_be_asked(fake, gateway, order, answer):
    payment = fake.pay(order["id"])
    fake.script(answer, path="/v1/payments/")
    update = returned(gateway, fake.return_fields(payment))
    assert (update.status, update.amount_received, update.gateway_payment_id) == ("succeeded", None, payment["id"])


@pytest.mark.parametrize("tamper", ["signature", "webhook_secret", "other_order", "missing_payment"])
def test_unauthentic_returns_are_refused(fake, gateway, order, tamper):
    payment = fake.pay(order["id"])
    fields = fake.return_fields(payment)
    if tamper == "signature":
        fields["razorpay_signature"] = fields["razorpay_signature"][::-1]
    elif tamper == "webhook_secret":
        fields = fake.return_fields(payment, key_secret=WEBHOOK_SECRET)
    elif tamper == "other_order":  # a real signature replayed onto someone else's order
        fields["razorpay_order_id"] = "order_someoneelse"
    else:
        del fields["razorpay_payment_id"]
    calls = len(fake.calls)
    with pytest.raises((InvalidSignature, BadCallback)):
        returned(gateway, fields)
    assert len(fake.calls) == calls  # nothing is asked before the signature holds


def test_a_failed_checkout_return_is_unsigned_so_never_an_update(fake, gateway, order):
    payment = fake.pay(order["id"], "failed")
    calls = len(fake.calls)
    with pytest.raises(UnverifiedReturn) as hint:
        returned(gateway, fake.failed_return_fields(payment))
    assert hint.value.gateway_order_id == order["id"]
    assert len(fake.calls) == calls


@pytest.mark.parametrize("fields", [{}, {"error[metadata]": "not json"}, {"error[metadata]": "[1]"},
                                    {"error[metadata]": '{"order_id": 5}'}, {"razorpay_signature": "x"}])
def test_unreadable_returns_are_bad_callbacks(gateway, fields):
    with pytest.raises(BadCallback):
        returned(gateway, fields)


def test_a_return_can_come_as_a_get(fake, gateway, order):
    payment = fake.pay(order["id"])
    update = gateway.parse_return(RawRequest(body=b"", headers={}, args=fake.return_fields(payment), method="GET"))
    assert update.status == "succeeded"

