"""Orders become jobs; jobs are matched, offered, and moved along by node events.

Every state change and the message it causes are written in one transaction (offers and
commands go to the outbox). Incoming events are applied at most once: an event from a node
that no longer holds the job, or with a sequence number not above the last one applied, is
dropped. A job a node has accepted is never offered elsewhere automatically.

Locking, for several hub replicas on one PostgreSQL database: every writer locks job rows
before order rows, and each kind in id order (`apply_events` locks a batch's jobs in one
sorted `SELECT ... FOR UPDATE`, `refresh_orders` its orders sorted), so replicas wait for each
other but never deadlock. An order's status is recomputed only with its row locked, so two
replicas finishing its last two jobs cannot both see the other's job unfinished. Sweeps skip
rows another replica holds (`SKIP LOCKED`). On SQLite `ctx.lock` serialises a process instead.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from sqlalchemy import func
from sqlmodel import Session, select

from cofab_wire import Attribution, EventType, JobCommand, JobEvent, JobOffer, Topics
from hub.auth.roles import Role
from hub.auth.service import Principal
from hub.catalog.licences import UnknownLicence, licence_terms
from hub.catalog.lineage import attribution_chain, authors_of
from hub.catalog.models import Design, DesignFile
from hub.catalog.service import current_parts
from hub.dispatch import bulk
from hub.dispatch.outbox import COMMAND, OFFER, enqueue
from hub.errors import Conflict, NotFound, Rejected
from hub.files.tokens import sign_download
from hub.ids import new_id
from hub.orders import history
from hub.orders.jobrows import JobRow, LockedJobs
from hub.orders.models import Job, JobStatus, NewJob, Order, OrderEvent, OrderStatus
from hub.orders.schemas import JobPublic, OrderCreate, OrderEventPublic, OrderPublic
from hub.routing.fairness import FairnessLedger
from hub.routing.matcher import Candidate, MatchResult, Weights, match
from hub.routing.model import JobSpec
from hub.routing.registry import LabRegistry
from hub.timeutil import now

log = logging.getLogger(__name__)

_PROGRESS_STAGES = {
    JobStatus.FETCHING,
    JobStatus.CHECKING,
    JobStatus.AWAITING_ACCEPTANCE,
    JobStatus.SLICING,
    JobStatus.QUEUED,
    JobStatus.RUNNING,
}
UNACCEPTED = frozenset({JobStatus.OFFERED, JobStatus.FETCHING, JobStatus.CHECKING, JobStatus.AWAITING_ACCEPTANCE})
CANCELLABLE = UNACCEPTED | {
    JobStatus.CREATED,
    JobStatus.WAITING,
    JobStatus.ACCEPTED,
    JobStatus.SLICING,
    JobStatus.QUEUED,
}
_JOBS = Job.__table__


class OrderRejected(Rejected):
    """The order (or quote) cannot be made as asked: no such design, nothing to make."""


class NotAllowed(Conflict):
    """The job or order is past the point where this is possible (an offer already answered,
    every job already running)."""


@dataclass
class DispatchContext:
    """What routing and dispatch need, built once per hub process.

    `lock` serialises job mutations within one hub process (SQLite's model); on PostgreSQL
    the hub passes a no-op lock and relies on row locks, which also hold across replicas.
    """

    topics: Topics
    public_url: str
    secret_key: str
    token_ttl_s: float
    registry: LabRegistry
    fairness: FairnessLedger
    weights: Weights = field(default_factory=Weights)
    offer_timeout_s: float = 120.0
    routing_patience_s: float = 3600.0
    lock: AbstractContextManager = field(default_factory=threading.RLock)


def commercial_use_allowed(licence: str) -> bool:
    """Whether a paid job may make a design under `licence`; an unknown id counts as no."""
    try:
        return licence_terms(licence).commercial_use_allowed
    except UnknownLicence:
        return False


def offer_attribution(session: Session, design: Design) -> list[Attribution]:
    """The design and every ancestor, nearest first, for the node's G-code header."""
    return [
        Attribution(design_id=a.design_id, title=a.title, authors=list(a.authors), licence=a.licence)
        for a in attribution_chain(session, design.id, include_self=True)
    ]


def job_spec(ctx: DispatchContext, order: Order, design: Design, design_file: DesignFile) -> JobSpec:
    return JobSpec(
        process=design.process,
        material=order.material,
        colour=order.colour,
        nozzle_mm=order.nozzle_mm,
        size_mm=(design_file.size_x_mm, design_file.size_y_mm, design_file.size_z_mm),
        volume_mm3=design_file.volume_mm3,
        lat=order.lat,
        lon=order.lon,
        lead_time_h=order.lead_time_h,
        paid=order.paid,
        licence=design.licence,
        commercial_use_allowed=commercial_use_allowed(design.licence),
    )


def match_job(ctx: DispatchContext, spec: JobSpec, *, exclude: set[str] = frozenset(), top: int = 3) -> MatchResult:
    return match(ctx.registry, spec, weights=ctx.weights, fairness=ctx.fairness, top=top, exclude=exclude)


@dataclass(frozen=True)
class PlacedOrder:
    """What placing an order wrote, as it was committed: enough to answer the request without
    reading the order back (its full view is `order_view`)."""

    id: str
    status: str
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
    design = session.get(Design, body.design_id)
    if design is None:
        raise OrderRejected(f"no design {body.design_id!r}")
    files = current_parts(session, design.id)
    if not files:
        raise OrderRejected(f"design {design.id!r} has no files to make")
    # The lock comes before the first write: on SQLite a writer that waited for the lock while
    # holding the database's write lock would deadlock with one holding the lock and writing.
    with ctx.lock:
        t = now()
        order = Order(
            id=new_id("o"),
            design_id=design.id,
            maker_token_id=maker.token_id,
            material=body.material,
            colour=body.colour,
            nozzle_mm=body.nozzle_mm,
            quantity=body.quantity,
            lat=body.lat,
            lon=body.lon,
            lead_time_h=body.lead_time_h,
            paid=body.paid,
            status=OrderStatus.PLACED,
            created_at=t,
            updated_at=t,
        )
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
                NewJob(id=new_id("j"), order_id=order.id, design_file_id=design_file.id, created_at=t, updated_at=t),
                design_file,
            )
            for design_file in files
            for _ in range(body.quantity * design_file.quantity)
        ]
        _route_order(session, ctx, order, design, jobs)
        for job, _ in jobs:
            bulk.stage(session, _JOBS, job.row())
        _set_order_status(session, order, [JobStatus(job.status) for job, _ in jobs])
        placed = PlacedOrder(id=order.id, status=order.status, jobs=[job for job, _ in jobs])
        session.commit()
    return placed


