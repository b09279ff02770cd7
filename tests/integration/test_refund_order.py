"""The door and a refund's news out of order: once a refund's failure is on a payment's log,
news of that same refund starting or going through is older news (reason refund_already_failed),
whatever order the gateway sent them in. Other refunds, and refund news naming no refund, are
decided by the transition table as before."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import event

from payhub.door import apply_update
from payhub.extensions import db
from payhub.gateways.base import StatusUpdate
from tests.conftest import ON_BOTH_DATABASES

KIND_STATUS = {"success": "succeeded", "refund_pending": "refund_pending", "refunded": "refunded",
               "refund_failed": "succeeded"}


def news(payment: dict, kind: str, subject: str | None = None) -> StatusUpdate:
    """A sandbox update of `kind` about the payment (and about refund `subject`), a new event each."""
    event_id = f"evt_{uuid.uuid4().hex[:12]}"
    return StatusUpdate(gateway="sandbox", kind=kind, status=KIND_STATUS[kind], gateway_status=kind,
                        gateway_order_id=payment["gateway_order_id"], gateway_event_id=event_id,
                        subject_id=subject, amount_received=payment["amount"] if kind == "success" else None,
                        payload={"event_id": event_id, "refund": subject})


def told(app, *updates: StatusUpdate) -> list[tuple[str, str | None]]:
    """Apply each through the door: their (result, reason)."""
    with app.app_context():
        return [(o.result, o.reason) for o in map(apply_update, updates)]


@ON_BOTH_DATABASES
def test_news_of_a_refund_after_its_failure_changes_nothing(app, api):
    payment = api.create()
    assert told(app, news(payment, "success"), news(payment, "refund_failed", "re_A")) == [
        ("applied", None), ("not_applied", "no_change")]
    late = told(app, news(payment, "refund_pending", "re_A"), news(payment, "refunded", "re_A"))
    assert late == [("not_applied", "refund_already_failed")] * 2
    seen = api.payment(payment["id"])
    assert (seen["status"], seen["version"], seen["final"]) == ("succeeded", 2, True)
    assert len(seen["events"]) == 4  # every one recorded


@ON_BOTH_DATABASES
def test_another_refund_and_refund_news_naming_none_still_apply(app, api):
    payment = api.create()
    told(app, news(payment, "success"), news(payment, "refund_failed", "re_A"))
    assert told(app, news(payment, "refund_pending", "re_B")) == [("applied", None)]
    assert told(app, news(payment, "refund_failed", "re_B")) == [("applied", "refund_failed")]
    assert told(app, news(payment, "refunded")) == [("applied", None)]  # e.g. Stripe's charge.refunded
    assert api.payment(payment["id"])["status"] == "refunded"


@pytest.mark.parametrize("kind", ["refund_pending", "refunded"])
def test_a_failure_logged_before_the_money_arrived_still_counts(app, api, kind):
    payment = api.create()
    assert told(app, news(payment, "refund_failed", "re_A")) == [("not_applied", "illegal_transition")]
    assert told(app, news(payment, kind, "re_A"), news(payment, "success")) == [
        ("not_applied", "refund_already_failed"), ("applied", None)]
    assert api.payment(payment["id"])["status"] == "succeeded"


def test_a_success_asks_nothing_about_refunds(app, api):
    """The hot path: only refund news naming a refund looks for its failure."""
    payment = api.create()
    statements: list[str] = []
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        apply_update(news(payment, "success"))
        looked = [s for s in statements if "subject_id =" in s]
        apply_update(news(payment, "refund_pending", "re_A"))
    assert looked == []
    assert len([s for s in statements if "subject_id =" in s]) == 1


# Two refunds of one payment (issue 7): the failure of one does not make the payment read
# succeeded while the other is still on its way back.
@ON_BOTH_DATABASES
def test_a_refund_failure_with_another_refund_open_keeps_refund_pending(app, api):
    payment = api.create()
    told(app, news(payment, "success"), *(news(payment, "refund_pending", r) for r in ("re_A", "re_B")))
    assert told(app, news(payment, "refund_failed", "re_A")) == [("not_applied", "other_refund_open")]
    seen = api.payment(payment["id"])
    assert (seen["status"], seen["version"], seen["final"]) == ("refund_pending", 3, False)
    assert told(app, news(payment, "refund_failed", "re_B")) == [("applied", "refund_failed")]  # none open now
    seen = api.payment(payment["id"])
    assert (seen["status"], seen["version"], seen["final"]) == ("succeeded", 4, True)


@ON_BOTH_DATABASES
def test_the_other_refund_going_through_after_a_failure_ends_refunded(app, api):
    payment = api.create()
    told(app, news(payment, "success"), *(news(payment, "refund_pending", r) for r in ("re_A", "re_B")))
    assert told(app, news(payment, "refund_failed", "re_A"), news(payment, "refunded", "re_B")) == [
        ("not_applied", "other_refund_open"), ("applied", None)]
    assert api.payment(payment["id"])["status"] == "refunded"


@ON_BOTH_DATABASES
def test_refunds_that_failed_or_name_none_leave_a_failure_applied(app, api):
    payment = api.create()
    # re_B failed before its creation arrived; the charge-level refund news names no refund.
    told(app, news(payment, "success"), news(payment, "refund_failed", "re_B"), news(payment, "refund_pending", "re_B"),
         news(payment, "refund_pending"), news(payment, "refund_pending", "re_A"))
    assert told(app, news(payment, "refund_failed", "re_A")) == [("applied", "refund_failed")]
    assert api.payment(payment["id"])["status"] == "succeeded"


def test_a_refund_failure_asks_about_other_refunds_only_while_refund_pending(app, api):
    payment = api.create()
    statements: list[str] = []
    with app.app_context():
        apply_update(news(payment, "success"))
        event.listen(db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        apply_update(news(payment, "refund_failed", "re_A"))  # succeeded: the table says no_change
        settled = len([s for s in statements if "EXISTS" in s.upper()])
        apply_update(news(payment, "refund_pending", "re_A2"))
        apply_update(news(payment, "refund_failed", "re_A2"))
    assert settled == 0
    assert len([s for s in statements if "EXISTS" in s.upper()]) == 1
