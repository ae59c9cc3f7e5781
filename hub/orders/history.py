"""The order's event history: one readable line per thing that happened, for the maker.

A line is staged as a plain row and written with the transaction's other new rows in one
statement (`hub.dispatch.bulk`): placing an order of 50 copies writes 51 lines, and building
each as an ORM object cost more than routing the job it describes.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from hub.dispatch.bulk import stage
from hub.orders.models import OrderEvent
from hub.timeutil import now

_TABLE = OrderEvent.__table__


def record(
    session: Session,
    order_id: str,
    kind: str,
    message: str,
    *,
    job_id: str | None = None,
    node_id: str | None = None,
    **data: Any,
) -> None:
    """Add a line to the order's history, written when the caller's transaction commits."""
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
            "data": data,
        },
    )
