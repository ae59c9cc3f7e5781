from __future__ import annotations

from sqlalchemy import Column, Index, LargeBinary, text
from sqlmodel import Field, SQLModel

_UNSENT = text("sent_at IS NULL")


class OutboxMessage(SQLModel, table=True):
    """A message written in the same transaction as the state change that causes it.

    A relay claims a row (`claimed_by`, `claimed_until`) before publishing it, so several hub
    replicas never publish the same row at once, and a replica that dies mid-publish loses its
    claim when the lease runs out. `sent_at` is set once the broker acknowledged the row.
    `expires_at` (an offer's deadline) becomes the MQTT message expiry, so a stale offer dies
    in the broker instead of reaching a node that comes back late. `job_id` and `kind` let the
    hub find the current offer of a job to send again after a broker lost it.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        # The relay's two questions, answered from unsent rows only: what is next, and is
        # there an earlier unsent row on this topic (per-topic order across replicas).
        Index("ix_outbox_unsent", "id", postgresql_where=_UNSENT, sqlite_where=_UNSENT),
        Index("ix_outbox_unsent_topic", "topic", "id", postgresql_where=_UNSENT, sqlite_where=_UNSENT),
    )

    id: int | None = Field(default=None, primary_key=True)
    topic: str = Field(max_length=255)
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    qos: int = 1
    kind: str = Field(default="message", max_length=16)
    job_id: str | None = Field(default=None, max_length=40, index=True)
    expires_at: float | None = None
    created_at: float
    claimed_by: str | None = Field(default=None, max_length=128)
    claimed_until: float | None = None
    sent_at: float | None = Field(default=None, index=True)
