"""The transition table of CONTRACT.md §2, restated here on its own (not imported): every
allowed row, every forbidden move, by update kind."""

from __future__ import annotations

import itertools

import pytest

from payhub import lifecycle as lc

STATUSES = ["pending", "succeeded", "failed", "expired", "cancelled", "needs_review", "refund_pending", "refunded"]

# CONTRACT.md §2 "Allowed transitions", as written there: from -> to.
CONTRACT_ROWS = {
    "pending": {"succeeded", "failed", "expired", "cancelled", "needs_review", "refund_pending", "refunded"},
    "failed": {"succeeded", "needs_review", "refund_pending", "refunded"},
    "expired": {"succeeded", "needs_review", "refund_pending", "refunded"},
    "cancelled": {"succeeded", "needs_review", "refund_pending", "refunded"},
    "needs_review": {"succeeded", "refund_pending", "refunded"},
    "succeeded": {"refund_pending", "refunded"},
    "refund_pending": {"refunded", "succeeded"},
    "refunded": set(),
}

# The updates an adapter, the sweep, the API or an operator can bring, as (name, kind, extra).
# The payment in these tests is 1000 INR.
UPDATES = {
    "success": ("success", {"amount_received": 1000, "currency_received": "INR"}),
    "success_no_amount": ("success", {}),
    "success_short": ("success", {"amount_received": 900, "currency_received": "INR"}),
    "success_other_currency": ("success", {"amount_received": 1000, "currency_received": "USD"}),
    "failure": ("failure", {}),
    "expiry": ("expiry", {}),
    "cancel": ("cancel", {}),
    "processing": ("processing", {}),
    "refund_pending": ("refund_pending", {}),
    "refunded": ("refunded", {}),
    "refund_failed": ("refund_failed", {}),
    "resolve_succeeded": ("resolve", {"resolution": "succeeded"}),
    "resolve_refund": ("resolve", {"resolution": "refund_pending"}),
    "dispute": ("info", {}),
}

# (from, update) -> (to, reason on the event). Every pair not listed is recorded, not applied.
APPLIED = {
    **{("pending", u): (to, r) for u, to, r in [
        ("success", "succeeded", None), ("success_no_amount", "succeeded", None),
        ("success_short", "needs_review", "amount_mismatch"),
        ("success_other_currency", "needs_review", "amount_mismatch"),
        ("failure", "failed", None), ("expiry", "expired", None), ("cancel", "cancelled", None),
        ("refund_pending", "refund_pending", None), ("refunded", "refunded", None)]},
    **{(closed, u): (to, r) for closed in ("failed", "expired", "cancelled") for u, to, r in [
        ("success", "succeeded", None), ("success_no_amount", "succeeded", None),
        ("success_short", "needs_review", "amount_mismatch"),
        ("success_other_currency", "needs_review", "amount_mismatch"),
        ("refund_pending", "refund_pending", None), ("refunded", "refunded", None)]},
    ("needs_review", "success"): ("succeeded", None),
    ("needs_review", "resolve_succeeded"): ("succeeded", None),
    ("needs_review", "resolve_refund"): ("refund_pending", None),
    ("needs_review", "refund_pending"): ("refund_pending", None),
    ("needs_review", "refunded"): ("refunded", None),
    ("succeeded", "refund_pending"): ("refund_pending", None),
    ("succeeded", "refunded"): ("refunded", None),
    ("refund_pending", "refunded"): ("refunded", None),
    ("refund_pending", "refund_failed"): ("succeeded", "refund_failed"),
}
FORBIDDEN = sorted(set(itertools.product(STATUSES, UPDATES)) - set(APPLIED))


def decide(current, update):
    kind, extra = UPDATES[update]
    return lc.decide(current=current, kind=lc.Kind(kind), amount=1000, currency="INR", **extra)


@pytest.mark.parametrize(("current", "update"), sorted(APPLIED))
def test_allowed_update_applies(current, update):
    to, reason = APPLIED[(current, update)]
    assert decide(current, update) == lc.Decision(True, to, reason)


@pytest.mark.parametrize(("current", "update"), FORBIDDEN)
def test_forbidden_update_is_recorded_not_applied(current, update):
    decision = decide(current, update)
    assert decision.applied is False and decision.status == current
    assert decision.reason in {"illegal_transition", "no_change", "amount_mismatch", "amount_unconfirmed",
                               "informational"}


@pytest.mark.parametrize("current", STATUSES)
def test_rows_reachable_by_some_update_are_exactly_the_contract_rows(current):
    reached = {decide(current, u).status for u in UPDATES if decide(current, u).applied}
    assert reached == CONTRACT_ROWS[current]


@pytest.mark.parametrize("current", STATUSES)
def test_nothing_returns_to_pending(current):
    for update in UPDATES:
        decision = decide(current, update)
        assert not (decision.applied and decision.status == "pending")
    assert decide(current, "processing") == lc.Decision(False, current, "no_change")


