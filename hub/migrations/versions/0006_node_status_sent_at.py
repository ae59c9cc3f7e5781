"""nodes: when the node sent the status the hub last applied

Every replica applies every node status (a plain subscription), and one that lags behind
could write an older status over a newer one. `status_sent_at` is the applied status's
`sent_at` (the node's clock); an older status is then ignored.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 12:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('nodes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status_sent_at', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('nodes', schema=None) as batch_op:
        batch_op.drop_column('status_sent_at')
