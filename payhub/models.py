"""Tables: payments, their events (the audit log), and the sandbox gateway's own ledger.

Only portable column types, so the same models run on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from .extensions import db


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC in and out; SQLite hands back naive values, PostgreSQL aware ones."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Payment(db.Model):
    __tablename__ = "payments"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64), unique=True)
    gateway: Mapped[str] = mapped_column(String(20))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    amount_received: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(20), index=True)
    gateway_status: Mapped[str | None] = mapped_column(String(64))
    gateway_order_id: Mapped[str | None] = mapped_column(String(100))
    gateway_payment_id: Mapped[str | None] = mapped_column(String(100))
    gateway_reference: Mapped[str | None] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer, default=1)
    final: Mapped[bool] = mapped_column(Boolean, default=False)
    customer: Mapped[dict] = mapped_column(JSON, default=dict)
    meta: Mapped[dict] = mapped_column("metadata", JSON, default=dict)
    return_url: Mapped[str | None] = mapped_column(String(2048))
    # Gateway client parameters for the browser; null until the gateway has accepted it.
    checkout: Mapped[dict | None] = mapped_column(JSON)
    # The opening claim: while checkout is null, the request that set this (and holds it until
    # then) is the one calling the gateway's create; the others for the same order wait.
    opening_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # sha256 of the create request, so the same order_id with another body is a 409.
    request_fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # When the sweep next polls this payment (null: never again). It is also the poll lease:
    # a sweep claims the payment by moving it past the poll's end (payhub/poll_schedule.py).
    next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Rate limit of POST /refresh, shared by every process.
    refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_payments_gateway_order", "gateway", "gateway_order_id"),
        Index("ix_payments_created", "created_at", "id"),
        Index("ix_payments_sweep", "status", "created_at"),
        Index("ix_payments_next_poll", "next_poll_at", "id"),
    )


class PaymentEvent(db.Model):
    """Every update that reached the hub, applied or not, and why (the audit trail)."""

    __tablename__ = "payment_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    # Null for an authentic event about a payment PayHub does not know (yet).
    payment_id: Mapped[str | None] = mapped_column(ForeignKey("payments.id"))
    gateway: Mapped[str] = mapped_column(String(20))
    gateway_order_id: Mapped[str | None] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(10))
    # What the update said happened (lifecycle.Kind: success, refund_failed, resolve, info, ...).
    kind: Mapped[str | None] = mapped_column(String(20))
    # The status that update leads to (`pending` for one that asks for no change).
    status: Mapped[str] = mapped_column(String(20))
    gateway_status: Mapped[str | None] = mapped_column(String(64))
    gateway_event_id: Mapped[str | None] = mapped_column(String(200))
    # The gateway's id of what the update is about when that is not the payment itself: the
    # refund (Razorpay rfnd_..., Stripe re_...), so news of one refund is told from another's.
    subject_id: Mapped[str | None] = mapped_column(String(100))
    content_hash: Mapped[str] = mapped_column(String(64))
    applied: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(String(40))
    status_before: Mapped[str | None] = mapped_column(String(20))
    status_after: Mapped[str | None] = mapped_column(String(20))
    amount_received: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))
    payload: Mapped[Any] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        Index("ix_events_payment", "payment_id", "id"),
        Index("ix_events_gateway_event", "payment_id", "gateway_event_id"),
        Index("ix_events_content", "payment_id", "content_hash"),
        Index("ix_events_subject", "payment_id", "subject_id"),
    )


class SandboxTransaction(db.Model):
    """The sandbox gateway's own ledger: what the 'gateway' believes, apart from PayHub's."""

    __tablename__ = "sandbox_transactions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20), default="processing")
    # What the shopper actually paid (may differ from `amount`); null until paid.
    amount_paid: Mapped[int | None] = mapped_column(BigInteger)
    callback_url: Mapped[str] = mapped_column(Text)
    return_url: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxMessage(db.Model):
    """A status notification owed to the merchant (CONTRACT.md §8), written in the same
    transaction as the change it reports, delivered and retried from here."""

    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    webhook_id: Mapped[str] = mapped_column(String(40), unique=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"))
    event_type: Mapped[str] = mapped_column(String(40))
    # The exact bytes to send, frozen at commit time so every retry is identical.
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(10), default="pending")  # pending, delivered, dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_outbox_due", "state", "next_attempt_at"),
        Index("ix_outbox_payment", "payment_id", "state", "id"),
    )


class OperatorSession(db.Model):
    """A signed-in dashboard session. The cookie holds a random token; this row holds only
    its sha256, so signing out (deleting the row) ends the session in every process."""

    __tablename__ = "operator_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Bound to the API key it was opened with: rotating the key signs every operator out.
    key_mark: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