@pytest.mark.parametrize("current", STATUSES)
def test_informational_updates_are_never_applied(current):
    assert decide(current, "dispute") == lc.Decision(False, current, "informational")


def test_success_without_the_amount_never_leaves_review():
    assert decide("needs_review", "success_no_amount") == lc.Decision(False, "needs_review", "amount_unconfirmed")


@pytest.mark.parametrize("update", ["success_short", "success_other_currency"])
def test_another_mismatch_keeps_review_without_a_change(update):
    assert decide("needs_review", update) == lc.Decision(False, "needs_review", "amount_mismatch")


def test_full_amount_without_a_currency_leaves_review():
    """A gateway that reports no currency (sandbox, PayAtom) has only the payment's one."""
    decision = lc.decide(current="needs_review", kind=lc.Kind.SUCCESS, amount=1000, currency="INR",
                         amount_received=1000)
    assert decision == lc.Decision(True, "succeeded", None)


def test_currency_is_compared_without_case():
    decision = lc.decide(current="pending", kind=lc.Kind.SUCCESS, amount=1000, currency="INR",
                         amount_received=1000, currency_received="inr")
    assert decision == lc.Decision(True, "succeeded", None)


@pytest.mark.parametrize("current", ["refund_pending", "refunded"])
def test_a_success_after_its_refund_is_older_news(current):
    assert decide(current, "success") == lc.Decision(False, current, "illegal_transition")


@pytest.mark.parametrize("current", ["pending", "failed", "expired", "cancelled", "needs_review"])
def test_refund_failure_leaves_only_refund_pending(current):
    assert decide(current, "refund_failed") == lc.Decision(False, current, "illegal_transition")


@pytest.mark.parametrize("current", STATUSES)
@pytest.mark.parametrize("update", ["refund_pending", "refunded"])
def test_news_of_a_refund_whose_failure_is_logged_is_older_news(current, update):
    kind, extra = UPDATES[update]
    decision = lc.decide(current=current, kind=lc.Kind(kind), amount=1000, currency="INR", refund_failed_before=True,
                         **extra)
    assert decision == lc.Decision(False, current, "refund_already_failed")


@pytest.mark.parametrize("update", sorted(set(UPDATES) - {"refund_pending", "refunded"}))
def test_a_logged_refund_failure_changes_no_other_decision(update):
    kind, extra = UPDATES[update]
    for current in STATUSES:
        told = lc.decide(current=current, kind=lc.Kind(kind), amount=1000, currency="INR", refund_failed_before=True,
                         **extra)
        assert told == decide(current, update)


def test_a_refund_failure_with_another_refund_open_keeps_refund_pending():
    decision = lc.decide(current="refund_pending", kind=lc.Kind.REFUND_FAILED, amount=1000, currency="INR",
                         other_refund_open=True)
    assert decision == lc.Decision(False, "refund_pending", "other_refund_open")
    assert lc.OTHER_REFUND_OPEN == "other_refund_open"


@pytest.mark.parametrize("update", sorted(UPDATES))
def test_another_open_refund_changes_no_other_decision(update):
    kind, extra = UPDATES[update]
    for current in STATUSES:
        if (current, update) == ("refund_pending", "refund_failed"):
            continue
        told = lc.decide(current=current, kind=lc.Kind(kind), amount=1000, currency="INR", other_refund_open=True,
                         **extra)
        assert told == decide(current, update)


def test_a_success_never_undoes_a_refund_in_progress():
    assert decide("refund_pending", "success").applied is False
    assert decide("refund_pending", "success_no_amount").applied is False


@pytest.mark.parametrize("current", [s for s in STATUSES if s != "needs_review"])
@pytest.mark.parametrize("resolve", ["resolve_succeeded", "resolve_refund"])
def test_operator_resolves_only_a_payment_under_review(current, resolve):
    assert decide(current, resolve).applied is False


@pytest.mark.parametrize("bad", ["failed", "refunded", "pending", "", None])
def test_a_resolve_to_anything_else_is_refused(bad):
    with pytest.raises(ValueError):
        lc.decide(current="needs_review", kind=lc.Kind.RESOLVE, amount=1000, currency="INR", resolution=bad)


@pytest.mark.parametrize("status", STATUSES)
def test_final_for_every_status_but_pending_and_refund_pending(status):
    assert lc.is_final(status) is (status not in ("pending", "refund_pending"))


@pytest.mark.parametrize(("status", "kind"), [
    ("pending", "processing"), ("succeeded", "success"), ("failed", "failure"), ("expired", "expiry"),
    ("cancelled", "cancel"), ("refund_pending", "refund_pending"), ("refunded", "refunded"),
])
def test_a_bare_status_reports_its_kind(status, kind):
    assert lc.kind_of(status) == kind


def test_needs_review_is_never_reported_as_a_bare_status():
    """A gateway cannot put a payment under review by saying so; only a mismatch does."""
    with pytest.raises(ValueError):
        lc.kind_of("needs_review")