def _route_order(
    session: Session, ctx: DispatchContext, order: Order, design: Design, jobs: list[tuple[NewJob, DesignFile]]
) -> None:
    """Keep an order at one lab when one lab can make every part; split it only when none can."""
    parts = {f.id: f for _, f in jobs}
    if len(parts) > 1:
        results = {fid: match_job(ctx, job_spec(ctx, order, design, f), top=20) for fid, f in parts.items()}
        shared = set.intersection(*({c.node_id for c in r.ranked} for r in results.values()))
        if shared:

            def order_score(node_id: str) -> float:
                return sum(next(c for c in r.ranked if c.node_id == node_id).score.total for r in results.values())

            lab = min(sorted(shared), key=order_score)
            for job, design_file in jobs:
                chosen = next(c for c in results[design_file.id].ranked if c.node_id == lab)
                _offer(session, ctx, job, order, design, design_file, chosen, results[design_file.id])
            return
        history.record(session, order.id, "split", "no single lab can make every part: parts go to different labs")
    # Copies of one part are the same job spec against the same registry: match once per part.
    memo: dict = {}
    for job, design_file in jobs:
        _route(session, ctx, job, order, design, design_file, memo=memo)


def _route(
    session: Session,
    ctx: DispatchContext,
    job: Job | NewJob,
    order: Order,
    design: Design,
    design_file: DesignFile,
    *,
    memo: dict | None = None,
) -> None:
    """Offer the job to the best candidate not yet tried, or fail it with every lab's reason.

    `memo` (one order's placement) keeps match results and offer parts that are the same for
    every copy of a part."""
    memo = {} if memo is None else memo
    key = ("match", design_file.id, tuple(sorted(job.declined_by)))
    result = memo.get(key)
    if result is None:
        result = memo[key] = match_job(ctx, job_spec(ctx, order, design, design_file), exclude=set(job.declined_by))
    if not result.ranked:
        t = now()
        why = result.explain() or "no labs registered"
        job.node_id = None
        job.updated_at = t
        if result.may_succeed_later() and t - job.created_at < ctx.routing_patience_s:
            if job.status != JobStatus.WAITING:
                history.record(
                    session,
                    order.id,
                    "waiting",
                    f"no lab can take it right now, waiting: {why}",
                    job_id=job.id,
                    rejections=dict(list(result.rejection_reasons().items())[:50]),
                )
            job.status = JobStatus.WAITING
            job.reason = f"waiting for a lab: {why}"
        else:
            job.status = JobStatus.FAILED
            job.reason = f"no lab can make this part: {why}"
            job.completed_at = t
            history.record(
                session,
                order.id,
                "unroutable",
                job.reason,
                job_id=job.id,
                rejections=dict(list(result.rejection_reasons().items())[:50]),
            )
        return
    _offer(session, ctx, job, order, design, design_file, result.ranked[0], result, memo=memo)


