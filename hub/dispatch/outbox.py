"""Transactional outbox: a message is a row written in the caller's transaction, so a state
change and the message announcing it are committed together or not at all. The relay
publishes rows after commit.

The functions below are the relay's whole contract with the table, in SQL that works on
SQLite (one hub process) and on PostgreSQL (several replicas):

- `claim`: take up to n unsent rows for one relay, with a lease. On PostgreSQL the rows are
  picked with `FOR UPDATE SKIP LOCKED`, so two replicas never take the same row and never
  wait for each other; a replica that dies loses its claims when the lease runs out.
- Per-topic order holds across replicas: a relay takes whole topics (see `claim`). Why it
  matters: a node must see an offer before the cancel that withdraws it.
- `mark_sent` after the broker's PUBACK; `requeue_after_broker_loss` when the broker may have
  lost what it had acknowledged (a SIGKILLed Mosquitto loses everything since its last save);
  `prune_sent` deletes acknowledged rows once nothing can need them again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, and_, delete, exists, func, or_, select, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from hub.db import table_of
from hub.dispatch.bulk import stage
from hub.dispatch.models import OutboxMessage
from hub.orders.models import Job, JobStatus
from hub.timeutil import now

OFFER = "offer"
COMMAND = "command"
_TABLE = table_of(OutboxMessage)


def enqueue(
    session: Session,
    topic: str,
    payload: bytes,
    *,
    qos: int = 1,
    kind: str = "message",
    job_id: str | None = None,
    expires_at: float | None = None,
) -> None:
    """Write one message in the caller's transaction; `expires_at` becomes its MQTT expiry.

    Staged as a plain row (`hub.dispatch.bulk`) and inserted with the transaction's other
    messages in one statement when it commits: an order of 50 copies writes 50 offers."""
    stage(
        session,
        _TABLE,
        {
            "topic": topic,
            "payload": payload,
            "qos": qos,
            "kind": kind,
            "job_id": job_id,
            "expires_at": expires_at,
            "created_at": now(),
            "claimed_by": None,
            "claimed_until": None,
            "sent_at": None,
        },
    )


@dataclass(frozen=True, slots=True)
class Claimed:
    """One row a relay now holds: what to publish, and until when nobody else will."""

    id: int
    topic: str
    payload: bytes
    qos: int
    expires_at: float | None


def claim(session: Session, owner: str, *, limit: int, lease_s: float, at: float | None = None) -> list[Claimed]:
    """Claim up to `limit` unsent rows for `owner`, oldest first, and commit the claim.

    Rows are claimed by topic: a relay takes a topic whose first unsent row (its head) nobody
    holds, and with it that topic's unclaimed rows, which it publishes in order on its one
    connection. While any of them is unacknowledged the head stays held, so no other relay
    takes the topic: per-topic order holds across replicas. `owner` must be unique per
    process: a restarted process must not inherit the claims of the one that died (it would
    not know which of those it had published).
    """
    at = now() if at is None else at
    row = _TABLE
    earlier = aliased(_TABLE)
    free = or_(row.c.claimed_until.is_(None), row.c.claimed_until < at)
    is_head = ~exists().where(earlier.c.topic == row.c.topic, earlier.c.sent_at.is_(None), earlier.c.id < row.c.id)
    topics: list[str] = list(
        session.execute(
            select(row.c.topic)
            .where(row.c.sent_at.is_(None), free, is_head)
            .order_by(row.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=row)
        ).scalars()
    )
    rows: Sequence[Row[Any]] = []
    if topics:
        rows = session.execute(
            select(row.c.id, row.c.topic, row.c.payload, row.c.qos, row.c.expires_at)
            .where(row.c.sent_at.is_(None), free, row.c.topic.in_(topics))
            .order_by(row.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=row)
        ).all()
    if rows:
        session.execute(
            update(row).where(row.c.id.in_([r.id for r in rows])).values(claimed_by=owner, claimed_until=at + lease_s)
        )
    session.commit()
    return [Claimed(r.id, r.topic, bytes(r.payload), r.qos, r.expires_at) for r in rows]


def mark_sent(session: Session, ids: list[int], *, at: float | None = None) -> None:
    """The broker acknowledged these rows (or they expired unsent): they are done."""
    if not ids:
        return
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id).in_(ids))
        .values(sent_at=now() if at is None else at, claimed_until=None)
    )
    session.commit()


def release(session: Session, ids: list[int], owner: str) -> None:
    """Give back claims this relay could not publish, so any relay may take them at once."""
    if not ids:
        return
    session.execute(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.id).in_(ids),
            col(OutboxMessage.claimed_by) == owner,
            col(OutboxMessage.sent_at).is_(None),
        )
        .values(claimed_by=None, claimed_until=None)
    )
    session.commit()


def release_predecessors(session: Session, replica: str, owner: str) -> int:
    """Free the claims an earlier process of this replica left when it died: replica ids are
    unique among running replicas, so they cannot belong to anyone alive. Saves the lease."""
    result = session.exec(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.sent_at).is_(None),
            col(OutboxMessage.claimed_by).startswith(f"{replica}/", autoescape=True),
            col(OutboxMessage.claimed_by) != owner,
        )
        .values(claimed_by=None, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return result.rowcount or 0


def requeue_after_broker_loss(
    session: Session, *, sent_before: float, commands_since: float, at: float | None = None, topic: str | None = None
) -> int:
    """Send again what a broker that lost its state may never have delivered; return how many rows.

    - the current offer of every job still `offered` (no word from its node yet), unless it
      has expired: a node ignores an offer for a job it already holds, so a repeat is harmless;
    - commands acknowledged since `commands_since` (the broker's last save could be that old):
      cancel and accept are idempotent at the node.
    Rows sent after `sent_before` went to the new broker and stay as they are. `topic` limits
    it to one node's job topic (that node has just come back).
    """
    at = now() if at is None else at
    current_offers = (
        select(func.max(OutboxMessage.id))
        .where(
            col(OutboxMessage.kind) == OFFER,
            col(OutboxMessage.job_id).in_(select(col(Job.id)).where(col(Job.status) == JobStatus.OFFERED)),
        )
        .group_by(OutboxMessage.job_id)
    )
    scope = [] if topic is None else [col(OutboxMessage.topic) == topic]
    result = session.exec(
        update(OutboxMessage)
        .where(
            *scope,
            col(OutboxMessage.sent_at).is_not(None),
            col(OutboxMessage.sent_at) <= sent_before,
            or_(col(OutboxMessage.expires_at).is_(None), col(OutboxMessage.expires_at) > at),
            or_(
                col(OutboxMessage.id).in_(current_offers),
                and_(col(OutboxMessage.kind) == COMMAND, col(OutboxMessage.sent_at) >= commands_since),
            ),
        )
        .values(sent_at=None, claimed_by=None, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return result.rowcount or 0


def prune_sent(session: Session, *, sent_before: float, at: float | None = None, limit: int = 5000) -> int:
    """Delete up to `limit` rows the broker acknowledged before `sent_before`, oldest first, and
    commit; returns how many. The caller keeps `sent_before` behind what a broker restart may
    send again (`requeue_after_broker_loss`: recent commands). An offer whose deadline has not
    passed is kept whatever its age: it is still the offer a restart would send again."""
    at = now() if at is None else at
    row = _TABLE
    doomed = (
        select(row.c.id)
        .where(row.c.sent_at < sent_before, or_(row.c.expires_at.is_(None), row.c.expires_at <= at))
        .order_by(row.c.id)
        .limit(limit)
    )
    result = session.exec(delete(row).where(row.c.id.in_(doomed.scalar_subquery())))
    session.commit()
    return result.rowcount or 0


def pending_count(session: Session) -> int:
    """Rows not yet acknowledged by the broker (claimed or not)."""
    unsent = col(OutboxMessage.sent_at).is_(None)
    return session.scalar(select(func.count()).select_from(OutboxMessage).where(unsent)) or 0
