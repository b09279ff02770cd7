"""Payment statuses, update kinds and the transition table (CONTRACT.md §2). Pure: no I/O.

The door decides by what an update *is* (its kind), not only by the status it would lead to:
a refund that failed and a payment that succeeded both lead to `succeeded`, but only the first
may leave `refund_pending`; an operator's resolve and a gateway's success both lead to
`succeeded`, but only the first may close a review without proof of the full amount.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

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


class Kind(StrEnum):
    """What an update says happened. Kept on its event row."""

    SUCCESS = "success"  # money arrived (with the amount received, when the source says it)
    FAILURE = "failure"
    EXPIRY = "expiry"
    CANCEL = "cancel"
    PROCESSING = "processing"  # still processing: never changes anything
    REFUND_PENDING = "refund_pending"  # a refund started, or only part of the money went back
    REFUNDED = "refunded"  # all of the money went back
    REFUND_FAILED = "refund_failed"  # a refund did not happen: the money stays with the merchant
    RESOLVE = "resolve"  # an operator's decision on a payment under review
    INFO = "info"  # kept on the log, never applied (disputes, notices)


# The status each kind leads to (RESOLVE: the status the operator chose).
TARGETS: dict[Kind, str] = {
    Kind.SUCCESS: SUCCEEDED, Kind.FAILURE: FAILED, Kind.EXPIRY: EXPIRED, Kind.CANCEL: CANCELLED,
    Kind.PROCESSING: PENDING, Kind.INFO: PENDING,
    Kind.REFUND_PENDING: REFUND_PENDING, Kind.REFUNDED: REFUNDED, Kind.REFUND_FAILED: SUCCEEDED,
}
# A source that only reports a status (most gateway payloads) reports this kind.
KIND_OF_STATUS: dict[str, Kind] = {
    PENDING: Kind.PROCESSING, SUCCEEDED: Kind.SUCCESS, FAILED: Kind.FAILURE, EXPIRED: Kind.EXPIRY,
    CANCELLED: Kind.CANCEL, REFUND_PENDING: Kind.REFUND_PENDING, REFUNDED: Kind.REFUNDED,
}
RESOLUTIONS = (SUCCEEDED, REFUND_PENDING)

_CLOSED = (FAILED, EXPIRED, CANCELLED)
# from -> the kinds of update that apply to it (each leads to its TARGETS status; a success
# whose amount differs to needs_review). Any other update is recorded but not applied.
# Money that arrives late is never lost (closed -> succeeded), nor its refund, and a refund
# may arrive before the success it refunds (that success is then older news).
TABLE: dict[str, frozenset[Kind]] = {
    PENDING: frozenset({Kind.SUCCESS, Kind.FAILURE, Kind.EXPIRY, Kind.CANCEL, Kind.REFUND_PENDING, Kind.REFUNDED}),
    **{closed: frozenset({Kind.SUCCESS, Kind.REFUND_PENDING, Kind.REFUNDED}) for closed in _CLOSED},
    # Out of review only with proof of the full amount (see decide) or by an operator.
    NEEDS_REVIEW: frozenset({Kind.SUCCESS, Kind.RESOLVE, Kind.REFUND_PENDING, Kind.REFUNDED}),
    SUCCEEDED: frozenset({Kind.REFUND_PENDING, Kind.REFUNDED}),
    REFUND_PENDING: frozenset({Kind.REFUNDED, Kind.REFUND_FAILED}),
    REFUNDED: frozenset(),
}

NOT_FINAL = frozenset({PENDING, REFUND_PENDING})

# Reasons written on events.
DUPLICATE = "duplicate"
ILLEGAL_TRANSITION = "illegal_transition"
AMOUNT_MISMATCH = "amount_mismatch"
AMOUNT_UNCONFIRMED = "amount_unconfirmed"  # a success without the amount cannot close a review
NO_CHANGE = "no_change"
INFORMATIONAL = "informational"
# News that a refund started or went through, when its failure is already on the payment's log
# (the gateway sent them out of order): older news, or the payment would wait in refund_pending
# for an event that never comes.
REFUND_ALREADY_FAILED = "refund_already_failed"
# The kinds an earlier failure of the same refund makes older news.
REFUND_PROGRESS = frozenset({Kind.REFUND_PENDING, Kind.REFUNDED})
# A refund's failure while another refund of the payment is still open (started or gone
# through, not failed): the payment stays refund_pending, or it would read succeeded while
# money is on its way back.
OTHER_REFUND_OPEN = "other_refund_open"


def is_final(status: str) -> bool:
    """`final` is true for every status but pending and refund_pending."""
    return status not in NOT_FINAL


def kind_of(status: str) -> Kind:
    """The kind of an update that only reports `status`."""
    try:
        return KIND_OF_STATUS[status]
    except KeyError:
        raise ValueError(f"no update kind reports status {status!r}") from None


def target_of(kind: Kind, resolution: str | None = None) -> str:
    """The status an update of `kind` leads to; for RESOLVE, the operator's `resolution`."""
    if kind is Kind.RESOLVE:
        if resolution not in RESOLUTIONS:
            raise ValueError(f"a resolve leads to one of {RESOLUTIONS}, not {resolution!r}")
        return resolution
    return TARGETS[kind]


@dataclass(frozen=True)
class Decision:
    """What the one door should do with an update: apply it (to `status`) or only record it."""

    applied: bool
    status: str
    reason: str | None = None


def decide(
    *,
    current: str,
    kind: Kind,
    amount: int,
    currency: str,
    amount_received: int | None = None,
    currency_received: str | None = None,
    resolution: str | None = None,
    refund_failed_before: bool = False,
    other_refund_open: bool = False,
) -> Decision:
    """Decide by the transition table whether an update of `kind` applies to a payment in
    `current` (worth `amount` `currency`).

    A success whose received amount or currency differs goes to needs_review (reason
    amount_mismatch). Only a success that reports the full amount received leaves
    needs_review; a currency the source does not report is its only one, the payment's. A
    repeated update, an older one, or a move the table forbids changes nothing.
    `refund_failed_before`: the payment's log already holds the failure of the refund this
    update is about, so a refund_pending or refunded update is older news.
    `other_refund_open`: another refund of the payment is still open, so a refund_failed
    update does not take a refund_pending payment back to succeeded.
    """
    if kind is Kind.INFO:
        return Decision(False, current, INFORMATIONAL)
    if refund_failed_before and kind in REFUND_PROGRESS:
        return Decision(False, current, REFUND_ALREADY_FAILED)
    if other_refund_open and kind is Kind.REFUND_FAILED and current == REFUND_PENDING:
        return Decision(False, current, OTHER_REFUND_OPEN)
    target, reason = target_of(kind, resolution), None
    if kind is Kind.SUCCESS:
        if _mismatch(amount, currency, amount_received, currency_received):
            target, reason = NEEDS_REVIEW, AMOUNT_MISMATCH
        elif current == NEEDS_REVIEW and amount_received is None:
            return Decision(False, current, AMOUNT_UNCONFIRMED)
    if target == current:
        return Decision(False, current, reason or NO_CHANGE)
    if kind not in TABLE[current]:
        return Decision(False, current, NO_CHANGE if target == PENDING else ILLEGAL_TRANSITION)
    if kind is Kind.REFUND_FAILED:
        reason = Kind.REFUND_FAILED.value
    return Decision(True, target, reason)


def _mismatch(amount: int, currency: str, received: int | None, received_currency: str | None) -> bool:
    if received is not None and received != amount:
        return True
    return received_currency is not None and received_currency.upper() != currency.upper()
