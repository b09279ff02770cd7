"""Outgoing notifications (CONTRACT.md §8), checked with the `standardwebhooks` package."""

from __future__ import annotations

import base64
import threading
import time
from datetime import timedelta

import pytest
from standardwebhooks import Webhook

from payhub import outbox
from payhub.extensions import db
from payhub.models import OutboxMessage, utcnow
from tests.conftest import Api
from tests.fakes import Answer, FakeServer

SECRET = "whsec_" + base64.b64encode(b"merchant-signing-key-32-bytes!!!").decode()


@pytest.fixture
def merchant():
    server = FakeServer()
    server.route("POST", r"/hooks", lambda call, m: Answer(204))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def hooked_app(make_app, merchant):
    return make_app(PAYHUB_MERCHANT_WEBHOOK_URL=f"{merchant.url}/hooks", PAYHUB_MERCHANT_WEBHOOK_SECRET=SECRET)


def deliveries(merchant, count, timeout=5.0):
    deadline = time.monotonic() + timeout
    while len(merchant.calls) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return list(merchant.calls)


def settled(app, attempts, timeout=5.0):
    """Wait until the background delivery has recorded `attempts` attempts on every message."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(m[2] >= attempts for m in messages(app)):
            return
        time.sleep(0.02)
    raise AssertionError(f"delivery attempts never reached {attempts}: {messages(app)}")


def first_attempt_recorded(app, timeout=30.0):
    """Wait until the first message's failed attempt is recorded and no kicked delivery runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = messages(app)
        kicked = app.extensions.get("payhub.outbox_kick")
        if rows and rows[0][2] == 1 and not (kicked and kicked.running):
            return
        time.sleep(0.02)
    raise AssertionError(f"the first attempt was never recorded: {messages(app)}")


def messages(app):
    with app.app_context():
        rows = db.session.query(OutboxMessage).order_by(OutboxMessage.id).all()
        return [(m.event_type, m.state, m.attempts, m.webhook_id) for m in rows]


def test_each_applied_change_is_posted_signed_as_standard_webhooks(hooked_app, merchant):
    api = Api(hooked_app.test_client())
    created = api.create()
    client = hooked_app.test_client()
    from tests.conftest import sandbox_body, sign_sandbox

    for status in ("failure", "success", "success"):
        body = sandbox_body(created["gateway_order_id"], status, 1000, f"evt_{status}")
        client.post("/webhooks/sandbox", data=body, content_type="application/json",
                    headers={"X-Payhub-Signature": sign_sandbox(body)})
    calls = deliveries(merchant, 2)
    time.sleep(0.2)
    assert len(merchant.calls) == 2  # the duplicate success sent nothing
    verifier = Webhook(SECRET)
    payloads = [verifier.verify(call.body, call.headers) for call in calls]
    assert [p["type"] for p in payloads] == ["payment.failed", "payment.succeeded"]
    assert payloads[1]["payment"]["id"] == created["id"] and payloads[1]["payment"]["version"] == 3
    assert payloads[0]["id"] == calls[0].header("webhook-id")
    with pytest.raises(Exception):  # noqa: B017 - any verification error will do
        Webhook("whsec_" + base64.b64encode(b"another-key-another-key!").decode()).verify(calls[0].body,
                                                                                         calls[0].headers)


def test_failed_delivery_is_retried_with_the_same_id_and_bytes(hooked_app, merchant):
    merchant.script(Answer(500), Answer(503))
    api = Api(hooked_app.test_client())
    created = api.create()
    api.post(f"/api/payments/{created['id']}/cancel")
    settled(hooked_app, 1)
    [(kind, state, attempts, webhook_id)] = messages(hooked_app)
    assert (kind, state, attempts) == ("payment.cancelled", "pending", 1)
    with hooked_app.app_context():
        row = db.session.query(OutboxMessage).one()
        wait = row.next_attempt_at - row.created_at
        assert timedelta(seconds=1) < wait <= timedelta(seconds=30)  # first retry within 30 s
        row.next_attempt_at -= wait  # let time pass
        db.session.commit()
        outbox.deliver_due()
        row = db.session.query(OutboxMessage).one()
        row.next_attempt_at = row.created_at
        db.session.commit()
        outbox.deliver_due()
    assert messages(hooked_app)[0][1:3] == ("delivered", 3)
    ids = {c.header("webhook-id") for c in merchant.calls}
    bodies = {c.body for c in merchant.calls}
    assert ids == {webhook_id} and len(bodies) == 1 and len(merchant.calls) == 3


