"""The order's event history: one readable line per thing that happened, for the maker.

A line is staged as a plain row and written with the transaction's other new rows in one
statement (`hub.dispatch.bulk`): placing an order of 50 copies writes 51 lines, and building
each as an ORM object cost more than routing the job it describes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from sqlmodel import Session

from hub.db import table_of
from hub.dispatch.bulk import stage
from hub.orders.models import OrderEvent
from hub.timeutil import now

_TABLE = table_of(OrderEvent)


def record(
    session: Session,
    order_id: str,
    kind: str,
    message: str,
    *,
    job_id: str | None = None,
    node_id: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> None:
    """Add a line to the order's history, written when the caller's transaction commits.
    `data` is one mapping, never keyword arguments: it carries what a node reported, and a
    node's keys must not be able to name this function's parameters."""
    stage(
        session,
        _TABLE,
        {
            "order_id": order_id,
            "job_id": job_id,
            "at": now(),
            "kind": kind,
            "node_id": node_id,
            "message": message,
            "data": dict(data or {}),
        },
    )


class JobRef(Protocol):
    """A job as a history line names it: an ORM `Job`, a `NewJob` being placed or a `JobRow`."""

    @property
    def id(self) -> str: ...

    @property
    def order_id(self) -> str: ...

    @property
    def node_id(self) -> str | None: ...


def record_job(session: Session, job: JobRef, kind: str, message: str, data: Mapping[str, Any] | None = None) -> None:
    """Add a line about one job to its order's history, naming the lab that holds it now."""
    record(session, job.order_id, kind, message, job_id=job.id, node_id=job.node_id, data=data)
