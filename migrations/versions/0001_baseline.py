"""Baseline: the schema `create_all` made up to commit c8213fe, exactly.

A database made by that code (no alembic_version table) is stamped at this revision at start
and upgraded from here (payhub/schema.py). Constraint names are left to the database, as
create_all left them, so that both kinds of database match.

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UTC_TIME = sa.DateTime(timezone=True)  # payhub.models.UTCDateTime stores this type
SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # INTEGER PRIMARY KEY is SQLite's rowid


def upgrade() -> None:
    op.create_table(
        "payments",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("gateway", sa.String(length=20), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("amount_received", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("gateway_status", sa.String(length=64), nullable=True),
        sa.Column("gateway_order_id", sa.String(length=100), nullable=True),
        sa.Column("gateway_payment_id", sa.String(length=100), nullable=True),
        sa.Column("gateway_reference", sa.String(length=200), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.Column("customer", sa.JSON(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("return_url", sa.String(length=2048), nullable=True),
        sa.Column("checkout", sa.JSON(), nullable=True),
        sa.Column("request_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.Column("expires_at", UTC_TIME, nullable=False),
        sa.Column("poll_lease_until", UTC_TIME, nullable=True),
        sa.Column("last_polled_at", UTC_TIME, nullable=True),
        sa.Column("refreshed_at", UTC_TIME, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("order_id"),
    )
    op.create_index("ix_payments_created", "payments", ["created_at", "id"])
    op.create_index("ix_payments_gateway_order", "payments", ["gateway", "gateway_order_id"])
    op.create_index("ix_payments_status", "payments", ["status"])
    op.create_index("ix_payments_sweep", "payments", ["status", "created_at"])

    op.create_table(
        "sandbox_transactions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("callback_url", sa.Text(), nullable=False),
        sa.Column("return_url", sa.Text(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )

    op.create_table(
        "outbox_messages",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("webhook_id", sa.String(length=40), nullable=False),
        sa.Column("payment_id", sa.String(length=40), nullable=False),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTC_TIME, nullable=False),
        sa.Column("lease_until", UTC_TIME, nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("delivered_at", UTC_TIME, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("webhook_id"),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"]),
    )
    op.create_index("ix_outbox_due", "outbox_messages", ["state", "next_attempt_at"])
    op.create_index("ix_outbox_payment", "outbox_messages", ["payment_id", "state", "id"])

    op.create_table(
        "payment_events",
        sa.Column("id", SERIAL, autoincrement=True, nullable=False),
        sa.Column("payment_id", sa.String(length=40), nullable=True),
        sa.Column("gateway", sa.String(length=20), nullable=False),
        sa.Column("gateway_order_id", sa.String(length=100), nullable=True),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("gateway_status", sa.String(length=64), nullable=True),
        sa.Column("gateway_event_id", sa.String(length=200), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("applied", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=True),
        sa.Column("status_before", sa.String(length=20), nullable=True),
        sa.Column("status_after", sa.String(length=20), nullable=True),
        sa.Column("amount_received", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("received_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_events_content", "payment_events", ["payment_id", "content_hash"])
    op.create_index("ix_events_gateway_event", "payment_events", ["payment_id", "gateway_event_id"])
    op.create_index("ix_events_payment", "payment_events", ["payment_id", "id"])


def downgrade() -> None:
    op.drop_table("payment_events")
    op.drop_table("outbox_messages")
    op.drop_table("sandbox_transactions")
    op.drop_table("payments")
