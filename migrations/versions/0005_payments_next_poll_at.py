"""payments.next_poll_at: the sweep's schedule and poll lease

One indexed column says when the sweep next polls each payment (null: never again) and is also
the poll lease, replacing poll_lease_until and last_polled_at (payhub/poll_schedule.py).

Rows that exist already are made due now: pending payments opened at their gateway, and
payments closed as failed, expired or cancelled in the last three days (the default late
watch's last age). The sweep does not poll them blindly: it re-plans each one it claims from
its age and the settings of the moment (a young pending payment, or a closed one whose first
late-watch age has not come, is rescheduled without a poll).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 10:21:40.312285
"""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

RECENTLY_CLOSED = timedelta(days=3)


def upgrade() -> None:
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_poll_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_payments_next_poll', ['next_poll_at', 'id'], unique=False)
        batch_op.drop_column('poll_lease_until')
        batch_op.drop_column('last_polled_at')
    op.execute(sa.text(
        "UPDATE payments SET next_poll_at = created_at "
        "WHERE status = 'pending' AND gateway_order_id IS NOT NULL"))
    since = sa.bindparam("since", datetime.now(UTC) - RECENTLY_CLOSED, type_=sa.DateTime(timezone=True))
    op.execute(sa.text(
        "UPDATE payments SET next_poll_at = updated_at "
        "WHERE status IN ('failed', 'expired', 'cancelled') AND updated_at >= :since").bindparams(since))


def downgrade() -> None:
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_polled_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('poll_lease_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_index('ix_payments_next_poll')
        batch_op.drop_column('next_poll_at')
