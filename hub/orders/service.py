"""Orders' reads and simple writes: an order's full view, a maker's orders, an order's status
recomputed from its jobs, an order drafted from a request; and the orders' domain errors.
Multi-step changes (placing, cancelling, a lab's answer) are `hub.orders.flows`.

Locking, for several hub replicas on one PostgreSQL database: every writer locks job rows
before order rows, and each kind in id order (`hub.dispatch.events.apply_events` locks a
batch's jobs in one sorted `SELECT ... FOR UPDATE`, `refresh_orders` its orders sorted), so
replicas wait for each other but never deadlock. An order's status is recomputed only with
its row locked, so two replicas finishing its last two jobs cannot both see the other's job
unfinished. Sweeps skip rows another replica holds (`SKIP LOCKED`). On SQLite `ctx.lock`
serialises a process instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import func
from sqlmodel import Session, col, select

from hub.auth.roles import Role
from hub.auth.service import Principal
from hub.catalog.models import Design, DesignFile
from hub.errors import Conflict, Rejected
from hub.orders import history
from hub.orders.models import PENDING, Job, JobStatus, Order, OrderEvent, OrderStatus
from hub.orders.schemas import JobPublic, OrderCreate, OrderEventPublic, OrderPublic, QuoteRequest
from hub.routing.geo import snap
from hub.timeutil import now

MAX_PARTS_PER_ORDER = 500
"""Copies one order may make (parts x part quantity x order quantity). Each copy is a job with
its own offer: past a batch a lab could plan, an order is a production run to arrange with the
labs, and without a bound one request could create up to 200 x 1,000 x 100 jobs."""


class OrderRejected(Rejected):
    """The order (or quote) cannot be made as asked: no such design, nothing to make."""


class NotAllowed(Conflict):
    """The job or order is past the point where this is possible (an offer already answered,
    every job already running)."""


def check_order_size(files: Sequence[DesignFile], quantity: int) -> int:
    """The number of part copies (jobs) the order makes; refused past `MAX_PARTS_PER_ORDER`."""
    copies = quantity * sum(design_file.quantity for design_file in files)
    if copies > MAX_PARTS_PER_ORDER:
        raise OrderRejected(
            f"this order would make {copies:,} parts ({quantity} x {copies // quantity:,} per copy of the design); "
            f"one order makes at most {MAX_PARTS_PER_ORDER:,}: order fewer, or arrange a production run with the labs"
        )
    return copies


def orderable_design(session: Session, design_id: str) -> Design:
    """The design an order or quote names; refused (422, not 404) when there is none: the
    request is what is wrong, not its path."""
    design = session.get(Design, design_id)
    if design is None:
        raise OrderRejected(f"no design {design_id!r}")
    return design


def draft_order(request: OrderCreate | QuoteRequest, *, order_id: str, maker_token_id: int, at: float) -> Order:
    """An order as `request` asks for it, not yet added to the session (a quote matches with
    one it never writes)."""
    return Order(
        id=order_id,
        design_id=request.design_id,
        maker_token_id=maker_token_id,
        material=request.material,
        colour=request.colour,
        nozzle_mm=request.nozzle_mm,
        quantity=request.quantity,
        lat=request.lat,
        lon=request.lon,
        lead_time_h=request.lead_time_h,
        paid=request.paid,
        status=OrderStatus.PLACED,
        created_at=at,
        updated_at=at,
    )


def refresh_orders(session: Session, order_ids: Iterable[str]) -> None:
    """Recompute orders' status from their jobs: the order rows locked first (in id order),
    then their jobs' statuses counted, one statement each for all of them."""
    ids = sorted(set(order_ids))
    if not ids:
        return
    # FOR NO KEY UPDATE: this transaction's history lines already hold a key-share lock on
    # their order (the foreign key), as may another replica's; a plain FOR UPDATE would then
    # deadlock with it, this lock waits for it instead.
    orders = list(
        session.exec(
            select(Order)
            .where(col(Order.id).in_(ids))
            .order_by(Order.id)
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        )
    )
    statuses: dict[str, list[JobStatus]] = {order_id: [] for order_id in ids}
    for order_id, status, _ in session.exec(
        select(Job.order_id, col(Job.status), func.count())
        .where(col(Job.order_id).in_(ids))
        .group_by(Job.order_id, Job.status)
    ):
        statuses[order_id].append(status)
    for order in orders:
        set_order_status(session, order, statuses[order.id])


