"""Sweeps over jobs, run periodically on every replica (`hub.maintenance.OfferSweeper`) and
when a node goes offline: offers nobody answered go to the next lab, and jobs that were
waiting for a lab are routed again. Each skips the jobs another replica holds (`SKIP LOCKED`).
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from cofab_wire import CommandType
from hub.dispatch.context import DispatchContext
from hub.dispatch.offers import reroute, send_command
from hub.orders import history
from hub.orders.models import UNACCEPTED, Job, JobStatus
from hub.orders.service import refresh_orders


def release_unaccepted_offers(
    session: Session, ctx: DispatchContext, *, node_id: str | None = None, expired_at: float | None = None, why: str
) -> int:
    """Offer again elsewhere jobs a node has not accepted: it went offline, or the offer lapsed.

    A job the node has accepted stays with it: it may be on the machine already.
    """
    with ctx.lock:
        query = select(Job).where(col(Job.status).in_(sorted(UNACCEPTED)))
        if node_id is not None:
            query = query.where(Job.node_id == node_id)
        if expired_at is not None:
            query = query.where(col(Job.offer_deadline) < expired_at)
        # Another replica may be handling some of these jobs right now (an event, the same
        # sweep): skip them rather than wait; whoever holds a job decides its fate.
        jobs = list(session.exec(query.order_by(Job.id).with_for_update(skip_locked=True)))
        for job in jobs:
            previous = job.node_id
            history.record_job(session, job, "released", f"{previous}: {why}; offering elsewhere")
            if expired_at is not None:
                assert previous is not None  # an offer not yet accepted is held by the node it went to
                job.declined_by = [*job.declined_by, previous]
                send_command(session, ctx, job, CommandType.CANCEL, why)
            reroute(session, ctx, job)
        refresh_orders(session, {job.order_id for job in jobs})
        session.commit()
        return len(jobs)


def route_waiting_jobs(session: Session, ctx: DispatchContext, *, limit: int = 500) -> int:
    """Try again the jobs no lab could take a moment ago; returns how many got an offer."""
    with ctx.lock:
        jobs = list(
            session.exec(
                select(Job)
                .where(Job.status == JobStatus.WAITING)
                .order_by(Job.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        for job in jobs:
            reroute(session, ctx, job)
        refresh_orders(session, {job.order_id for job in jobs})
        session.commit()
    return sum(job.status == JobStatus.OFFERED for job in jobs)