def _offer(
    session: Session,
    ctx: DispatchContext,
    job: Job | NewJob,
    order: Order,
    design: Design,
    design_file: DesignFile,
    chosen: Candidate,
    result: MatchResult,
    *,
    memo: dict | None = None,
) -> None:
    memo = {} if memo is None else memo
    if ("attribution", design.id) not in memo:
        memo["attribution", design.id] = (offer_attribution(session, design), authors_of(design))
    attribution, authors = memo["attribution", design.id]
    if ("candidate", id(chosen)) not in memo:
        memo["candidate", id(chosen)] = (
            chosen,
            chosen.as_dict(),
            chosen.score.as_dict(),
            chosen.price.as_dict(),
            dict(list(result.rejection_reasons().items())[:50]),
        )
    _, chosen_dict, score, price, skipped = memo["candidate", id(chosen)]
    t = now()
    job.status = JobStatus.OFFERED
    job.node_id, job.machine_id, job.distance_km = chosen.node_id, chosen.machine_id, round(chosen.distance_km, 3)
    job.last_seq = 0
    job.attempts += 1
    job.offered_at = job.updated_at = t
    job.offer_deadline = t + ctx.offer_timeout_s
    job.percent = None
    job.match = dict(chosen_dict)
    job.price_total = chosen.price.total
    token, expires = sign_download(ctx.secret_key, design_file.sha256, ctx.token_ttl_s, at=t)
    offer = JobOffer(
        job_id=job.id,
        order_id=order.id,
        design_id=design.id,
        design_title=design.title,
        licence=design.licence,
        authors=authors,
        file_name=design_file.filename,
        file_sha256=design_file.sha256,
        file_size=design_file.size_bytes,
        download_url=f"{ctx.public_url.rstrip('/')}/api/v1/files/{design_file.sha256}",
        download_token=token,
        token_expires_at=expires,
        material=order.material,
        colour=order.colour,
        process=design.process,
        bbox_mm=(design_file.size_x_mm, design_file.size_y_mm, design_file.size_z_mm),
        machine_id=chosen.machine_id,
        deadline=job.offer_deadline,
        attribution=attribution,
    )
    enqueue(
        session,
        ctx.topics.jobs(chosen.node_id),
        offer.to_bytes(),
        kind=OFFER,
        job_id=job.id,
        expires_at=job.offer_deadline,
    )
    history.record(
        session,
        order.id,
        "offered",
        f"offered to {chosen.node_id} ({chosen.distance_km:.1f} km away), machine {chosen.machine_id}, "
        f"{chosen.price.total:.2f} {chosen.price.currency}",
        job_id=job.id,
        node_id=chosen.node_id,
        distance_km=round(chosen.distance_km, 3),
        score=score,
        price=price,
        skipped=skipped,
        evaluated_labs=result.evaluated_labs,
    )


