"""Payment statuses and the transition table (CONTRACT.md §2). Pure: no I/O, no database."""

from __future__ import annotations

from dataclasses import dataclass

PENDING = "pending"
SUCCEEDED = "succeeded"
FAILED = "failed"
EXPIRED = "expired"
CANCELLED = "cancelled"
NEEDS_REVIEW = "needs_review"
REFUND_PENDING = "refund_pending"
REFUNDED = "refunded"

STATUSES: tuple[str, ...] = (
    PENDING, SUCCEEDED, FAILED, EXPIRED, CANCELLED, NEEDS_REVIEW, REFUND_PENDING, REFUNDED,
)

# from -> the statuses it may move to. Anything else is recorded but not applied.
TRANSITIONS: dict[str, frozenset[str]] = {
    PENDING: frozenset({SUCCEEDED, FAILED, EXPIRED, CANCELLED, NEEDS_REVIEW}),
    # Money that arrives late is never lost: a closed payment can still succeed.
    FAILED: frozenset({SUCCEEDED, NEEDS_REVIEW}),
    EXPIRED: frozenset({SUCCEEDED, NEEDS_REVIEW}),
    CANCELLED: frozenset({SUCCEEDED, NEEDS_REVIEW}),
    NEEDS_REVIEW: frozenset({SUCCEEDED, REFUND_PENDING, REFUNDED}),
    SUCCEEDED: frozenset({REFUND_PENDING, REFUNDED}),
    REFUND_PENDING: frozenset({REFUNDED}),
    REFUNDED: frozenset(),
}

NOT_FINAL = frozenset({PENDING, REFUND_PENDING})

# Reasons written on events.
DUPLICATE = "duplicate"
ILLEGAL_TRANSITION = "illegal_transition"
AMOUNT_MISMATCH = "amount_mismatch"
NO_CHANGE = "no_change"


def is_final(status: str) -> bool:
    """`final` is true for every status but pending and refund_pending."""
    return status not in NOT_FINAL


def can_move(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


@dataclass(frozen=True)
class Decision:
    """What the one door should do with an update: apply it (to `status`) or only record it."""

    applied: bool
    status: str
    reason: str | None = None


def decide(
    *,
    current: str,
    target: str,
    amount: int,
    currency: str,
    amount_received: int | None = None,
    currency_received: str | None = None,
) -> Decision:
    """Decide by the transition table whether an update moving `current` to `target` applies.

    A success whose received amount or currency differs from the payment's becomes
    needs_review (reason amount_mismatch). Reporting the current status again, or a move
    the table forbids, changes nothing.
    """
    reason = None
    if target == SUCCEEDED and _mismatch(amount, currency, amount_received, currency_received):
        target, reason = NEEDS_REVIEW, AMOUNT_MISMATCH
    if target == current:
        return Decision(False, current, reason or NO_CHANGE)
    if not can_move(current, target):
        return Decision(False, current, ILLEGAL_TRANSITION if target != PENDING else NO_CHANGE)
    return Decision(True, target, reason)


def _mismatch(amount: int, currency: str, received: int | None, received_currency: str | None) -> bool:
    if received is not None and received != amount:
        return True
    return received_currency is not None and received_currency.upper() != currency.upper()
