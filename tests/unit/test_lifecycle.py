"""The transition table of CONTRACT.md §2: every allowed row, every forbidden move."""

from __future__ import annotations

import itertools

import pytest

from payhub import lifecycle as lc

ALLOWED = {
    ("pending", "succeeded"), ("pending", "failed"), ("pending", "expired"), ("pending", "cancelled"),
    ("pending", "needs_review"),
    ("failed", "succeeded"), ("failed", "needs_review"),
    ("expired", "succeeded"), ("expired", "needs_review"),
    ("cancelled", "succeeded"), ("cancelled", "needs_review"),
    ("needs_review", "succeeded"), ("needs_review", "refund_pending"), ("needs_review", "refunded"),
    ("succeeded", "refund_pending"), ("succeeded", "refunded"),
    ("refund_pending", "refunded"),
}
ALL_MOVES = [(a, b) for a, b in itertools.product(lc.STATUSES, repeat=2) if a != b]


def decide(current, target, amount_received=None, currency=None):
    return lc.decide(current=current, target=target, amount=1000, currency="INR",
                     amount_received=amount_received, currency_received=currency)


@pytest.mark.parametrize(("current", "target"), sorted(ALLOWED))
def test_allowed_move_applies(current, target):
    decision = decide(current, target)
    assert decision == lc.Decision(True, target, None)


@pytest.mark.parametrize(("current", "target"), [m for m in ALL_MOVES if m not in ALLOWED])
def test_forbidden_move_is_recorded_not_applied(current, target):
    decision = decide(current, target)
    assert decision.applied is False and decision.status == current
    assert decision.reason == ("no_change" if target == "pending" else "illegal_transition")


@pytest.mark.parametrize("status", lc.STATUSES)
def test_same_status_again_changes_nothing(status):
    assert decide(status, status) == lc.Decision(False, status, "no_change")


@pytest.mark.parametrize("current", ["pending", "failed", "expired", "cancelled"])
def test_success_with_another_amount_goes_to_review(current):
    assert decide(current, "succeeded", amount_received=900) == lc.Decision(True, "needs_review", "amount_mismatch")


def test_success_in_another_currency_goes_to_review():
    assert decide("pending", "succeeded", 1000, "USD") == lc.Decision(True, "needs_review", "amount_mismatch")


def test_success_with_the_right_amount_and_currency_succeeds():
    assert decide("pending", "succeeded", 1000, "inr") == lc.Decision(True, "succeeded", None)


def test_mismatch_after_success_is_not_applied():
    decision = decide("succeeded", "succeeded", amount_received=5)
    assert decision.applied is False and decision.status == "succeeded"


def test_late_matching_success_settles_a_payment_under_review():
    assert decide("needs_review", "succeeded", amount_received=1000) == lc.Decision(True, "succeeded", None)


def test_nothing_returns_to_pending():
    for status in lc.STATUSES:
        assert decide(status, "pending").applied is False


@pytest.mark.parametrize("status", lc.STATUSES)
def test_final_for_every_status_but_pending_and_refund_pending(status):
    assert lc.is_final(status) is (status not in ("pending", "refund_pending"))
