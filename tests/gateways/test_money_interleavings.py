"""Hypothesis: any order of money events, with duplicates, through the real app.

Each example opens a Razorpay payment of Rs 500 and delivers a random sequence drawn from a
pool of events: signed Razorpay webhooks (a full capture, a short capture, a failure, one refund
started, processed or failed), the sweep's expiry through the door, and operators' resolves
through the API. Drawing an event twice delivers it again (the same body and event id), as
Razorpay's retries do. The final status must be what an independent model of CONTRACT.md §2,
written here, says, and `version` must count only the changes that model applies.
"""

from __future__ import annotations

import uuid

import pytest
import razorpay
from hypothesis import given
from hypothesis import strategies as st

from payhub.door import apply_update
from payhub.gateways.base import EXPIRY, StatusUpdate
from tests.conftest import ON_BOTH_DATABASES, Api
from tests.fakes.razorpay_api import KEY_ID, KEY_SECRET, WEBHOOK_SECRET, FakeRazorpay
from tests.gateways.helpers import FLOW_SETTINGS, fuzzing, serving

AMOUNT = 50000

# The model: CONTRACT.md §2 restated as (from, what happened) -> to. Anything absent changes
# nothing. "short" is a success whose received amount differs; "success" reports the full one.
MODEL = {
    ("pending", "success"): "succeeded", ("pending", "short"): "needs_review", ("pending", "failure"): "failed",
    ("pending", "expiry"): "expired", ("pending", "refund_pending"): "refund_pending",
    ("pending", "refunded"): "refunded",
    **{(closed, what): to for closed in ("failed", "expired") for what, to in (
        ("success", "succeeded"), ("short", "needs_review"), ("refund_pending", "refund_pending"),
        ("refunded", "refunded"))},
    ("needs_review", "success"): "succeeded", ("needs_review", "resolve_succeeded"): "succeeded",
    ("needs_review", "resolve_refund"): "refund_pending", ("needs_review", "refund_pending"): "refund_pending",
    ("needs_review", "refunded"): "refunded",
    ("succeeded", "refund_pending"): "refund_pending", ("succeeded", "refunded"): "refunded",
    ("refund_pending", "refunded"): "refunded", ("refund_pending", "refund_failed"): "succeeded",
}
# What each event in the pool is, to the model.
MEANING = {"captured": "success", "captured_short": "short", "failed": "failure", "expiry": "expiry",
           "refund_created": "refund_pending", "refund_processed": "refunded", "refund_failed": "refund_failed",
           "resolve_succeeded": "resolve_succeeded", "resolve_refund": "resolve_refund"}
# The pool's refund events are all about one refund: once its failure is on the log, news of it
# starting or going through is older news, whatever the status.
SAME_REFUND = {"refund_created", "refund_processed"}
# Deliveries that are the same update again when repeated (webhooks by event id, the expiry by
# content); a resolve repeated is a second decision.
REPEATABLE = {"captured", "captured_short", "failed", "expiry", "refund_created", "refund_processed", "refund_failed"}


def expected(sequence: list[str]) -> tuple[str, int]:
    """The model's final status and the number of changes it applied."""
    status, applied, seen = "pending", 0, set()
    for name in sequence:
        if name in REPEATABLE and name in seen:
            continue
        seen.add(name)
        if name in SAME_REFUND and "refund_failed" in seen:
            continue
        after = MODEL.get((status, MEANING[name]))
        if after is not None and after != status:
            status, applied = after, applied + 1
    return status, applied


def test_the_model_agrees_with_the_contract_on_a_few_stories():
    assert expected(["refund_processed", "captured"]) == ("refunded", 1)
    assert expected(["captured", "refund_created", "refund_failed"]) == ("succeeded", 3)
    assert expected(["captured", "refund_failed", "refund_created", "refund_processed"]) == ("succeeded", 1)
    assert expected(["captured_short", "captured", "captured_short"]) == ("succeeded", 2)
    assert expected(["failed", "expiry", "captured", "captured"]) == ("succeeded", 2)
    assert expected(["resolve_succeeded", "captured_short", "resolve_refund", "resolve_succeeded"]) == (
        "refund_pending", 2)


