"""outbox claims for several hub replicas, offer expiry, and the job an outbox row belongs to.

Rows written before this migration are kind 'message' with no job: they are either sent
already or go out as they are.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 10:00:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

_UNSENT = sa.text("sent_at IS NULL")


def upgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False,
                                      server_default='message'))
        batch_op.add_column(sa.Column('job_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True))
        batch_op.add_column(sa.Column('expires_at', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('claimed_by', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True))
        batch_op.add_column(sa.Column('claimed_until', sa.Float(), nullable=True))
        batch_op.create_index(batch_op.f('ix_outbox_job_id'), ['job_id'], unique=False)
        batch_op.create_index('ix_outbox_unsent', ['id'], unique=False, postgresql_where=_UNSENT,
                              sqlite_where=_UNSENT)
        batch_op.create_index('ix_outbox_unsent_topic', ['topic', 'id'], unique=False, postgresql_where=_UNSENT,
                              sqlite_where=_UNSENT)


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_unsent_topic')
        batch_op.drop_index('ix_outbox_unsent')
        batch_op.drop_index(batch_op.f('ix_outbox_job_id'))
        batch_op.drop_column('claimed_until')
        batch_op.drop_column('claimed_by')
        batch_op.drop_column('expires_at')
        batch_op.drop_column('job_id')
        batch_op.drop_column('kind')
