"""PayAtomGateway against the fake PayAtom (a real local HTTP server, `cryptography`-made hashes)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import requests

from payhub.config import load_settings
from payhub.gateways.base import (
    POLL,
    WEBHOOK,
    WEBHOOK_RESULTS,
    AmountNotAccepted,
    BadCallback,
    GatewayError,
    InvalidSignature,
    PaymentRef,
    RawRequest,
)
from payhub.gateways.payatom import PayAtomGateway
from tests.fakes import Answer
from tests.fakes.payatom_api import FakePayAtom, md5, seal, unseal
from tests.gateways.helpers import serving

PID, SECRET = "5345f345345", "test_secret_key_123"
CUSTOMER = {"name": "Anushk", "email": "anushk@example.com", "phone": "9000000000"}


@pytest.fixture
def fake():
    yield from serving(FakePayAtom(pid=PID, secret=SECRET))


@pytest.fixture
def gateway(fake):
    return PayAtomGateway(pid=PID, secret_key=SECRET, base_url=fake.url, timeout=0.5)


def ref(order_id="ORDER000001", amount=10050, reference=None, **kw):
    return PaymentRef(id="pay_abc", order_id=order_id, amount=amount, currency="INR", created_at=datetime.now(UTC),
                      gateway_order_id=order_id, gateway_reference=reference, customer=kw.pop("customer", CUSTOMER),
                      status_page_url="http://hub.test/pay/pay_abc?token=t", **kw)


def webhook(body: bytes) -> RawRequest:
    return RawRequest(body=body, headers={}, content_type="application/json")


class TestCreate:
    def test_requests_a_payment_and_redirects_to_connect(self, gateway, fake):
        checkout = gateway.create(ref())
        sent = fake.calls_to("POST", r"/pay/request\.php")[-1].json()
        assert sent == {"order_id": "ORDER000001", "pid": PID, "amount": "100.5", **CUSTOMER,
                        "redirect_url": "http://hub.test/pay/pay_abc?token=t"}
        order = fake.orders["ORDER000001"]
        assert checkout.gateway_order_id == "ORDER000001" and checkout.gateway_reference == order["ref_code"]
        assert checkout.checkout == {"redirect_url": f"{fake.url}/pay/connect.php?code={order['code']}"}
        assert requests.get(checkout.checkout["redirect_url"], timeout=5).status_code == 200

    @pytest.mark.parametrize(("paise", "rupees"), [(100, "1"), (10050, "100.5"), (10005, "100.05"), (1, "0.01")])
    def test_amounts_are_exact_rupee_strings(self, gateway, fake, paise, rupees):
        gateway.create(ref(amount=paise))
        assert fake.calls[-1].json()["amount"] == rupees

    @pytest.mark.parametrize("key", ["code", "payment_hash"])
    def test_other_names_of_the_payment_code(self, gateway, fake, key):
        fake.script(Answer(200, {"status": "success", key: "abc+/=", "ref_code": "r1"}))
        checkout = gateway.create(ref())
        assert checkout.checkout["redirect_url"].endswith("/pay/connect.php?code=abc%2B%2F%3D")

    def test_an_error_answer_is_a_gateway_error_without_secrets(self, gateway, fake):
        fake.script(Answer(200, {"status": "error", "message": f"bad secret {SECRET}"}))
        with pytest.raises(GatewayError) as caught:
            gateway.create(ref())
        assert SECRET not in str(caught.value) and "bad secret" in str(caught.value)

    def test_a_duplicate_order_is_refused_by_payatom(self, gateway):
        gateway.create(ref())
        with pytest.raises(GatewayError, match="duplicate"):
            gateway.create(ref())

    @pytest.mark.parametrize("answer", [Answer(500, "down"), Answer.delayed(2), Answer(200, "<html>"),
                                        Answer(200, [1]), Answer(200, {"status": "success"})])
    def test_outage_timeout_or_garbage(self, gateway, fake, answer):
        fake.script(answer)
        with pytest.raises(GatewayError):
            gateway.create(ref())

    def test_customer_details_are_required(self, gateway, fake):
        with pytest.raises(AmountNotAccepted) as caught:
            gateway.create(ref(customer={"name": "A", "email": "a@b.in"}))
        assert caught.value.field == "customer.phone" and not fake.calls

    @pytest.mark.parametrize(("kwargs", "field"), [
        ({"currency": "USD"}, "currency"), ({"order_id": "short"}, "order_id"),
    ])
    def test_validate(self, gateway, kwargs, field):
        with pytest.raises(AmountNotAccepted) as caught:
            gateway.validate(**{"order_id": "ORDER000001", "amount": 100, "currency": "INR", **kwargs})
        assert caught.value.field == field


class TestWebhook:
    @pytest.mark.parametrize(("status", "expected"), [
        ("Pending", "pending"), ("Approved", "succeeded"), ("Late Approved", "succeeded"), ("Declined", "failed"),
        ("No Matching Payment for UTR", "failed"), ("User Timed Out", "expired"),
        ("Refund Initiated", "refund_pending"), ("Refund Completed", "refunded"), ("approved", "pending"),
    ])
    def test_status_mapping(self, gateway, fake, status, expected):
        update = gateway.parse_webhook(webhook(fake.webhook_body("ORDER000001", status, "100.50")))
        assert (update.status, update.gateway_status, update.source) == (expected, status, WEBHOOK)
        assert update.gateway_order_id == "ORDER000001" and update.gateway == "payatom"
        assert update.amount_received == (10050 if expected == "succeeded" else None)

    def test_the_received_amount_is_booked_not_the_requested_one(self, gateway, fake):
        fake.webhook_body("ORDER000001", "Pending", "100")
        update = gateway.parse_webhook(webhook(fake.webhook_body("ORDER000001", "Approved", "99.99")))
        assert update.amount_received == 9999 and update.currency == "INR"

    def test_the_vector_of_gateways_md_is_accepted(self, gateway):
        body = {"order_id": "ORDER000001", "received_amount": "100", "status": "Approved", "requested_amount": "100",
                "post_hash": seal(md5("ORDER000001", "100", "Approved", SECRET), SECRET, iv=bytes(range(16)))}
        assert gateway.parse_webhook(webhook(json.dumps(body).encode())).amount_received == 10000

    @pytest.mark.parametrize("tamper", [
        {"status": "Approved"}, {"received_amount": "1000"}, {"order_id": "ORDER000002"}, {"post_hash": ""},
        {"post_hash": None}, {"post_hash": "x" * 128},
    ])
    def test_tampered(self, gateway, fake, tamper):
        data = json.loads(fake.webhook_body("ORDER000001", "Declined", "100"))
        with pytest.raises(InvalidSignature):
            gateway.parse_webhook(webhook(json.dumps({**data, **tamper}).encode()))

    def test_another_secret(self, fake):
        other = PayAtomGateway(pid=PID, secret_key="other", base_url=fake.url)
        with pytest.raises(InvalidSignature):
            other.parse_webhook(webhook(fake.webhook_body("ORDER000001", "Approved", "1")))

    def test_unhashed_fields_may_differ(self, gateway, fake):
        data = json.loads(fake.webhook_body("ORDER000001", "Approved", "1"))
        update = gateway.parse_webhook(webhook(json.dumps({**data, "sender_upi": "x@y", "bank_ref": "UTR1"}).encode()))
        assert update.status == "succeeded" and update.gateway_payment_id == "UTR1"

    @pytest.mark.parametrize("body", [b"", b"nope", b"[]", b'"x"', b'{"order_id": 1.5}', b"\xff", b"[" * 10000])
    def test_unreadable(self, gateway, body):
        with pytest.raises((BadCallback, InvalidSignature)):
            gateway.parse_webhook(webhook(body))

    def test_authentic_but_not_an_amount(self, gateway):
        body = {"order_id": "ORDER000001", "received_amount": "1e3", "status": "Approved",
                "post_hash": seal(md5("ORDER000001", "1e3", "Approved", SECRET), SECRET)}
        with pytest.raises(BadCallback):
            gateway.parse_webhook(webhook(json.dumps(body).encode()))


class TestReply:
    @pytest.mark.parametrize(("result", "hash_status", "ack"), [
        ("applied", "HashMatched", "yes"), ("duplicate", "HashMatched", "yes"), ("not_applied", "HashMatched", "yes"),
        ("invalid_signature", "HashMismatch", "no"), ("unknown_payment", "HashMismatch", "no"),
        ("error", "HashMatched", "no"), ("bad_callback", "HashMismatch", "no"),
    ])
    def test_acknowledge_only_what_is_committed(self, gateway, result, hash_status, ack):
        body, status, headers = gateway.webhook_reply(result)
        assert body == {"hash_status": hash_status, "acknowledge": ack} and status == 200
        assert headers["Content-Type"] == "application/json;charset=utf-8"

    def test_every_result_has_an_answer(self, gateway):
        for result in WEBHOOK_RESULTS:
            assert gateway.webhook_reply(result)[1] == 200


class TestPoll:
    def opened(self, gateway, fake, amount=10050):
        checkout = gateway.create(ref(amount=amount))
        return ref(amount=amount, reference=checkout.gateway_reference)

    def test_approved(self, gateway, fake):
        payment = self.opened(gateway, fake)
        fake.settle("ORDER000001", "Approved", "100.50")
        update = gateway.poll(payment)
        assert (update.status, update.source, update.payment_id, update.amount_received) == (
            "succeeded", POLL, "pay_abc", 10050)
        sent = fake.calls_to("POST", r"/api/status_polling\.php")[-1].json()
        assert sent["ref_code"] == payment.gateway_reference and sent["pid"] == PID
        assert unseal(sent["post_hash"], SECRET) == md5(payment.gateway_reference, PID, SECRET)

    @pytest.mark.parametrize(("status", "expected"), [("Pending", "pending"), ("Declined", "failed"),
                                                      ("Refund Completed", "refunded")])
    def test_other_statuses(self, gateway, fake, status, expected):
        payment = self.opened(gateway, fake)
        fake.settle("ORDER000001", status)
        assert gateway.poll(payment).status == expected

    @pytest.mark.parametrize("formula", ["ref_code", "requested"])
    def test_other_readings_of_the_answer_hash(self, gateway, fake, formula):
        payment = self.opened(gateway, fake, amount=10000)
        fake.poll_hash = formula  # the hash covers ref_code+pid, or the requested "100" not the answer's "99"
        fake.settle("ORDER000001", "Approved", "99")
        update = gateway.poll(payment)
        assert (update.status, update.amount_received) == ("succeeded", 9900)

    def test_an_unverified_answer_is_not_applied(self, gateway, fake):
        payment = self.opened(gateway, fake)
        forged = {"order_id": "ORDER000001", "amount": "100.5", "status": "Approved",
                  "post_hash": seal(md5("ORDER000001", "100.5", "Approved", "guess"), "guess")}
        fake.script(Answer(200, forged))
        with pytest.raises(GatewayError, match="verification"):
            gateway.poll(payment)

    def test_our_own_request_hash_echoed_back_is_not_proof(self, gateway, fake):
        payment = self.opened(gateway, fake)
        fake.route("POST", r"/api/status_polling\.php", lambda call, m: Answer(200, {
            "order_id": "ORDER000001", "amount": "100.5", "status": "Approved", "post_hash": call.json()["post_hash"]}))
        fake._routes.insert(0, fake._routes.pop())  # the echoing route answers first
        with pytest.raises(GatewayError, match="verification"):
            gateway.poll(payment)

    def test_without_ref_code_there_is_nothing_to_ask(self, gateway, fake):
        with pytest.raises(GatewayError, match="ref_code"):
            gateway.poll(ref())
        assert not fake.calls

    @pytest.mark.parametrize("answer", [Answer(500, "oops"), Answer.delayed(2), Answer(200, "x"),
                                        Answer(200, {"status": "error", "message": "Hash mismatch"})])
    def test_errors(self, gateway, fake, answer):
        payment = self.opened(gateway, fake)
        fake.script(answer)
        with pytest.raises(GatewayError):
            gateway.poll(payment)

    def test_an_answer_for_another_order(self, gateway, fake):
        payment = self.opened(gateway, fake)
        fake.script(Answer(200, {"order_id": "OTHER00001", "amount": "1", "status": "Approved",
                                 "post_hash": seal(md5("OTHER00001", "1", "Approved", SECRET), SECRET)}))
        with pytest.raises(GatewayError, match="another order"):
            gateway.poll(payment)


class TestConfig:
    def test_needs_pid_secret_and_base_url(self, tmp_path):
        env = {"PAYHUB_PAYATOM_PID": PID, "PAYHUB_PAYATOM_SECRET_KEY": SECRET}
        assert PayAtomGateway.from_config(load_settings(env, instance_path=str(tmp_path))) is None
        env["PAYHUB_PAYATOM_BASE_URL"] = "https://pay.example.test/"
        gateway = PayAtomGateway.from_config(load_settings(env, instance_path=str(tmp_path)))
        assert gateway is not None and gateway._base_url == "https://pay.example.test"
