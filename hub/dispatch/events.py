"""Applying node events to jobs: at most once, in order, in the caller's transaction.

An event from a node that no longer holds the job, or with a sequence number not above the
last one applied, is dropped. A decline offers the job to the next lab (`hub.dispatch.offers`);
every other event moves the job along its lifecycle and adds a line to the order's history.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from sqlmodel import Session, col, select

from cofab_wire import EventType, JobEvent
from hub.dispatch.context import DispatchContext
from hub.dispatch.offers import pass_on
from hub.orders import history
from hub.orders.jobrows import JobRow, LockedJobs
from hub.orders.models import PROGRESS_STAGES, Job, JobStatus
from hub.orders.service import refresh_orders
from hub.timeutil import now

log = logging.getLogger(__name__)


def handle_event(session: Session, ctx: DispatchContext, topic_node: str, event: JobEvent) -> bool:
    """Apply one node event if it is fresh, in its own transaction; return whether it changed anything."""
    with ctx.lock:
        [changed] = apply_events(session, ctx, [(topic_node, event)])
        if changed:
            session.commit()
        else:
            session.rollback()
        return bool(changed)  # never None: gaps are not held here


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
    changed: list[bool | None] = []
    touched: set[str] = set()
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
        if job.node_id != topic_node or event.seq <= job.last_seq or job.status.is_terminal:
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
            pass_on(session, ctx, whole, event.reason or "no reason given")
            jobs.adopt(job, whole)
        else:
            _apply(session, ctx, job, event)
        touched.add(job.order_id)
        changed.append(True)
    session.flush()  # re-routed jobs first, then what later events changed
    jobs.write()
    refresh_orders(session, touched)
    return changed


class _Line(NamedTuple):
    """A line of the order's history: its kind, message and data."""

    kind: str
    message: str
    data: dict[str, Any]


def _accepted(ctx: DispatchContext, job: JobRow, event: JobEvent) -> _Line | None:
    job.status = JobStatus.ACCEPTED
    job.started_at = job.updated_at
    if event.machine_id:
        job.machine_id = event.machine_id
    ctx.fairness.record(event.node_id, job.started_at)
    return _Line("accepted", f"accepted by {event.node_id} on machine {job.machine_id}", {})


def _progress(ctx: DispatchContext, job: JobRow, event: JobEvent) -> _Line | None:
    stage = _stage(event.stage)
    if stage is None:
        log.warning("progress event with unknown stage", extra={"job_id": job.id, "stage": event.stage})
        return None
    changed = stage != job.status
    job.status = stage
    if event.percent is not None:
        job.percent = event.percent
    elif not changed:
        return None
    pct = f" {event.percent:.0f}%" if event.percent is not None else ""
    message = f"{stage.value.replace('_', ' ')}{pct} at {event.node_id}"
    return _Line("progress", message, {"stage": stage.value, "percent": event.percent})


def _completed(ctx: DispatchContext, job: JobRow, event: JobEvent) -> _Line | None:
    job.status = JobStatus.COMPLETED
    job.percent = 100.0
    job.completed_at = job.updated_at
    return _Line("completed", f"part made at {event.node_id}", dict(event.detail.items()))


def _failed(ctx: DispatchContext, job: JobRow, event: JobEvent) -> _Line | None:
    job.status = JobStatus.FAILED
    job.reason = event.reason or "the node reported a failure"
    job.completed_at = job.updated_at
    return _Line("failed", f"failed at {event.node_id}: {job.reason}", {})


_APPLY: dict[EventType, Callable[[DispatchContext, JobRow, JobEvent], _Line | None]] = {
    EventType.ACCEPTED: _accepted,
    EventType.PROGRESS: _progress,
    EventType.COMPLETED: _completed,
    EventType.FAILED: _failed,
}
"""Every event type but a decline (which re-routes the job, `offers.pass_on`): the job's new
state, and the history line that says so (None: nothing worth a line)."""


def _apply(session: Session, ctx: DispatchContext, job: JobRow, event: JobEvent) -> None:
    line = _APPLY[event.type](ctx, job, event)
    if line is not None:
        history.record_job(session, job, line.kind, line.message, line.data)


def _stage(name: str | None) -> JobStatus | None:
    try:
        stage = JobStatus(name or "")
    except ValueError:
        return None
    return stage if stage in PROGRESS_STAGES else None


def withdrawn_jobs(session: Session, events: Sequence[tuple[str, JobEvent]]) -> set[tuple[str, str]]:
    """The (node, job) pairs among `events` whose job is no longer that node's to make:
    unknown, given to another node, or cancelled. Read after the events' transaction."""
    ids = sorted({event.job_id for _, event in events})
    owners = (
        {
            job_id: (node_id, status)
            for job_id, node_id, status in session.exec(
                select(Job.id, Job.node_id, Job.status).where(col(Job.id).in_(ids))
            )
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
