"""Several replicas on one PostgreSQL database, each with its own dispatch context and no
process lock (as hub.runtime builds them there): an event two replicas get applies once,
two replicas finishing an order's last jobs complete it, two sweepers release a lapsed offer
once. And a replica's registry picks up labs changed through another (SQLite too)."""

from __future__ import annotations

import dataclasses
import threading
from collections import Counter
from contextlib import nullcontext

import pytest
from sqlalchemy import update
from sqlmodel import Session, select

from cofab_wire import EventType, JobEvent
from hub.dispatch.events import handle_event
from hub.maintenance import OfferSweeper, RegistryRefresher
from hub.nodes.service import deactivate
from hub.orders.models import Job, Order, OrderEvent
from hub.timeutil import now
from tests.conftest import postgres_only


@pytest.fixture
def replicas(hub):
    return [dataclasses.replace(hub.dispatch, lock=nullcontext()) for _ in range(3)]


def together(*work) -> None:
    """Run the callables at the same moment on their own threads; re-raise the first error."""
    barrier, errors = threading.Barrier(len(work)), []

    def run(fn) -> None:
        barrier.wait()
        try:
            fn()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(fn,)) for fn in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    if errors:
        raise errors[0]


def send(hub, ctx, job_id: str, seq: int, type: EventType, node: str = "lab-a") -> bool:
    with Session(hub.engine, expire_on_commit=False) as session:
        return handle_event(session, ctx, node, JobEvent(job_id=job_id, node_id=node, seq=seq, type=type))


def kinds(hub, kind: str) -> Counter[str]:
    with Session(hub.engine) as session:
        return Counter(e.job_id for e in session.exec(select(OrderEvent).where(OrderEvent.kind == kind)))


@postgres_only
def test_an_event_two_replicas_get_at_once_applies_once(hub, place, replicas):
    jobs = [j["id"] for j in place(10)["jobs"]]
    results: list[bool] = []
    for job_id in jobs:
        together(
            *(lambda ctx=ctx, j=job_id: results.append(send(hub, ctx, j, 1, EventType.ACCEPTED)) for ctx in replicas)
        )
    assert results.count(True) == len(jobs)
    assert kinds(hub, "accepted") == Counter(dict.fromkeys(jobs, 1))


@postgres_only
def test_replicas_finishing_an_orders_last_jobs_together_complete_it(hub, place, replicas):
    orders = [place(3) for _ in range(5)]
    for order in orders:
        for j in order["jobs"]:
            assert send(hub, replicas[0], j["id"], 1, EventType.ACCEPTED)
        together(
            *(
                lambda ctx=ctx, j=j: send(hub, ctx, j["id"], 2, EventType.COMPLETED)
                for ctx, j in zip(replicas, order["jobs"])
            )
        )
    with Session(hub.engine) as session:
        statuses = [session.get(Order, o["id"]).status for o in orders]
    assert statuses == ["completed"] * len(orders)
    assert sum(kinds(hub, "order_completed").values()) == len(orders)


@postgres_only
def test_two_sweepers_release_each_lapsed_offer_once(hub, place, replicas):
    jobs = [j["id"] for j in place(12)["jobs"]]
    with Session(hub.engine) as session:
        session.execute(update(Job).values(offer_deadline=now() - 1))
        session.commit()
    sweepers = [OfferSweeper(hub.engine, ctx, interval_s=60, after_change=lambda: None) for ctx in replicas[:2]]
    together(*(sweeper.sweep for sweeper in sweepers))
    assert kinds(hub, "released") == Counter(dict.fromkeys(jobs, 1))
    with Session(hub.engine) as session:
        assert {job.attempts for job in session.exec(select(Job))} == {2}


def test_a_replica_sees_labs_approved_or_suspended_through_another(hub):
    # Another replica: the same database, not this registry.
    with Session(hub.engine, expire_on_commit=False) as session:
        deactivate(session, "lab-b", None, registry=None)
    assert hub.registry.get("lab-b").membership == "active"
    refresher = RegistryRefresher(hub.engine, hub.dispatch, interval_s=60, lock=hub.registry_lock)
    assert refresher.refresh() == 3
    assert hub.registry.get("lab-b").membership == "inactive"
