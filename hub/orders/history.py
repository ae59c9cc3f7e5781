"""The order's event history: one readable line per thing that happened, for the maker."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from hub.orders.models import OrderEvent
from hub.timeutil import now


def record(session: Session, order_id: str, kind: str, message: str, *, job_id: str | None = None,
           node_id: str | None = None, **data: Any) -> None:
    session.add(OrderEvent(order_id=order_id, job_id=job_id, at=now(), kind=kind, node_id=node_id,
                           message=message, data=data))