def _reroute(session: Session, ctx: DispatchContext, job: Job) -> None:
    order = session.get(Order, job.order_id)
    design_file = session.get(DesignFile, job.design_file_id)
    design = session.get(Design, order.design_id)
    _route(session, ctx, job, order, design, design_file)


def _command(session: Session, ctx: DispatchContext, job: Job, command: str, reason: str | None = None) -> None:
    enqueue(
        session,
        ctx.topics.jobs(job.node_id),
        JobCommand(job_id=job.id, command=command, reason=reason).to_bytes(),
        kind=COMMAND,
        job_id=job.id,
    )


def handle_event(session: Session, ctx: DispatchContext, topic_node: str, event: JobEvent) -> bool:
    """Apply one node event if it is fresh, in its own transaction; return whether it changed anything."""
    with ctx.lock:
        [changed] = apply_events(session, ctx, [(topic_node, event)])
        if changed:
            session.commit()
        else:
            session.rollback()
        return changed


def apply_events(
    session: Session, ctx: DispatchContext, events: Sequence[tuple[str, JobEvent]], *, hold_gaps: bool = False
) -> list[bool | None]:
    """Apply node events, in order, in the caller's transaction (the caller commits and holds
    `ctx.lock`); return per event whether it changed anything.

    One transaction for many events is what lets the hub keep up with thousands of nodes:
    the jobs are read and locked in one statement, each order is recomputed once.

    A node numbers a job's events 1, 2, 3... With `hold_gaps`, an event whose predecessor has
    not been applied yet is left alone (None): with several replicas the broker hands a node's
    consecutive events to different replicas, and `accepted` must not be overtaken (and then
    dropped as stale) by `completed`. The caller tries it again, and applies it anyway when the
    missing one never comes.
    """
    wanted = sorted({event.job_id for node, event in events if event.node_id == node})
    jobs = LockedJobs(session, wanted)
    changed, touched = [], set()
    for topic_node, event in events:
        if event.node_id != topic_node:
            log.warning(
                "event names another node than its topic; dropped",
                extra={"topic_node": topic_node, "event_node": event.node_id, "job_id": event.job_id},
            )
            changed.append(False)
            continue
        job = jobs.get(event.job_id)
        if job is None:
            log.warning("event for unknown job dropped", extra={"job_id": event.job_id, "node_id": topic_node})
            changed.append(False)
            continue
        if job.node_id != topic_node or event.seq <= job.last_seq or JobStatus(job.status).is_terminal:
            # Routine: a node re-sends every event until it is acknowledged.
            log.debug(
                "stale or duplicate event ignored",
                extra={"job_id": job.id, "node_id": topic_node, "seq": event.seq, "last_seq": job.last_seq},
            )
            changed.append(False)
            continue
        if hold_gaps and event.seq > job.last_seq + 1:
            changed.append(None)
            continue
        job.last_seq = event.seq
        job.updated_at = now()
        if event.type is EventType.DECLINED:
            # Re-routing needs the whole job: it continues as an ORM object, flushed below.
            whole = jobs.orm(job)
            _decline(session, ctx, whole, event)
            jobs.adopt(job, whole)
        else:
            _apply(session, ctx, job, event)
        touched.add(job.order_id)
        changed.append(True)
    session.flush()  # re-routed jobs first, then what later events changed
    jobs.write()
    refresh_orders(session, touched)
    return changed


def _decline(session: Session, ctx: DispatchContext, job: Job, event: JobEvent) -> None:
    node = event.node_id
    job.declined_by = [*job.declined_by, node]
    history.record(
        session,
        job.order_id,
        "declined",
        f"declined by {node}: {event.reason or 'no reason given'}",
        job_id=job.id,
        node_id=node,
    )
    _reroute(session, ctx, job)


