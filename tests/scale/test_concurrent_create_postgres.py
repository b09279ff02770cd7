"""Concurrent create on PostgreSQL: in one process (threads) and across two `python app.py`
processes, the same request at the same moment opens the payment at its gateway once."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.e2e.test_concurrent_create_live import order, post, razorpay_env
from tests.fakes import Answer
from tests.fakes.razorpay_api import FakeRazorpay
from tests.gateways.helpers import serving
from tests.integration.test_concurrent_create import assert_opened_once, concurrent_creates, razorpay_settings
from tests.livehub import LiveHub

pytestmark = pytest.mark.postgres


@pytest.fixture
def razorpay():
    yield from serving(FakeRazorpay())


def test_two_creates_at_once_open_one_order_on_postgres(make_app, pg_url, razorpay):
    hub = make_app(PAYHUB_DATABASE_URL=pg_url, **razorpay_settings(razorpay))
    razorpay.script(Answer.delayed(1.0), path="/v1/orders")
    created = assert_opened_once(concurrent_creates(hub, order(), count=3),
                                 len(razorpay.calls_to("POST", "/v1/orders")))
    assert list(razorpay.orders) == [created["gateway_order_id"]]


def test_sandbox_creates_at_once_make_one_payment_on_postgres(make_app, pg_url):
    hub = make_app(PAYHUB_DATABASE_URL=pg_url)
    body = {"order_id": f"ord_{uuid.uuid4().hex[:12]}", "amount": 1000, "currency": "INR", "gateway": "sandbox"}
    responses = concurrent_creates(hub, body, count=4, stagger=0)
    with hub.app_context():
        from payhub.extensions import db
        from payhub.models import SandboxTransaction

        ledger = db.session.query(SandboxTransaction).count()
    assert_opened_once(responses, ledger)


@pytest.mark.e2e
def test_the_same_create_on_two_processes_at_once_opens_one_order(pg_url, razorpay, tmp_path):
    env = {"PAYHUB_DATABASE_URL": pg_url, **razorpay_env(razorpay)}
    hubs = [LiveHub(tmp_path / name, **env) for name in ("a", "b")]
    try:
        for hub in hubs:
            hub.start()
        razorpay.script(Answer.delayed(1.0), path="/v1/orders")
        body = order()
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(post, hubs[0], body)
            time.sleep(0.3)
            second = pool.submit(post, hubs[1], body)
            answers: list[requests.Response] = [first.result(), second.result()]
        assert sorted(a.status_code for a in answers) == [200, 201], [a.text for a in answers]
        assert answers[0].json()["checkout"] == answers[1].json()["checkout"]
        assert len(razorpay.calls_to("POST", "/v1/orders")) == 1
    finally:
        for hub in hubs:
            hub.stop()
