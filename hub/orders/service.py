"""Orders become jobs; jobs are routed, offered, and moved along by node events.

Every state change and the offer it causes are written in one transaction (the offer goes
to the outbox). Incoming events are applied at most once: an event from a node that no
longer holds the job, or with a sequence number not above the last one applied, is dropped.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from sqlmodel import Session, select

from cofab_wire import EventType, JobEvent, JobOffer, Topics
from hub.auth.service import Principal
from hub.catalog.models import Design, DesignFile
from hub.dispatch.outbox import enqueue
from hub.files.tokens import sign_download
from hub.ids import new_id
from hub.orders import history
from hub.orders.models import Job, JobStatus, Order, OrderEvent, OrderStatus
from hub.orders.schemas import JobPublic, OrderCreate, OrderEventPublic, OrderPublic
from hub.routing.service import Requirement, find_candidates
from hub.timeutil import now

log = logging.getLogger(__name__)

_PROGRESS_STAGES = {JobStatus.FETCHING, JobStatus.CHECKING, JobStatus.SLICING, JobStatus.QUEUED,
                    JobStatus.RUNNING}
_UNACCEPTED = {JobStatus.OFFERED, JobStatus.FETCHING, JobStatus.CHECKING}


class OrderRejected(ValueError):
    pass


@dataclass
class DispatchContext:
    """What routing needs to write offers: topic names and how to sign download links.

    `lock` serialises job mutations within one hub process (SQLite's default); several
    replicas on PostgreSQL rely on row locks instead (issue: reliable dispatch).
    """

    topics: Topics
    public_url: str
    secret_key: str
    token_ttl_s: float
    lock: threading.RLock = field(default_factory=threading.RLock)


def place_order(session: Session, ctx: DispatchContext, maker: Principal, body: OrderCreate) -> Order:
    design = session.get(Design, body.design_id)
    if design is None:
        raise OrderRejected(f"no design {body.design_id!r}")
    files = list(session.exec(select(DesignFile).where(DesignFile.design_id == design.id).order_by(DesignFile.id)))
    if not files:
        raise OrderRejected(f"design {design.id!r} has no files to make")
    t = now()
    order = Order(id=new_id("o"), design_id=design.id, maker_token_id=maker.token_id, material=body.material,
                  quantity=body.quantity, lat=body.lat, lon=body.lon, status=OrderStatus.PLACED,
                  created_at=t, updated_at=t)
    session.add(order)
    session.flush()
    history.record(session, order.id, "placed",
                   f"order placed: {body.quantity} x {design.title} in {body.material}")
    with ctx.lock:
        for design_file in files:
            for _ in range(body.quantity):
                job = Job(id=new_id("j"), order_id=order.id, design_file_id=design_file.id, created_at=t,
                          updated_at=t)
                session.add(job)
                session.flush()
                _route(session, ctx, job, order, design, design_file)
        _refresh_order(session, order)
        session.commit()
    return order


def _route(session: Session, ctx: DispatchContext, job: Job, order: Order, design: Design,
           design_file: DesignFile) -> None:
    """Offer the job to the best candidate not yet tried, or fail it with every node's reason."""
    need = Requirement(process=design.process, material=order.material,
                       size_mm=(design_file.size_x_mm, design_file.size_y_mm, design_file.size_z_mm),
                       lat=order.lat, lon=order.lon)
    result = find_candidates(session, need, exclude=set(job.declined_by))
    t = now()
    job.updated_at = t
    if not result.candidates:
        job.status = JobStatus.FAILED
        job.node_id = None
        job.reason = f"no node can make this part: {result.explain() or 'no nodes registered'}"
        job.completed_at = t
        history.record(session, order.id, "unroutable", job.reason, job_id=job.id, rejections=result.rejections)
        session.add(job)
        return
    best = result.candidates[0]
    job.status = JobStatus.OFFERED
    job.node_id, job.machine_id, job.distance_km = best.node_id, best.machine_id, best.distance_km
    job.last_seq = 0
    job.attempts += 1
    job.offered_at = t
    job.percent = None
    session.add(job)
    token, expires = sign_download(ctx.secret_key, design_file.sha256, ctx.token_ttl_s, at=t)
    offer = JobOffer(job_id=job.id, order_id=order.id, design_id=design.id, design_title=design.title,
                     licence=design.licence, authors=[design.author], file_name=design_file.filename,
                     file_sha256=design_file.sha256, file_size=design_file.size_bytes,
                     download_url=f"{ctx.public_url.rstrip('/')}/api/v1/files/{design_file.sha256}",
                     download_token=token, token_expires_at=expires, material=order.material,
                     process=design.process,
                     bbox_mm=(design_file.size_x_mm, design_file.size_y_mm, design_file.size_z_mm),
                     machine_id=best.machine_id)
    enqueue(session, ctx.topics.jobs(best.node_id), offer.to_bytes())
    history.record(session, order.id, "offered",
                   f"offered to {best.node_id} ({best.distance_km:.1f} km away), machine {best.machine_id}",
                   job_id=job.id, node_id=best.node_id, distance_km=best.distance_km,
                   skipped=result.rejections)


def _reroute(session: Session, ctx: DispatchContext, job: Job) -> None:
    order = session.get(Order, job.order_id)
    design_file = session.get(DesignFile, job.design_file_id)
    design = session.get(Design, order.design_id)
    _route(session, ctx, job, order, design, design_file)


def handle_event(session: Session, ctx: DispatchContext, topic_node: str, event: JobEvent) -> bool:
    """Apply one node event if it is fresh; return whether it changed anything."""
    if event.node_id != topic_node:
        log.warning("event names another node than its topic; dropped",
                    extra={"topic_node": topic_node, "event_node": event.node_id, "job_id": event.job_id})
        return False
    with ctx.lock:
        job = session.get(Job, event.job_id, with_for_update=True)
        if job is None:
            log.warning("event for unknown job dropped", extra={"job_id": event.job_id, "node_id": topic_node})
            return False
        if job.node_id != topic_node or event.seq <= job.last_seq or JobStatus(job.status).is_terminal:
            log.info("stale or duplicate event ignored",
                     extra={"job_id": job.id, "node_id": topic_node, "seq": event.seq, "last_seq": job.last_seq})
            return False
        job.last_seq = event.seq
        job.updated_at = now()
        _apply(session, ctx, job, event)
        order = session.get(Order, job.order_id)
        _refresh_order(session, order)
        session.commit()
        return True


def _apply(session: Session, ctx: DispatchContext, job: Job, event: JobEvent) -> None:
    node = event.node_id
    if event.type is EventType.DECLINED:
        job.declined_by = [*job.declined_by, node]
        history.record(session, job.order_id, "declined", f"declined by {node}: {event.reason or 'no reason given'}",
                       job_id=job.id, node_id=node)
        _reroute(session, ctx, job)
        return
    if event.type is EventType.ACCEPTED:
        job.status = JobStatus.ACCEPTED
        job.started_at = job.updated_at
        if event.machine_id:
            job.machine_id = event.machine_id
        history.record(session, job.order_id, "accepted", f"accepted by {node} on machine {job.machine_id}",
                       job_id=job.id, node_id=node)
    elif event.type is EventType.PROGRESS:
        stage = _stage(event.stage)
        if stage is None:
            log.warning("progress event with unknown stage", extra={"job_id": job.id, "stage": event.stage})
            return
        changed = stage != job.status
        job.status = stage
        if event.percent is not None:
            job.percent = event.percent
        if changed or event.percent is not None:
            pct = f" {event.percent:.0f}%" if event.percent is not None else ""
            history.record(session, job.order_id, "progress", f"{stage.value}{pct} at {node}", job_id=job.id,
                           node_id=node, stage=stage.value, percent=event.percent)
    elif event.type is EventType.COMPLETED:
        job.status = JobStatus.COMPLETED
        job.percent = 100.0
        job.completed_at = job.updated_at
        history.record(session, job.order_id, "completed", f"part made at {node}", job_id=job.id, node_id=node,
                       **{k: v for k, v in event.detail.items()})
    elif event.type is EventType.FAILED:
        job.status = JobStatus.FAILED
        job.reason = event.reason or "the node reported a failure"
        job.completed_at = job.updated_at
        history.record(session, job.order_id, "failed", f"failed at {node}: {job.reason}", job_id=job.id,
                       node_id=node)
    session.add(job)


def _stage(name: str | None) -> JobStatus | None:
    try:
        stage = JobStatus(name or "")
    except ValueError:
        return None
    return stage if stage in _PROGRESS_STAGES else None


def release_unaccepted_offers(session: Session, ctx: DispatchContext, *, node_id: str | None = None,
                              older_than: float | None = None, why: str) -> int:
    """Offer again elsewhere jobs a node has not accepted: it went offline, or the offer timed out.

    A job the node has accepted stays with it: it may be on the machine already.
    """
    with ctx.lock:
        query = select(Job).where(Job.status.in_([s.value for s in _UNACCEPTED]))
        if node_id is not None:
            query = query.where(Job.node_id == node_id)
        if older_than is not None:
            query = query.where(Job.offered_at < older_than)
        jobs = list(session.exec(query.with_for_update()))
        for job in jobs:
            previous = job.node_id
            history.record(session, job.order_id, "released", f"{previous}: {why}; offering elsewhere",
                           job_id=job.id, node_id=previous)
            if older_than is not None:
                job.declined_by = [*job.declined_by, previous]
            _reroute(session, ctx, job)
            _refresh_order(session, session.get(Order, job.order_id))
        session.commit()
        return len(jobs)


def _refresh_order(session: Session, order: Order) -> None:
    statuses = [JobStatus(j.status) for j in session.exec(select(Job).where(Job.order_id == order.id))]
    if statuses and all(s is JobStatus.COMPLETED for s in statuses):
        status = OrderStatus.COMPLETED
    elif statuses and all(s.is_terminal for s in statuses):
        status = OrderStatus.CANCELLED if all(s is JobStatus.CANCELLED for s in statuses) else OrderStatus.FAILED
    elif any(s is not JobStatus.OFFERED and s is not JobStatus.CREATED for s in statuses):
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
    jobs = list(session.exec(select(Job).where(Job.order_id == order_id).order_by(Job.created_at, Job.id)))
    names = {f.id: f.filename for f in session.exec(
        select(DesignFile).where(DesignFile.id.in_([j.design_file_id for j in jobs])))}
    events = session.exec(select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id))
    return OrderPublic(
        id=order.id, design_id=order.design_id, material=order.material, quantity=order.quantity, lat=order.lat,
        lon=order.lon, status=order.status, created_at=order.created_at, updated_at=order.updated_at,
        completed_at=order.completed_at,
        jobs=[JobPublic(id=j.id, status=j.status, file_name=names.get(j.design_file_id, ""), node_id=j.node_id,
                        machine_id=j.machine_id, distance_km=j.distance_km, percent=j.percent, attempts=j.attempts,
                        declined_by=j.declined_by, reason=j.reason, created_at=j.created_at,
                        completed_at=j.completed_at) for j in jobs],
        events=[OrderEventPublic(at=e.at, kind=e.kind, job_id=e.job_id, node_id=e.node_id, message=e.message,
                                 data=e.data) for e in events],
    )


def orders_of(session: Session, maker: Principal, *, limit: int = 100) -> list[str]:
    query = select(Order.id).order_by(Order.created_at.desc()).limit(limit)
    if maker.role.value != "admin":
        query = query.where(Order.maker_token_id == maker.token_id)
    return list(session.exec(query))
