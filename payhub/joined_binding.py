"""Signatures over an order id and an amount joined with no separator (PayAtom's webhook hash:
md5(order_id + received_amount + status + secret)).

An authentic envelope for order `…1` and amount `25` verifies just as well as order `…12` and
amount `5`. The formula is the gateway's and cannot change, so the hub decides which payment
the signed bytes are about: every way of cutting `order_id + amount` into one of its own
order ids and a well-formed amount is a candidate.

- The claimed order id is not one the hub opened on this gateway: refused.
- It is the only candidate: the bytes can only be about it, accepted (a partial payment or a
  decline reports an amount other than the requested one, and that is fine).
- Several payments could claim the bytes: accepted only if the claimed payment is the one and
  only candidate opened with exactly that amount. Otherwise refused, and the status poll
  (whose hash covers PayAtom's ref_code) settles the payment instead.
A refused envelope writes nothing (CONTRACT.md §5, §9).
"""

from __future__ import annotations

from sqlalchemy import select

from .extensions import db
from .gateways.base import BadCallback, StatusUpdate
from .gateways.fields import RUPEES, rupees_to_paise
from .models import Payment


def holds(update: StatusUpdate) -> bool:
    """False when `update` must be refused because its signed bytes may name another payment."""
    if update.joined_order_amount is None:
        return True
    order_id, amount = update.joined_order_amount
    joined = order_id + amount
    cuts = {joined[:k]: joined[k:] for k in range(1, len(joined) + 1)
            if k == len(order_id) or RUPEES.fullmatch(joined[k:])}
    query = select(Payment.gateway_order_id, Payment.amount).where(
        Payment.gateway == update.gateway, Payment.gateway_order_id.in_(list(cuts)),
    )
    with db.engine.connect() as conn:
        opened = dict(conn.execute(query).all())
    if order_id not in opened:
        return False
    if len(opened) == 1:
        return True
    exact = [candidate for candidate, requested in opened.items() if _paise(cuts[candidate]) == requested]
    return exact == [order_id]


def _paise(amount: str) -> int | None:
    try:
        return rupees_to_paise(amount, "amount")
    except BadCallback:
        return None
