from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlmodel import Session

from hub.auth.deps import require
from hub.auth.roles import Role
from hub.auth.service import Principal
from hub.deps import get_services, get_session
from hub.orders import service
from hub.orders.models import Order
from hub.orders.schemas import OrderCreate, OrderPublic

router = APIRouter(prefix="/api/v1/orders", tags=["orders"])


@router.post("", status_code=201, response_model=OrderPublic,
             summary="Place an order: it becomes jobs, each offered to the nearest capable online node")
def place(
    body: OrderCreate,
    session: Annotated[Session, Depends(get_session)],
    maker: Annotated[Principal, Depends(require(Role.MAKER))],
    services=Depends(get_services),
) -> OrderPublic:
    try:
        order = service.place_order(session, services.dispatch, maker, body)
    except service.OrderRejected as exc:
        raise HTTPException(422, str(exc)) from None
    services.notify_outbox()
    return service.order_view(session, order.id)


@router.get("/{order_id}", response_model=OrderPublic,
            summary="An order's status, its jobs and its event history")
def get_order(
    order_id: str,
    session: Annotated[Session, Depends(get_session)],
    caller: Annotated[Principal, Depends(require(Role.MAKER, Role.CITY))],
) -> OrderPublic:
    order = session.get(Order, order_id)
    if order is None or (caller.role is Role.MAKER and order.maker_token_id != caller.token_id):
        raise HTTPException(404, f"no order {order_id!r}")
    return service.order_view(session, order_id)


@router.get("", response_model=list[OrderPublic], summary="The caller's orders, newest first")
def list_orders(
    session: Annotated[Session, Depends(get_session)],
    caller: Annotated[Principal, Depends(require(Role.MAKER))],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[OrderPublic]:
    return [service.order_view(session, oid) for oid in service.orders_of(session, caller, limit=limit)]