class Story:
    """One payment at PayHub and at the fake Razorpay, and the events that can happen to it."""

    def __init__(self, hub, api: Api, fake: FakeRazorpay) -> None:
        self.hub, self.api, self.fake = hub, api, fake
        self.created = api.create(gateway="razorpay", amount=AMOUNT, order_id=f"ord_{uuid.uuid4().hex[:12]}")
        order_id = self.created["gateway_order_id"]
        paid = fake.pay(order_id)
        short = fake.pay(order_id, amount=AMOUNT - 10000)
        failed = fake.pay(order_id, "failed")
        refund = fake.refund(paid["id"], AMOUNT, status="pending")
        refunding = dict(paid, amount_refunded=AMOUNT, refund_status="full")
        refunded = dict(refunding, status="refunded")
        self.events = {
            "captured": fake.event("payment.captured", dict(paid, amount_refunded=0, refund_status=None,
                                                            status="captured")),
            "captured_short": fake.event("payment.captured", short),
            "failed": fake.event("payment.failed", failed),
            "refund_created": fake.event("refund.created", refunding, refund=refund),
            "refund_processed": fake.event("refund.processed", refunded, refund=dict(refund, status="processed")),
            "refund_failed": fake.event("refund.failed", dict(paid, amount_refunded=0, refund_status=None,
                                                              status="captured"), refund=dict(refund, status="failed")),
        }
        self.event_ids = {name: f"evt_{uuid.uuid4().hex[:16]}" for name in self.events}

    def deliver(self, name: str) -> None:
        if name in self.events:
            body, headers = self.fake.webhook(self.events[name], event_id=self.event_ids[name])
            # The official SDK agrees the delivery is Razorpay's.
            assert razorpay.Utility(None).verify_webhook_signature(body.decode(), headers["X-Razorpay-Signature"],
                                                                   WEBHOOK_SECRET)
            response = self.api.client.post("/webhooks/razorpay", data=body, headers=headers)
            assert response.status_code == 200, response.get_json()
        elif name == "expiry":
            with self.hub.app_context():  # what the sweep does, through the same door
                apply_update(StatusUpdate(gateway="razorpay", status="expired", gateway_status="", source=EXPIRY,
                                          payment_id=self.created["id"], payload={"expire_after_seconds": 1800}))
        else:
            decision = "succeeded" if name == "resolve_succeeded" else "refund_pending"
            response = self.api.post(f"/api/payments/{self.created['id']}/resolve",
                                     json={"status": decision, "note": "hypothesis"})
            assert response.status_code in (200, 409), response.get_json()


@pytest.fixture
def fake():
    yield from serving(FakeRazorpay())


@pytest.fixture
def hub(make_app, fake, database):
    return make_app(PAYHUB_RAZORPAY_KEY_ID=KEY_ID, PAYHUB_RAZORPAY_KEY_SECRET=KEY_SECRET,
                    PAYHUB_RAZORPAY_WEBHOOK_SECRET=WEBHOOK_SECRET, PAYHUB_RAZORPAY_BASE_URL=fake.url,
                    **FLOW_SETTINGS, **database)


@ON_BOTH_DATABASES
@fuzzing(120)
@given(sequence=st.lists(st.sampled_from(sorted(MEANING)), min_size=1, max_size=9))
def test_any_interleaving_ends_where_the_table_says(hub, fake, sequence):
    api = Api(hub.test_client())
    story = Story(hub, api, fake)
    for name in sequence:
        story.deliver(name)
    payment = api.payment(story.created["id"])
    status, applied = expected(sequence)
    assert (payment["status"], payment["version"]) == (status, 1 + applied), sequence
    assert payment["final"] is (status not in ("pending", "refund_pending"))
    events = payment["events"]
    assert len(events) == len(sequence)  # every authentic update is kept, applied or not
    assert sum(e["applied"] for e in events) == applied
