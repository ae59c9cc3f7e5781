from __future__ import annotations

from sqlalchemy import Column, LargeBinary
from sqlmodel import Field, SQLModel


class OutboxMessage(SQLModel, table=True):
    """A message written in the same transaction as the state change that causes it."""

    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    topic: str = Field(max_length=255)
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    qos: int = 1
    created_at: float
    sent_at: float | None = Field(default=None, index=True)