def test_messages_of_one_payment_go_in_order(hooked_app, merchant):
    merchant.script(Answer(500))  # the first message fails ...
    api = Api(hooked_app.test_client())
    created = api.create()
    from tests.conftest import sandbox_body, sign_sandbox

    client = hooked_app.test_client()
    for status in ("failure", "success"):
        body = sandbox_body(created["gateway_order_id"], status, 1000)
        client.post("/webhooks/sandbox", data=body, content_type="application/json",
                    headers={"X-Payhub-Signature": sign_sandbox(body)})
    # The failed attempt is recorded (its backoff set) and the background run is over: only then
    # may the test move the backoff forward without the run writing over it.
    first_attempt_recorded(hooked_app)
    time.sleep(0.5)
    # ... so the second waits behind it instead of overtaking it.
    assert [c.json()["type"] for c in merchant.calls] == ["payment.failed"]
    with hooked_app.app_context():
        for row in db.session.query(OutboxMessage):
            row.next_attempt_at = row.created_at
        db.session.commit()
        outbox.deliver_due()
        outbox.deliver_due()
    assert [c.json()["type"] for c in merchant.calls] == ["payment.failed", "payment.failed", "payment.succeeded"]


def test_given_up_after_about_a_day(hooked_app, merchant):
    merchant.script(*[Answer(500)] * 3)
    api = Api(hooked_app.test_client())
    created = api.create()
    api.post(f"/api/payments/{created['id']}/cancel")
    settled(hooked_app, 1)
    with hooked_app.app_context():
        row = db.session.query(OutboxMessage).one()
        assert row.state == "pending"
        row.created_at -= timedelta(hours=23, minutes=59, seconds=45)  # a day of failures later ...
        row.next_attempt_at = row.created_at
        db.session.commit()
        outbox.deliver_due()
        row = db.session.query(OutboxMessage).one()
        assert (row.state, row.attempts, row.last_error) == ("dead", 2, "HTTP 500")
        outbox.deliver_due()  # ... nothing more is sent
    assert len(merchant.calls) == 2


def test_no_url_means_no_outbox(api, sandbox_callback, app):
    sandbox_callback(api.create(), "success")
    assert messages(app) == []


def test_a_webhook_url_without_a_proper_secret_refuses_to_start(make_app):
    with pytest.raises(ValueError, match="WEBHOOK_SECRET"):
        make_app(PAYHUB_MERCHANT_WEBHOOK_URL="http://127.0.0.1:9/hooks", PAYHUB_MERCHANT_WEBHOOK_SECRET="plain")


def attempted_once(app, timeout=60.0):
    """Run delivery rounds, as the outbox tick does every 2 s, until every message was tried."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(m[2] >= 1 for m in messages(app)):
            return
        with app.app_context():
            outbox.deliver_due()
    raise AssertionError(f"some messages were never tried: {sum(m[2] == 0 for m in messages(app))} of them")


def long_backoff(app, count, timeout=30.0):
    """Put every pending message an hour into backoff (a few failures later), once no delivery
    is in flight any more."""
    deadline, quiet = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        with app.app_context():
            pending = db.session.query(OutboxMessage).filter_by(state="pending").all()
            assert len(pending) == count
            for row in pending:
                row.next_attempt_at = utcnow() + timedelta(hours=1)
            busy = any(row.lease_until is not None for row in pending)
            db.session.commit()
        quiet = 0 if busy else quiet + 1
        if quiet == 2:  # twice in a row, a moment apart
            return
        time.sleep(0.2)
    raise AssertionError("deliveries still in flight")


def test_messages_in_backoff_never_starve_a_new_payments_notification(make_app):
    """500 notifications the merchant refused wait in backoff; a new payment's goes out at once."""
    merchant, up = FakeServer(), threading.Event()
    merchant.route("POST", r"/hooks", lambda call, m: Answer(204 if up.is_set() else 500))
    with merchant:
        app = make_app(PAYHUB_MERCHANT_WEBHOOK_URL=f"{merchant.url}/hooks", PAYHUB_MERCHANT_WEBHOOK_SECRET=SECRET)
        api = Api(app.test_client())
        for _ in range(500):
            api.post(f"/api/payments/{api.create()['id']}/cancel")
        attempted_once(app)
        long_backoff(app, 500)
        up.set()  # the merchant is back
        refused = len(merchant.calls)
        fresh = api.create()
        api.post(f"/api/payments/{fresh['id']}/cancel")
        calls = deliveries(merchant, refused + 1, timeout=10)
        assert [c.json()["payment"]["id"] for c in calls[refused:]] == [fresh["id"]]
        with app.app_context():
            outbox.deliver_due()  # the ones in backoff stay there
            assert db.session.query(OutboxMessage).filter_by(state="delivered").count() == 1
        assert len(merchant.calls) == refused + 1
