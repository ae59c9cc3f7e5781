"""nodes: which MQTT connection of the node the applied status belongs to

A node's Last Will carries the time the node built it, so by `sent_at` alone a will is
older than every status the node published since, and a lagging replica applying a will
after the node came back marked it offline. Statuses now carry `connection_epoch` (the
node renews its will, with a new epoch, before each connection); `status_connection_epoch`
is the applied status's, and a status of an earlier connection (its will included) is stale.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 14:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('nodes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('status_connection_epoch', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('nodes', schema=None) as batch_op:
        batch_op.drop_column('status_connection_epoch')