def _apply(session: Session, ctx: DispatchContext, job: JobRow, event: JobEvent) -> None:
    """Any event but a decline (`_decline`): the job's new state and a line of history."""
    node = event.node_id
    if event.type is EventType.ACCEPTED:
        job.status = JobStatus.ACCEPTED
        job.started_at = job.updated_at
        if event.machine_id:
            job.machine_id = event.machine_id
        ctx.fairness.record(node, job.started_at)
        history.record(
            session,
            job.order_id,
            "accepted",
            f"accepted by {node} on machine {job.machine_id}",
            job_id=job.id,
            node_id=node,
        )
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
            history.record(
                session,
                job.order_id,
                "progress",
                f"{stage.value.replace('_', ' ')}{pct} at {node}",
                job_id=job.id,
                node_id=node,
                stage=stage.value,
                percent=event.percent,
            )
    elif event.type is EventType.COMPLETED:
        job.status = JobStatus.COMPLETED
        job.percent = 100.0
        job.completed_at = job.updated_at
        history.record(
            session,
            job.order_id,
            "completed",
            f"part made at {node}",
            job_id=job.id,
            node_id=node,
            **dict(event.detail.items()),
        )
    elif event.type is EventType.FAILED:
        job.status = JobStatus.FAILED
        job.reason = event.reason or "the node reported a failure"
        job.completed_at = job.updated_at
        history.record(session, job.order_id, "failed", f"failed at {node}: {job.reason}", job_id=job.id, node_id=node)


def _stage(name: str | None) -> JobStatus | None:
    try:
        stage = JobStatus(name or "")
    except ValueError:
        return None
    return stage if stage in _PROGRESS_STAGES else None


def release_unaccepted_offers(
    session: Session, ctx: DispatchContext, *, node_id: str | None = None, expired_at: float | None = None, why: str
) -> int:
    """Offer again elsewhere jobs a node has not accepted: it went offline, or the offer lapsed.

    A job the node has accepted stays with it: it may be on the machine already.
    """
    with ctx.lock:
        query = select(Job).where(Job.status.in_([s.value for s in UNACCEPTED]))
        if node_id is not None:
            query = query.where(Job.node_id == node_id)
        if expired_at is not None:
            query = query.where(Job.offer_deadline < expired_at)
        # Another replica may be handling some of these jobs right now (an event, the same
        # sweep): skip them rather than wait; whoever holds a job decides its fate.
        jobs = list(session.exec(query.order_by(Job.id).with_for_update(skip_locked=True)))
        for job in jobs:
            previous = job.node_id
            history.record(
                session,
                job.order_id,
                "released",
                f"{previous}: {why}; offering elsewhere",
                job_id=job.id,
                node_id=previous,
            )
            if expired_at is not None:
                job.declined_by = [*job.declined_by, previous]
                _command(session, ctx, job, "cancel", why)
            _reroute(session, ctx, job)
        refresh_orders(session, {job.order_id for job in jobs})
        session.commit()
        return len(jobs)


