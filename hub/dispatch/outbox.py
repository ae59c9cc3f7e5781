"""Transactional outbox: a message is a row written in the caller's transaction, so a state
change and the message announcing it are committed together or not at all. The relay
publishes rows after commit."""

from __future__ import annotations

from sqlmodel import Session

from hub.dispatch.models import OutboxMessage
from hub.timeutil import now


def enqueue(session: Session, topic: str, payload: bytes, *, qos: int = 1) -> None:
    session.add(OutboxMessage(topic=topic, payload=payload, qos=qos, created_at=now()))
