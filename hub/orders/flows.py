"""The orders' multi-step state changes with side effects: placing an order (its jobs routed
and offered), cancelling it, and a lab's person answering an offer. Each runs in one
transaction under `ctx.lock`, writing its offers and commands to the outbox.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from cofab_wire import CommandType
from hub.auth.roles import Role
from hub.auth.service import Principal
from hub.catalog.service import current_parts
from hub.db import present, table_of
from hub.dispatch import bulk
from hub.dispatch.context import DispatchContext
from hub.dispatch.offers import pass_on, route_order, send_command
from hub.errors import NotFound
from hub.ids import new_id
from hub.orders import history
from hub.orders.models import CANCELLABLE, UNACCEPTED, Job, JobStatus, NewJob, Order, OrderStatus
from hub.orders.schemas import OrderCreate
from hub.orders.service import (
    NotAllowed,
    OrderRejected,
    check_order_size,
    draft_order,
    orderable_design,
    refresh_orders,
    set_order_status,
)
from hub.timeutil import now

_JOBS = table_of(Job)


@dataclass(frozen=True)
class PlacedOrder:
    """What placing an order wrote, as it was committed: enough to answer the request without
    reading the order back (its full view is `order_view`)."""

    id: str
    status: OrderStatus
    jobs: list[NewJob]

    @property
    def price_total(self) -> float:
        return round(sum(job.price_total or 0 for job in self.jobs), 2)


def place_order(session: Session, ctx: DispatchContext, maker: Principal, body: OrderCreate) -> PlacedOrder:
    """Create the order and one job per copy, route every job (its offer goes to the outbox),
    in one transaction.

    The jobs are plain `NewJob`s written as rows with the offers and history lines
    (`hub.dispatch.bulk`), and the order's status comes from the jobs in hand: this is the
    hub's busiest write (an order of 50 copies is 50 jobs, 50 offers and 51 history lines)."""
    design = orderable_design(session, body.design_id)
    files = current_parts(session, design.id)
    if not files:
        raise OrderRejected(f"design {design.id!r} has no files to make")
    check_order_size(files, body.quantity)
    # The lock comes before the first write: on SQLite a writer that waited for the lock while
    # holding the database's write lock would deadlock with one holding the lock and writing.
    with ctx.lock:
        t = now()
        order = draft_order(body, order_id=new_id("o"), maker_token_id=maker.token_id, at=t)
        session.add(order)
        history.record(
            session,
            order.id,
            "placed",
            f"order placed: {body.quantity} x {design.title} in {body.material}"
            + ("" if body.paid else " (unpaid, non-commercial)"),
        )
        jobs = [
            (
                NewJob(
                    id=new_id("j"),
                    order_id=order.id,
                    design_file_id=present(design_file.id),
                    created_at=t,
                    updated_at=t,
                ),
                design_file,
            )
            for design_file in files
            for _ in range(body.quantity * design_file.quantity)
        ]
        route_order(session, ctx, order, design, jobs)
        for job, _ in jobs:
            bulk.stage(session, _JOBS, job.row())
        set_order_status(session, order, [job.status for job, _ in jobs])
        placed = PlacedOrder(id=order.id, status=order.status, jobs=[job for job, _ in jobs])
        session.commit()
    return placed


def lab_decision(
    session: Session, ctx: DispatchContext, lab: Principal, job_id: str, *, accept: bool, reason: str | None
) -> Job:
    """A person at the lab accepts or declines an offer its node has checked and is holding."""
    with ctx.lock:
        job = session.get(Job, job_id, with_for_update=True)
        if job is None or (lab.role is not Role.ADMIN and job.node_id != lab.node_id):
            raise NotFound(f"no offer {job_id!r} for this lab")
        if job.status not in UNACCEPTED:
            raise NotAllowed(f"job {job_id} is {job.status}; only an open offer can be accepted or declined")
        if accept:
            send_command(session, ctx, job, CommandType.ACCEPT)
            history.record_job(session, job, "lab_accepting", f"{job.node_id}: a person accepted the offer")
        else:
            why = reason or "declined by the lab"
            send_command(session, ctx, job, CommandType.CANCEL, why)
            pass_on(session, ctx, job, why)
        refresh_orders(session, [job.order_id])
        session.commit()
        return job


def cancel_order(
    session: Session, ctx: DispatchContext, maker: Principal, order_id: str
) -> tuple[list[str], list[str]]:
    """Cancel every job that has not started on a machine; returns (cancelled, kept running)."""
    with ctx.lock:
        order = session.get(Order, order_id)
        if order is None or (maker.role is not Role.ADMIN and order.maker_token_id != maker.token_id):
            raise NotFound(f"no order {order_id!r}")
        cancelled, kept = [], []
        for job in session.exec(select(Job).where(Job.order_id == order_id).with_for_update()):
            if job.status not in CANCELLABLE:
                if not job.status.is_terminal:
                    kept.append(job.id)
                continue
            if job.node_id is not None:
                send_command(session, ctx, job, CommandType.CANCEL, "cancelled by the maker")
            job.status = JobStatus.CANCELLED
            job.completed_at = job.updated_at = now()
            session.add(job)
            cancelled.append(job.id)
            history.record_job(session, job, "cancelled", "job cancelled by the maker")
        if not cancelled and kept:
            raise NotAllowed("every remaining job is already running on a machine and cannot be cancelled")
        refresh_orders(session, [order_id])
        session.commit()
        return cancelled, kept
