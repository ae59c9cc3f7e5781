"""The hub's event worker, on SQLite and PostgreSQL: a message is acknowledged only once its
transaction committed, nothing is acknowledged while the database is away, one bad event
does not hold back the others, and statuses and events keep their order."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from cofab_wire import EventType, JobEvent, MachineStatus, NodeStatus
from hub.dispatch import events as dispatch_events
from hub.dispatch.handlers import InboundHandler
from hub.orders.models import Job, OrderEvent
from tests.mqtt_support import wait_until

_mids = iter(range(1, 10**6))


def message(topic: str, payload: bytes) -> mqtt.MQTTMessage:
    msg = mqtt.MQTTMessage(mid=next(_mids), topic=topic.encode())
    msg.payload, msg.qos = payload, 1
    return msg


def event(job_id: str, node: str, seq: int, type: EventType, **fields) -> mqtt.MQTTMessage:
    return message(
        f"cofab/v1/nodes/{node}/events", JobEvent(job_id=job_id, node_id=node, seq=seq, type=type, **fields).to_bytes()
    )


def status(node: str, online: bool) -> mqtt.MQTTMessage:
    return message(
        f"cofab/v1/nodes/{node}/status",
        NodeStatus(
            node_id=node,
            online=online,
            machines=[
                MachineStatus(machine_id="p1", process="FDM", build_volume_mm=(200, 200, 200), materials=["PLA"])
            ],
        ).to_bytes(),
    )


def job(hub, job_id: str) -> Job:
    with Session(hub.engine) as session:
        return session.get(Job, job_id)


@pytest.fixture
def worker(hub):
    acked: list[tuple[int, str | None]] = []

    def ack(msg: mqtt.MQTTMessage) -> None:
        # What the database holds at the moment of the acknowledgement.
        job_id = msg.payload and b'"job_id"' in msg.payload and msg.payload.split(b'"job_id":"')[1].split(b'"')[0]
        acked.append((msg.mid, job(hub, job_id.decode()).status if job_id else None))

    handler = InboundHandler(
        hub.engine,
        hub.dispatch.topics,
        hub.dispatch,
        after_commit=lambda: None,
        ack=ack,
        registry_lock=hub.registry_lock,
    )
    handler.acked = acked
    handler.start()
    yield handler
    handler.stop()


def test_events_are_acknowledged_after_their_transaction(hub, place, worker):
    jobs = [j["id"] for j in place(3)["jobs"]]
    messages = [event(j, "lab-a", 1, EventType.ACCEPTED, machine_id="p1") for j in jobs]
    messages += [event(jobs[0], "lab-a", 1, EventType.ACCEPTED), message("cofab/v1/nodes/lab-a/events", b"{oops")]
    for msg in messages:
        worker.submit(msg)
    wait_until(lambda: len(worker.acked) == len(messages), what="every message acknowledged")
    states = dict(worker.acked)
    assert sorted(states) == sorted(m.mid for m in messages)
    assert [states[m.mid] for m in messages[:4]] == ["accepted"] * 4  # committed before the ack
    assert worker.counts["applied"] == 3 and worker.counts["rejected"] == 1
    with Session(hub.engine) as session:
        assert len(session.exec(select(OrderEvent).where(OrderEvent.kind == "accepted")).all()) == 3


def test_nothing_is_acknowledged_while_the_database_is_away(hub, place, worker, monkeypatch):
    job_id = place(1)["jobs"][0]["id"]
    real, failures, release = dispatch_events.apply_events, [], threading.Event()

    def database_away(session, ctx, events):
        if not release.is_set():
            failures.append(1)
            raise OperationalError("SELECT", {}, Exception("connection refused"))
        return real(session, ctx, events)

    monkeypatch.setattr(dispatch_events, "apply_events", database_away)
    worker.submit(event(job_id, "lab-a", 1, EventType.ACCEPTED, machine_id="p1"))
    wait_until(lambda: len(failures) >= 3, what="retries")
    assert worker.acked == []
    release.set()
    wait_until(lambda: len(worker.acked) == 1, what="the acknowledgement once the database is back")
    assert worker.acked[0][1] == "accepted" and worker.counts["retried"] >= 3


def test_one_event_the_hub_cannot_apply_does_not_hold_back_the_others(hub, place, worker, monkeypatch):
    jobs = [j["id"] for j in place(3)["jobs"]]
    real = dispatch_events.apply_events

    def poisoned(session, ctx, events):
        if any(e.job_id == jobs[1] for _, e in events):
            raise RuntimeError("a bug met this event")
        return real(session, ctx, events)

    monkeypatch.setattr(dispatch_events, "apply_events", poisoned)
    for j in jobs:
        worker.submit(event(j, "lab-a", 1, EventType.ACCEPTED, machine_id="p1"))
    wait_until(lambda: len(worker.acked) == 3, what="every message acknowledged")
    assert [job(hub, j).status for j in jobs] == ["accepted", "offered", "accepted"]
    assert worker.counts["failed"] == 1


def test_statuses_and_events_are_applied_in_the_order_they_came(hub, place, worker):
    """An event before a node's offline status applies first (job 1 stays with its node); the
    offline status then moves the unanswered job 2, and lab-a's late word about it is stale."""
    first, second = (place(1)["jobs"][0]["id"] for _ in range(2))
    for msg in (
        event(first, "lab-a", 1, EventType.ACCEPTED, machine_id="p1"),
        status("lab-a", False),
        event(second, "lab-a", 1, EventType.PROGRESS, stage="fetching"),
    ):
        worker.submit(msg)
    wait_until(lambda: len(worker.acked) == 3, what="every message acknowledged")
    assert (job(hub, first).status, job(hub, first).node_id) == ("accepted", "lab-a")
    assert job(hub, second).status == "offered" and job(hub, second).node_id != "lab-a"


def test_an_event_that_overtook_its_predecessor_waits_for_it(hub, place, worker):
    """With several replicas, `completed` (2) may reach one before another applied `accepted`
    (1): it is held, unacknowledged, until 1 is in; then both count."""
    job_id = place(1)["jobs"][0]["id"]
    completed = event(job_id, "lab-a", 2, EventType.COMPLETED)
    worker.submit(completed)
    wait_until(lambda: worker.counts["held"] == 1, what="the completion held")
    assert worker.acked == [] and job(hub, job_id).status == "offered"
    worker.submit(event(job_id, "lab-a", 1, EventType.ACCEPTED, machine_id="p1"))
    wait_until(lambda: len(worker.acked) == 2, what="both acknowledged")
    assert job(hub, job_id).status == "completed" and job(hub, job_id).started_at is not None
    with Session(hub.engine) as session:
        history = [
            e.kind for e in session.exec(select(OrderEvent).where(OrderEvent.job_id == job_id).order_by(OrderEvent.id))
        ]
    assert history == ["offered", "accepted", "completed"]


def test_an_event_whose_predecessor_never_comes_is_applied_after_the_hold(hub, place):
    job_id = place(1)["jobs"][0]["id"]
    acked = []
    handler = InboundHandler(
        hub.engine, hub.dispatch.topics, hub.dispatch, after_commit=lambda: None, ack=acked.append, hold_s=0.3
    )
    handler.start()
    try:
        handler.submit(event(job_id, "lab-a", 2, EventType.COMPLETED))
        wait_until(lambda: len(acked) == 1, what="the completion applied after the hold")
    finally:
        handler.stop()
    assert job(hub, job_id).status == "completed" and handler.counts["held"] == 1
