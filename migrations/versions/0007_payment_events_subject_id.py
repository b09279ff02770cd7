"""payment_events.subject_id: the refund (or other object) an update is about

A refund's failure can arrive before its creation (gateways promise no order). The door finds
an earlier failure of the same refund by (payment_id, subject_id); rows that exist already keep
null, which never matches.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 14:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('payment_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subject_id', sa.String(length=100), nullable=True))
        batch_op.create_index('ix_events_subject', ['payment_id', 'subject_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('payment_events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_subject')
        batch_op.drop_column('subject_id')
