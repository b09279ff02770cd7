"""PaytmGateway against the fake Paytm (a real local HTTP server): create, callbacks, polls."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
import requests
from paytmchecksum import PaytmChecksum

from payhub.config import load_settings
from payhub.gateways.base import (
    POLL,
    RETURN,
    WEBHOOK,
    AmountNotAccepted,
    BadCallback,
    GatewayError,
    InvalidSignature,
    PaymentRef,
    RawRequest,
)
from payhub.gateways.paytm import PaytmGateway
from tests.fakes import Answer
from tests.fakes.paytm_api import FakePaytm, body_text
from tests.gateways.helpers import serving

MID, KEY = "PAYHUBMID00001", "abcdefghijklmnop"


@pytest.fixture
def fake():
    yield from serving(FakePaytm(mid=MID, merchant_key=KEY))


@pytest.fixture
def gateway(fake):
    return PaytmGateway(mid=MID, merchant_key=KEY, website="WEBSTAGING", base_url=fake.url,
                        public_url="http://hub.test", timeout=0.5)


def ref(order_id="order_0001", amount=10050, **kw):
    return PaymentRef(id="pay_abc", order_id=order_id, amount=amount, currency="INR",
                      created_at=datetime.now(UTC), gateway_order_id=kw.pop("gateway_order_id", order_id), **kw)


def form_post(fields, method="POST"):
    if method == "GET":
        return RawRequest(body=b"", headers={}, args=dict(fields), method="GET")
    body = urlencode(fields).encode()
    return RawRequest(body=body, headers={}, content_type="application/x-www-form-urlencoded",
                      form=dict(fields), method="POST")


def json_post(body: bytes):
    return RawRequest(body=body, headers={}, content_type="application/json")


class TestCreate:
    def test_initiates_a_signed_transaction_and_returns_the_payment_form(self, gateway, fake):
        checkout = gateway.create(ref(customer={"email": "a@b.in", "phone": "9000000000"}))
        call = fake.calls_to("POST", r"/theia/api/v1/initiateTransaction")[-1]
        assert call.query == {"mid": [MID], "orderId": ["order_0001"]}
        signed = body_text(call.body.decode())
        body = json.loads(signed)
        # Paytm's own package accepts the signature over exactly the bytes sent.
        assert PaytmChecksum.verifySignature(signed, KEY, call.json()["head"]["signature"])
        assert body["txnAmount"] == {"value": "100.50", "currency": "INR"}
        assert body["callbackUrl"] == "http://hub.test/return/paytm"
        assert body["websiteName"] == "WEBSTAGING" and body["requestType"] == "Payment"
        assert body["userInfo"] == {"custId": "pay_abc", "email": "a@b.in", "mobile": "9000000000"}
        assert checkout.gateway_order_id == "order_0001"
        c = checkout.checkout
        assert c["txn_token"] == fake.orders["order_0001"]["token"] and c["amount"] == "100.50"
        assert c["action_url"] == f"{fake.url}/theia/api/v1/showPaymentPage?mid={MID}&orderId=order_0001"
        page = requests.post(c["action_url"], data=c["fields"], timeout=5)
        assert page.status_code == 200 and "100.50" in page.text

    @pytest.mark.parametrize(("phone", "mobile"), [("+91 90000 00001", "9000000001"), ("12345", None)])
    def test_mobile_is_sent_only_as_ten_digits(self, gateway, fake, phone, mobile):
        gateway.create(ref(customer={"phone": phone}))
        sent = json.loads(body_text(fake.calls[-1].body.decode()))["userInfo"]
        assert sent.get("mobile") == mobile

    def test_paytm_response_signatures_are_checked_but_only_logged(self, gateway, fake, caplog):
        gateway.create(ref())
        assert "signature did not verify" not in caplog.text  # the fake signs like Paytm
        fake.script(Answer(200, {"head": {"signature": "forged"}, "body": {
            "resultInfo": {"resultStatus": "S", "resultCode": "0000"}, "txnToken": "t"}}))
        assert gateway.create(ref()).checkout["txn_token"] == "t"
        assert "signature did not verify" in caplog.text

    def test_the_fake_accepts_a_call_made_the_official_kits_way(self, fake):
        # Paytm's sample: sign json.dumps(body), post with requests(json=...) (same separators).
        body = {"requestType": "Payment", "mid": MID, "websiteName": "WEBSTAGING", "orderId": "kit_order_1",
                "callbackUrl": "http://h/cb", "txnAmount": {"value": "1.00", "currency": "INR"},
                "userInfo": {"custId": "CUST_001"}}
        payload = {"body": body, "head": {"signature": PaytmChecksum.generateSignature(json.dumps(body), KEY)}}
        answer = requests.post(f"{fake.url}/theia/api/v1/initiateTransaction?mid={MID}&orderId=kit_order_1",
                               json=payload, timeout=5).json()
        assert answer["body"]["resultInfo"]["resultStatus"] == "S" and answer["body"]["txnToken"]
        payload["body"]["txnAmount"]["value"] = "2.00"  # the signature no longer covers the body
        answer = requests.post(f"{fake.url}/theia/api/v1/initiateTransaction?mid={MID}&orderId=kit_order_1",
                               json=payload, timeout=5).json()
        assert answer["body"]["resultInfo"]["resultCode"] == "2005"

    def test_paytm_refusal_is_a_gateway_error_without_the_key(self, gateway, fake):
        fake.pay("order_0001")  # already paid: Paytm refuses the same orderId
        with pytest.raises(GatewayError, match="325 Duplicate Order Id") as caught:
            gateway.create(ref())
        assert KEY not in str(caught.value)

    def test_a_wrong_key_is_refused_by_paytm(self, fake):
        wrong = PaytmGateway(mid=MID, merchant_key="ponmlkjihgfedcba", base_url=fake.url, public_url="http://h")
        with pytest.raises(GatewayError, match="Checksum provided is invalid"):
            wrong.create(ref())

    @pytest.mark.parametrize("answer", [Answer(500, {"error": "down"}), Answer(200, "<html>maintenance</html>"),
                                        Answer.delayed(2), Answer(200, {"head": {}})])
    def test_outage_timeout_or_garbage_is_a_gateway_error(self, gateway, fake, answer):
        fake.script(answer)
        with pytest.raises(GatewayError):
            gateway.create(ref())

    def test_unreachable(self, fake):
        gateway = PaytmGateway(mid=MID, merchant_key=KEY, base_url="http://127.0.0.1:9", public_url="http://h")
        with pytest.raises(GatewayError, match="unreachable"):
            gateway.create(ref())


class TestValidate:
    @pytest.mark.parametrize(("kwargs", "field"), [
        ({"currency": "USD"}, "currency"),
        ({"order_id": "x" * 51}, "order_id"),
        ({"order_id": "has space"}, "order_id"),
        ({"order_id": "hash#1"}, "order_id"),
    ])
    def test_refuses_what_paytm_cannot_take(self, gateway, kwargs, field):
        args = {"order_id": "order_1", "amount": 100, "currency": "INR", **kwargs}
        with pytest.raises(AmountNotAccepted) as caught:
            gateway.validate(**args)
        assert caught.value.field == field

    def test_accepts_the_documented_characters(self, gateway):
        gateway.validate(order_id="A-z_0.9@x" + "1" * 41, amount=1, currency="INR")


class TestCallbacks:
    @pytest.mark.parametrize("method", ["POST", "GET"])
    def test_authentic_success_return(self, gateway, fake, method):
        update = gateway.parse_return(form_post(fake.pay("order_0001", amount="100.50"), method))
        assert (update.status, update.source, update.gateway) == ("succeeded", RETURN, "paytm")
        assert update.gateway_order_id == "order_0001" and update.amount_received == 10050
        assert update.currency == "INR" and update.gateway_status == "TXN_SUCCESS"
        assert update.gateway_payment_id == fake.orders["order_0001"]["txn_id"]

    @pytest.mark.parametrize(("status", "expected"), [
        ("TXN_SUCCESS", "succeeded"), ("TXN_FAILURE", "failed"), ("PENDING", "pending"), ("OPEN", "pending"),
    ])
    def test_status_mapping(self, gateway, fake, status, expected):
        update = gateway.parse_webhook(form_post(fake.pay("order_0001", status)))
        assert update.status == expected and update.source == WEBHOOK
        assert update.amount_received == (100 if expected == "succeeded" else None)

    def test_unknown_fields_are_covered_by_the_checksum(self, gateway, fake):
        fields = fake.pay("order_0001", CUSTID="c1", MERC_UNQ_REF="", TXNTYPE="SALE", NEWFIELD="v")
        assert gateway.parse_webhook(form_post(fields)).status == "succeeded"
        fields["NEWFIELD"] = "changed"
        with pytest.raises(InvalidSignature):
            gateway.parse_webhook(form_post(fields))

    @pytest.mark.parametrize("tamper", [
        lambda f: f.update(TXNAMOUNT="1000.00"), lambda f: f.update(STATUS="TXN_SUCCESS"),
        lambda f: f.update(INJECTED="1"), lambda f: f.pop("CHECKSUMHASH"), lambda f: f.update(CHECKSUMHASH=""),
        lambda f: f.update(CHECKSUMHASH="garbage"),
    ])
    def test_tampered_callbacks_are_rejected(self, gateway, fake, tamper):
        fields = fake.pay("order_0001", "TXN_FAILURE")
        tamper(fields)
        with pytest.raises(InvalidSignature):
            gateway.parse_return(form_post(fields))

    def test_a_field_posted_twice_is_refused(self, gateway, fake):
        fields = fake.pay("order_0001")
        body = urlencode(fields).encode() + b"&STATUS=TXN_FAILURE"
        with pytest.raises(BadCallback):
            gateway.parse_webhook(RawRequest(body=body, headers={}, content_type="application/x-www-form-urlencoded"))

    @pytest.mark.parametrize(("change", "error"), [
        ({"MID": "OTHERMID"}, BadCallback), ({"TXNAMOUNT": "1.005"}, BadCallback), ({"TXNAMOUNT": ""}, BadCallback),
        ({"ORDERID": ""}, BadCallback), ({"ORDERID": "x" * 51}, BadCallback), ({"TXNAMOUNT": "-1.00"}, BadCallback),
        ({"TXNAMOUNT": "\u0661.00"}, BadCallback), ({"TXNAMOUNT": " 1.00"}, BadCallback),
        ({"TXNAMOUNT": "1000000000000.00"}, BadCallback),
    ])
    def test_authentic_but_unreadable(self, gateway, fake, change, error):
        fields = fake.sign_form({**{k: v for k, v in fake.pay("order_0001").items() if k != "CHECKSUMHASH"}, **change})
        with pytest.raises(error):
            gateway.parse_webhook(form_post(fields))

    def test_full_refund_in_the_s2s_webhook(self, gateway, fake):
        update = gateway.parse_webhook(form_post(fake.pay("order_0001", amount="100.50", refund="100.50")))
        assert update.status == "refunded" and update.amount_received is None
        partial = gateway.parse_webhook(form_post(fake.pay("order_0001", amount="100.50", refund="50.00")))
        assert partial.status == "succeeded"

    def test_a_different_amount_is_reported_exactly(self, gateway, fake):
        update = gateway.parse_webhook(form_post(fake.pay("order_0001", amount="99999999.99")))
        assert update.amount_received == 9999999999

    @pytest.mark.parametrize("indent", [None, 2])
    def test_json_webhook_form(self, gateway, fake, indent):
        update = gateway.parse_webhook(json_post(fake.webhook_json("order_0001", amount="100.50", indent=indent)))
        assert (update.status, update.amount_received, update.gateway_order_id) == ("succeeded", 10050, "order_0001")
        assert "head" not in update.payload

    def test_json_webhook_tampered(self, gateway, fake):
        body = fake.webhook_json("order_0001", status="TXN_FAILURE").replace(b"TXN_FAILURE", b"TXN_SUCCESS")
        with pytest.raises(InvalidSignature):
            gateway.parse_webhook(json_post(body))

    def test_json_webhook_with_two_bodies_is_refused(self, gateway, fake):
        good = json.loads(fake.webhook_json("order_0001"))
        head, real = json.dumps(good["head"]), json.dumps(good["body"])
        body = f'{{"body": {{"status": "TXN_SUCCESS"}}, "head": {head}, "body": {real}}}'.encode()
        with pytest.raises(BadCallback):
            gateway.parse_webhook(json_post(body))

    @pytest.mark.parametrize("body", [b"{", b"[]", b'{"head": {}}', b'{"body": "x"}', b"\xff\xfe", b"{" * 5000])
    def test_malformed_json_webhooks(self, gateway, body):
        with pytest.raises((BadCallback, InvalidSignature)):
            gateway.parse_webhook(json_post(body))


class TestPoll:
    def test_success(self, gateway, fake):
        gateway.create(ref())
        fake.pay("order_0001", amount="100.50")
        update = gateway.poll(ref())
        assert (update.status, update.source, update.payment_id) == ("succeeded", POLL, "pay_abc")
        assert update.amount_received == 10050 and update.gateway_order_id == "order_0001"
        call = fake.calls_to("POST", r"/v3/order/status")[-1]
        assert PaytmChecksum.verifySignature(body_text(call.body.decode()), KEY, call.json()["head"]["signature"])
        assert call.json()["body"] == {"mid": MID, "orderId": "order_0001"}

    @pytest.mark.parametrize(("status", "expected"), [("TXN_FAILURE", "failed"), ("PENDING", "pending")])
    def test_failure_and_pending(self, gateway, fake, status, expected):
        gateway.create(ref())
        fake.pay("order_0001", status)
        assert gateway.poll(ref()).status == expected

    def test_refunded(self, gateway, fake):
        gateway.create(ref())
        fake.pay("order_0001", amount="100.50", refund="100.50")
        assert gateway.poll(ref()).status == "refunded"

    def test_no_transaction_yet_is_still_pending(self, gateway, fake):
        gateway.create(ref())  # the shopper never reached the payment page
        update = gateway.poll(ref())
        assert update.status == "pending" and update.gateway_status == "TXN_FAILURE"

    @pytest.mark.parametrize("answer", [Answer(500, "oops"), Answer.delayed(2), Answer(200, "not json"),
                                        Answer(200, {"body": {"resultInfo": {}}})])
    def test_errors_change_nothing(self, gateway, fake, answer):
        fake.script(answer)
        with pytest.raises(GatewayError):
            gateway.poll(ref())

    def test_an_answer_for_another_order_is_refused(self, gateway, fake):
        fake.script(Answer(200, {"body": {"orderId": "other", "resultInfo": {"resultStatus": "TXN_SUCCESS"},
                                          "txnAmount": "100.50"}}))
        with pytest.raises(GatewayError, match="another order"):
            gateway.poll(ref())


class TestConfig:
    def test_disabled_without_credentials(self, tmp_path):
        assert PaytmGateway.from_config(load_settings({}, instance_path=str(tmp_path))) is None

    def test_defaults_and_staging(self, tmp_path):
        env = {"PAYHUB_PAYTM_MID": MID, "PAYHUB_PAYTM_MERCHANT_KEY": KEY}
        prod = PaytmGateway.from_config(load_settings(env, instance_path=str(tmp_path)))
        assert prod._base_url == "https://securegw.paytm.in" and prod._website == "DEFAULT"
        stage = PaytmGateway.from_config(load_settings(
            {**env, "PAYHUB_PAYTM_BASE_URL": "https://securegw-stage.paytm.in"}, instance_path=str(tmp_path)))
        assert stage._website == "WEBSTAGING"

    def test_a_key_of_the_wrong_length_fails_loudly_without_showing_it(self):
        with pytest.raises(ValueError) as caught:
            PaytmGateway(mid=MID, merchant_key="secret-of-odd-length", public_url="http://h")
        assert "secret-of-odd-length" not in str(caught.value)