def route_waiting_jobs(session: Session, ctx: DispatchContext, *, limit: int = 500) -> int:
    """Try again the jobs no lab could take a moment ago; returns how many got an offer."""
    with ctx.lock:
        jobs = list(
            session.exec(
                select(Job)
                .where(Job.status == JobStatus.WAITING.value)
                .order_by(Job.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        for job in jobs:
            _reroute(session, ctx, job)
        refresh_orders(session, {job.order_id for job in jobs})
        session.commit()
    return sum(job.status == JobStatus.OFFERED for job in jobs)


def withdrawn_jobs(session: Session, events: Sequence[tuple[str, JobEvent]]) -> set[tuple[str, str]]:
    """The (node, job) pairs among `events` whose job is no longer that node's to make:
    unknown, given to another node, or cancelled. Read after the events' transaction."""
    ids = sorted({event.job_id for _, event in events})
    owners = (
        {
            job_id: (node_id, status)
            for job_id, node_id, status in session.exec(select(Job.id, Job.node_id, Job.status).where(Job.id.in_(ids)))
        }
        if ids
        else {}
    )
    withdrawn = set()
    for node, event in events:
        owner = owners.get(event.job_id)
        if owner is None or owner[0] != node or owner[1] == JobStatus.CANCELLED:
            withdrawn.add((node, event.job_id))
    return withdrawn


def lab_decision(
    session: Session, ctx: DispatchContext, lab: Principal, job_id: str, *, accept: bool, reason: str | None
) -> Job:
    """A person at the lab accepts or declines an offer its node has checked and is holding."""
    with ctx.lock:
        job = session.get(Job, job_id, with_for_update=True)
        if job is None or (lab.role is not Role.ADMIN and job.node_id != lab.node_id):
            raise NotFound(f"no offer {job_id!r} for this lab")
        if JobStatus(job.status) not in UNACCEPTED:
            raise NotAllowed(f"job {job_id} is {job.status}; only an open offer can be accepted or declined")
        if accept:
            _command(session, ctx, job, "accept")
            history.record(
                session,
                job.order_id,
                "lab_accepting",
                f"{job.node_id}: a person accepted the offer",
                job_id=job.id,
                node_id=job.node_id,
            )
        else:
            why = reason or "declined by the lab"
            _command(session, ctx, job, "cancel", why)
            job.declined_by = [*job.declined_by, job.node_id]
            history.record(
                session,
                job.order_id,
                "declined",
                f"declined by {job.node_id}: {why}",
                job_id=job.id,
                node_id=job.node_id,
            )
            _reroute(session, ctx, job)
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
            status = JobStatus(job.status)
            if status not in CANCELLABLE:
                if not status.is_terminal:
                    kept.append(job.id)
                continue
            if job.node_id is not None:
                _command(session, ctx, job, "cancel", "cancelled by the maker")
            job.status = JobStatus.CANCELLED
            job.completed_at = job.updated_at = now()
            session.add(job)
            cancelled.append(job.id)
            history.record(
                session, order_id, "cancelled", "job cancelled by the maker", job_id=job.id, node_id=job.node_id
            )
        if not cancelled and kept:
            raise NotAllowed("every remaining job is already running on a machine and cannot be cancelled")
        refresh_orders(session, [order_id])
        session.commit()
        return cancelled, kept


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
            .where(Order.id.in_(ids))
            .order_by(Order.id)
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        )
    )
    statuses: dict[str, list[JobStatus]] = {order_id: [] for order_id in ids}
    for order_id, status, _ in session.exec(
        select(Job.order_id, Job.status, func.count()).where(Job.order_id.in_(ids)).group_by(Job.order_id, Job.status)
    ):
        statuses[order_id].append(JobStatus(status))
    for order in orders:
        _set_order_status(session, order, statuses[order.id])


def _set_order_status(session: Session, order: Order, statuses: list[JobStatus]) -> None:
    if statuses and all(s is JobStatus.COMPLETED for s in statuses):
        status = OrderStatus.COMPLETED
    elif statuses and all(s.is_terminal for s in statuses):
        status = OrderStatus.CANCELLED if all(s is JobStatus.CANCELLED for s in statuses) else OrderStatus.FAILED
    elif any(s not in (JobStatus.OFFERED, JobStatus.CREATED, JobStatus.WAITING) for s in statuses):
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
    names = {
        f.id: f.filename
        for f in session.exec(select(DesignFile).where(DesignFile.id.in_([j.design_file_id for j in jobs])))
    }
    events = session.exec(select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id))
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


def orders_of(session: Session, maker: Principal, *, limit: int = 100, offset: int = 0) -> list[str]:
    query = select(Order.id).order_by(Order.created_at.desc(), Order.id).offset(offset).limit(limit)
    if maker.role is not Role.ADMIN:
        query = query.where(Order.maker_token_id == maker.token_id)
    return list(session.exec(query))
