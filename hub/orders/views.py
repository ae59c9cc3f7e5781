"""The orders API: quotes, placing and cancelling orders, reading them, and a lab's answer to
an offer. Routes only translate HTTP to service calls; refusals are the services' domain
errors, answered by `hub.errors`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Response
from pydantic import BaseModel

from hub.auth.roles import Role
from hub.auth.service import Principal
from hub.db import present
from hub.deps import Caller, CurrentOrder, DbInt, DbSession, Services, require
from hub.orders import flows, quotes, service
from hub.orders.schemas import OrderCreate, OrderPlaced, OrderPublic, Quote, QuoteRequest

if TYPE_CHECKING:
    from sqlmodel import Session

    from hub.services import HubServices

router = APIRouter(prefix="/api/v1", tags=["orders"])

Maker = Annotated[Principal, Depends(require(Role.MAKER))]
Lab = Annotated[Principal, Depends(require(Role.LAB))]
Quoter = Annotated[Principal, Depends(require(Role.MAKER, Role.LAB, Role.CITY, Role.DESIGNER))]


@router.post(
    "/quotes",
    response_model=Quote,
    summary="Quote: the best labs for a design, with price breakdown, lead time, distance and reasons",
)
def quote(body: QuoteRequest, session: DbSession, _: Quoter, services: Services) -> Quote:
    return quotes.quote(session, services.dispatch, body)


@router.post(
    "/orders",
    status_code=201,
    response_model=OrderPlaced,
    summary="Place an order: it becomes jobs, each offered to the best capable lab",
    description="Answers with the order's id, status and jobs' ids; the `Location` header names "
    "`GET /api/v1/orders/{id}`, the full view (jobs' labs, prices, history).",
)
def place(body: OrderCreate, session: DbSession, maker: Maker, response: Response, services: Services) -> OrderPlaced:
    placed = flows.place_order(session, services.dispatch, maker, body)
    services.notify_outbox()
    response.headers["Location"] = f"/api/v1/orders/{placed.id}"
    return OrderPlaced(
        id=placed.id,
        status=placed.status,
        job_count=len(placed.jobs),
        job_ids=[job.id for job in placed.jobs],
        price_total=placed.price_total,
    )


@router.get(
    "/orders/{order_id}", response_model=OrderPublic, summary="An order's status, its jobs and its event history"
)
def get_order(order: CurrentOrder, caller: Caller, session: DbSession, services: Services) -> OrderPublic:
    view = present(service.order_view(session, order.id))
    return service.as_seen_by(view, caller, services.settings.city.privacy_grid_deg)


@router.get("/orders", response_model=list[OrderPublic], summary="The caller's orders, newest first")
def list_orders(
    session: DbSession,
    caller: Maker,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[DbInt, Query(ge=0)] = 0,
) -> list[OrderPublic]:
    return [
        present(service.order_view(session, oid))
        for oid in service.orders_of(session, caller, limit=limit, offset=offset)
    ]


class CancelResult(BaseModel):
    cancelled: list[str]
    still_running: list[str]
    order: OrderPublic


@router.post(
    "/orders/{order_id}/cancel",
    response_model=CancelResult,
    summary="Cancel every job of the order that has not started on a machine",
)
def cancel(order_id: str, session: DbSession, maker: Maker, services: Services) -> CancelResult:
    cancelled, running = flows.cancel_order(session, services.dispatch, maker, order_id)
    services.notify_outbox()
    return CancelResult(cancelled=cancelled, still_running=running, order=service.order_view(session, order_id))


class Decision(BaseModel):
    reason: str | None = None


def _decide(
    job_id: str, accept: bool, reason: str | None, session: Session, lab: Principal, services: HubServices
) -> dict[str, Any]:
    job = flows.lab_decision(session, services.dispatch, lab, job_id, accept=accept, reason=reason)
    services.notify_outbox()
    return {"job_id": job.id, "status": job.status, "node_id": job.node_id}


@router.post("/jobs/{job_id}/accept", summary="A person at the lab accepts an offer its node has checked")
def accept(job_id: str, session: DbSession, lab: Lab, services: Services) -> dict[str, Any]:
    return _decide(job_id, True, None, session, lab, services)


@router.post("/jobs/{job_id}/decline", summary="A person at the lab declines an offer; it goes to the next lab")
def decline(
    job_id: str,
    session: DbSession,
    lab: Lab,
    services: Services,
    body: Annotated[Decision | None, Body()] = None,
) -> dict[str, Any]:
    return _decide(job_id, False, body.reason if body else None, session, lab, services)