def set_order_status(session: Session, order: Order, statuses: list[JobStatus]) -> None:
    if statuses and all(s is JobStatus.COMPLETED for s in statuses):
        status = OrderStatus.COMPLETED
    elif statuses and all(s.is_terminal for s in statuses):
        status = OrderStatus.CANCELLED if all(s is JobStatus.CANCELLED for s in statuses) else OrderStatus.FAILED
    elif any(s not in PENDING for s in statuses):
        status = OrderStatus.IN_PROGRESS
    else:
        status = OrderStatus.PLACED
    if status != order.status:
        order.status = status
        history.record(session, order.id, "order_" + status.value, f"order {status.value.replace('_', ' ')}")
        if status is OrderStatus.COMPLETED:
            order.completed_at = now()
    order.updated_at = now()
    session.add(order)


def order_view(session: Session, order_id: str) -> OrderPublic | None:
    order = session.get(Order, order_id)
    if order is None:
        return None
    jobs = list(session.exec(select(Job).where(Job.order_id == order_id).order_by(col(Job.created_at), Job.id)))
    names = {
        f.id: f.filename
        for f in session.exec(select(DesignFile).where(col(DesignFile.id).in_([j.design_file_id for j in jobs])))
    }
    events = session.exec(select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(col(OrderEvent.id)))
    return OrderPublic(
        id=order.id,
        design_id=order.design_id,
        material=order.material,
        colour=order.colour,
        quantity=order.quantity,
        lat=order.lat,
        lon=order.lon,
        lead_time_h=order.lead_time_h,
        paid=order.paid,
        status=order.status,
        created_at=order.created_at,
        updated_at=order.updated_at,
        completed_at=order.completed_at,
        price_total=round(sum(j.price_total or 0 for j in jobs), 2),
        jobs=[
            JobPublic(
                id=j.id,
                status=j.status,
                file_name=names.get(j.design_file_id, ""),
                node_id=j.node_id,
                machine_id=j.machine_id,
                distance_km=j.distance_km,
                percent=j.percent,
                attempts=j.attempts,
                declined_by=j.declined_by,
                reason=j.reason,
                offer_deadline=j.offer_deadline,
                price=j.match.get("price"),
                score=j.match.get("score"),
                created_at=j.created_at,
                completed_at=j.completed_at,
            )
            for j in jobs
        ],
        events=[
            OrderEventPublic(at=e.at, kind=e.kind, job_id=e.job_id, node_id=e.node_id, message=e.message, data=e.data)
            for e in events
        ],
    )


def as_seen_by(view: OrderPublic, caller: Principal, grid_deg: float) -> OrderPublic:
    """The order as `caller` may see it: the maker (and an admin) see the exact place; anyone
    else (a city officer) the centre of its privacy-grid cell, as the city exports show it."""
    if caller.role in (Role.MAKER, Role.ADMIN):
        return view
    return view.model_copy(update={"lat": snap(view.lat, grid_deg), "lon": snap(view.lon, grid_deg)})


def orders_of(session: Session, maker: Principal, *, limit: int = 100, offset: int = 0) -> list[str]:
    query = select(Order.id).order_by(col(Order.created_at).desc(), Order.id).offset(offset).limit(limit)
    if maker.role is not Role.ADMIN:
        query = query.where(Order.maker_token_id == maker.token_id)
    return list(session.exec(query))
