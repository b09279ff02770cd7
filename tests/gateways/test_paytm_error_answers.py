"""A Paytm Transaction Status answer that is an error (resultStatus "F": a bad checksum, a system
error) says nothing about the payment: it is no answer (CONTRACT.md §6), so the sweep must not
expire a payment on it, and a refresh answers 502."""

from __future__ import annotations

import json
import uuid

import pytest
from paytmchecksum import PaytmChecksum

from tests.conftest import Api
from tests.fakes import Answer
from tests.fakes.paytm_api import FakePaytm
from tests.gateways.helpers import FLOW_SETTINGS, pushed, serving, sweep_after

MID, KEY = "PAYHUBMID00001", "abcdefghijklmnop"
EXPIRE_AFTER = 1800


def signed(body: dict) -> Answer:
    """A status answer as Paytm sends it: {head: {signature over the body text}, body}."""
    text = json.dumps(body)
    head = {"responseTimestamp": "1700000000000", "version": "v1",
            "signature": PaytmChecksum.generateSignature(text, KEY)}
    return Answer(200, f'{{"head": {json.dumps(head)}, "body": {text}}}'.encode(),
                  headers={"Content-Type": "application/json"})


ERRORS = {
    "bad-checksum": {"resultInfo": {"resultStatus": "F", "resultCode": "2005",
                                    "resultMsg": "Checksum provided is invalid"}},
    "system-error": {"resultInfo": {"resultStatus": "F", "resultCode": "501", "resultMsg": "System Error"}},
}


@pytest.fixture
def fake():
    yield from serving(FakePaytm(mid=MID, merchant_key=KEY))


@pytest.fixture
def hub(make_app, fake, database):
    return make_app(PAYHUB_PAYTM_MID=MID, PAYHUB_PAYTM_MERCHANT_KEY=KEY, PAYHUB_PAYTM_BASE_URL=fake.url,
                    **FLOW_SETTINGS, **database)


@pytest.fixture
def api(hub):
    return Api(hub.test_client())


@pytest.fixture
def shop(api, hub, subscribe):
    created = api.create(gateway="paytm", amount=10050, order_id=f"ord_{uuid.uuid4().hex[:12]}")
    return created, subscribe(hub, created)


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
                         indirect=True)
@pytest.mark.parametrize("error", sorted(ERRORS))
def test_an_error_answer_at_the_expiry_age_does_not_expire_a_paid_payment(hub, api, fake, shop, error):
    created, sio = shop
    fake.pay(created["order_id"], amount="100.50")  # paid; the callback was lost
    fake.script(signed(ERRORS[error]), path="/v3/order/status")  # Paytm answers an error at minute 30
    report = sweep_after(hub, created["id"], EXPIRE_AFTER + 1)
    assert report.polled == [created["id"]] and report.unanswered == [created["id"]]
    assert api.payment(created["id"])["status"] == "pending"
    assert pushed(sio) == []
    sweep_after(hub, created["id"], 60)  # the next sweep gets a real answer
    assert api.payment(created["id"])["status"] == "succeeded"
    assert [v["status"] for v in pushed(sio)] == ["succeeded"]


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_refresh_that_gets_an_error_answer_is_a_502(api, fake, shop):
    created, sio = shop
    fake.script(signed(ERRORS["system-error"]), path="/v3/order/status")
    assert api.post(f"/api/payments/{created['id']}/refresh").status_code == 502
    assert api.payment(created["id"])["events"] == [] and pushed(sio) == []


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_no_transaction_yet_is_still_an_answer_and_the_payment_expires(hub, api, fake, shop):
    created, _ = shop  # never paid: Paytm reports TXN_FAILURE "Invalid Order Id."
    sweep_after(hub, created["id"], EXPIRE_AFTER + 1)
    assert api.payment(created["id"])["status"] == "expired"
