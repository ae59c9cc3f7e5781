"""The dispatch hot path's plain rows, on SQLite and PostgreSQL: staged rows are written with
their transaction's commit (after the ORM objects they point at) and dropped by a rollback;
an order's jobs, offers and history are written together; a batch of events mixing a
decline (re-routed through the ORM) with other events lands as it would one by one."""

from __future__ import annotations

from dataclasses import fields

from sqlmodel import Session, func, select

from cofab_wire import EventType, JobEvent
from hub.dispatch import bulk
from hub.dispatch import events as dispatch_events
from hub.dispatch.models import OutboxMessage
from hub.orders import history
from hub.orders.models import Job, NewJob, Order, OrderEvent


def count(session: Session, model, *where) -> int:
    return session.exec(select(func.count()).select_from(model).where(*where)).one()


def test_a_new_job_has_every_column_of_a_job():
    assert {f.name for f in fields(NewJob)} == set(Job.__table__.columns.keys())


def test_staged_rows_are_written_at_commit_and_dropped_by_a_rollback(hub, place):
    order_id = place(1)["id"]
    with Session(hub.engine) as session:
        before = count(session, OrderEvent, OrderEvent.order_id == order_id)
        history.record(session, order_id, "note", "kept")
        assert bulk.staged_count(session) == 1
        assert count(session, OrderEvent, OrderEvent.order_id == order_id) == before  # not yet written
        session.commit()
        assert bulk.staged_count(session) == 0
        history.record(session, order_id, "note", "dropped")
        session.rollback()
        assert bulk.staged_count(session) == 0
        session.commit()
        notes = session.exec(
            select(OrderEvent.message).where(OrderEvent.order_id == order_id, OrderEvent.kind == "note")
        ).all()
    assert notes == ["kept"]


def test_a_staged_row_may_point_at_an_object_added_in_its_transaction(hub, place):
    """The ORM's pending objects are flushed before the staged rows that reference them."""
    template = place(1)
    with Session(hub.engine) as session:
        source = session.get(Order, template["id"])
        order = Order(**{**source.model_dump(), "id": "o_staged_child"})
        session.add(order)
        history.record(session, order.id, "placed", "a new order's first line")
        session.commit()
        assert count(session, OrderEvent, OrderEvent.order_id == "o_staged_child") == 1


def test_rows_with_different_columns_go_in_separate_statements(hub, place):
    order_id = place(1)["id"]
    with Session(hub.engine) as session:
        bulk.stage(
            session, OrderEvent.__table__, {"order_id": order_id, "at": 1.0, "kind": "a", "message": "one", "data": {}}
        )
        bulk.stage(
            session,
            OrderEvent.__table__,
            {
                "order_id": order_id,
                "at": 2.0,
                "kind": "b",
                "message": "two",
                "data": {"x": 1},
                "node_id": "lab-a",
                "job_id": None,
            },
        )
        assert bulk.write_staged(session) == 2
        session.commit()
        rows = session.exec(
            select(OrderEvent.kind, OrderEvent.node_id, OrderEvent.data)
            .where(OrderEvent.order_id == order_id, OrderEvent.kind.in_(["a", "b"]))
            .order_by(OrderEvent.kind)
        ).all()
    assert rows == [("a", None, {}), ("b", "lab-a", {"x": 1})]


def test_placing_an_order_writes_its_jobs_offers_and_history(hub, place):
    order = place(4)
    job_ids = {j["id"] for j in order["jobs"]}
    with Session(hub.engine) as session:
        assert count(session, Job, Job.order_id == order["id"], Job.status == "offered") == 4
        offers = session.exec(select(OutboxMessage).where(OutboxMessage.job_id.in_(job_ids))).all()
        lines = session.exec(select(OrderEvent.kind).where(OrderEvent.order_id == order["id"])).all()
    assert {o.job_id for o in offers} == job_ids and all(o.kind == "offer" and o.sent_at is None for o in offers)
    assert sorted(lines) == ["offered"] * 4 + ["placed"]
    assert all(j["price"] and j["score"] for j in order["jobs"])  # the match is stored with the job


def test_a_batch_mixing_a_decline_with_other_events(hub, place):
    """One job is fetched then declined in the batch (re-routed, its later stale event
    ignored); the other is accepted: each as if applied alone."""
    declined, accepted = (j["id"] for j in place(2)["jobs"])
    events = [
        ("lab-a", JobEvent(job_id=declined, node_id="lab-a", seq=1, type=EventType.PROGRESS, stage="fetching")),
        ("lab-a", JobEvent(job_id=accepted, node_id="lab-a", seq=1, type=EventType.ACCEPTED, machine_id="p1")),
        ("lab-a", JobEvent(job_id=declined, node_id="lab-a", seq=2, type=EventType.DECLINED, reason="no PLA")),
        ("lab-a", JobEvent(job_id=declined, node_id="lab-a", seq=3, type=EventType.PROGRESS, stage="checking")),
    ]
    with Session(hub.engine, expire_on_commit=False) as session, hub.dispatch.lock:
        changed = dispatch_events.apply_events(session, hub.dispatch, events)
        session.commit()
    assert changed == [True, True, True, False]
    with Session(hub.engine) as session:
        moved, kept = session.get(Job, declined), session.get(Job, accepted)
        kinds = session.exec(select(OrderEvent.kind).where(OrderEvent.job_id == declined).order_by(OrderEvent.id)).all()
    assert (moved.status, moved.declined_by, moved.last_seq, moved.attempts) == ("offered", ["lab-a"], 0, 2)
    assert moved.node_id != "lab-a"
    assert kinds == ["offered", "progress", "declined", "offered"]
    assert (kept.status, kept.node_id, kept.last_seq, kept.machine_id) == ("accepted", "lab-a", 1, "p1")
    assert kept.started_at is not None


def test_json_columns_take_what_the_standard_library_took(hub, place):
    """orjson writes the JSON columns (hub.db): numpy scalars, float subclasses and non-string
    keys still go in, as `json.dumps` took them."""
    import numpy as np

    order_id = place(1)["id"]
    with Session(hub.engine) as session:
        history.record(
            session,
            order_id,
            "note",
            "numbers",
            data={"mass": np.float64(2.5), "count": np.int64(3), "by_layer": {1: "first"}, "flag": np.bool_(True)},
        )
        session.commit()
        [data] = session.exec(
            select(OrderEvent.data).where(OrderEvent.order_id == order_id, OrderEvent.kind == "note")
        ).all()
    assert data == {"mass": 2.5, "count": 3, "by_layer": {"1": "first"}, "flag": True}


def test_settling_after_startup_freezes_what_exists_and_raises_the_young_threshold():
    import gc

    from hub.gc_tuning import YOUNG_THRESHOLD, settle_after_startup

    threshold = gc.get_threshold()
    try:
        settle_after_startup()
        assert gc.get_freeze_count() > 0 and gc.get_threshold()[0] == YOUNG_THRESHOLD
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
