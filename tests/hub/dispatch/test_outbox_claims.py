"""The outbox's contract with its relays, on SQLite and PostgreSQL: claims by topic with a
lease, per-topic order across relays, take-over after a lapsed lease, and what is sent again
after a broker lost its state."""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import select, update
from sqlmodel import Session

from hub.dispatch import outbox
from hub.dispatch.models import OutboxMessage
from hub.orders.models import Job, JobStatus
from hub.timeutil import now
from tests.conftest import postgres_only
from tests.factories import bearer
from tests.hub.dispatch.conftest import LABS, NEAR_A

NEAR_B = (LABS[1][1] + 0.001, LABS[1][2] + 0.001)
NEAR_C = (LABS[2][1] + 0.001, LABS[2][2] + 0.001)


def claim(hub, owner: str, *, limit: int = 100, lease_s: float = 30.0, at: float | None = None):
    with Session(hub.engine) as session:
        return outbox.claim(session, owner, limit=limit, lease_s=lease_s, at=at)


def mark_sent(hub, rows) -> None:
    with Session(hub.engine) as session:
        outbox.mark_sent(session, [r.id for r in rows])


def rows_by_topic(rows) -> dict[str, list[int]]:
    topics: dict[str, list[int]] = {}
    for row in rows:
        topics.setdefault(row.topic, []).append(row.id)
    return topics


def test_a_relay_claims_whole_topics_in_order_and_nobody_else_takes_them(hub, place):
    place(3)
    place(1, NEAR_B)
    rows = claim(hub, "relay-1")
    topics = rows_by_topic(rows)
    assert set(topics) == {"cofab/v1/nodes/lab-a/jobs", "cofab/v1/nodes/lab-b/jobs"}
    assert len(topics["cofab/v1/nodes/lab-a/jobs"]) == 3
    assert all(ids == sorted(ids) for ids in topics.values())
    assert [r.id for r in rows] == sorted(r.id for r in rows)
    assert claim(hub, "relay-2") == []  # every row is held
    assert claim(hub, "relay-1") == []  # and not claimed twice by its holder either


def test_a_topic_stays_with_its_relay_until_its_rows_are_acknowledged(hub, place):
    place(2)
    first = claim(hub, "relay-1")
    place(1)  # a later offer to the same node
    place(1, NEAR_C)  # and one to another node
    second = claim(hub, "relay-2")
    assert rows_by_topic(second).keys() == {"cofab/v1/nodes/lab-c/jobs"}, "lab-a's topic is held by relay-1"
    mark_sent(hub, first)
    third = claim(hub, "relay-2")
    assert rows_by_topic(third).keys() == {"cofab/v1/nodes/lab-a/jobs"}
    assert min(r.id for r in third) > max(r.id for r in first)


def test_a_dead_relays_claims_lapse_and_another_relay_takes_over(hub, place):
    place(2)
    t = now()
    held = claim(hub, "relay-1", lease_s=5, at=t)
    assert claim(hub, "relay-2", at=t + 1) == []
    taken = claim(hub, "relay-2", at=t + 6)
    assert [r.id for r in taken] == [r.id for r in held]


def test_released_claims_are_free_at_once(hub, place):
    place(2)
    held = claim(hub, "relay-1")
    with Session(hub.engine) as session:
        outbox.release(session, [r.id for r in held], "relay-1")
    assert [r.id for r in claim(hub, "relay-2")] == [r.id for r in held]


def test_offers_carry_their_deadline_as_expiry(hub, place):
    order = place(1)
    [row] = claim(hub, "relay-1")
    offer = json.loads(row.payload)
    assert offer["job_id"] == order["jobs"][0]["id"]
    assert row.expires_at == pytest.approx(offer["deadline"]) == pytest.approx(order["jobs"][0]["offer_deadline"])


def test_after_a_broker_loss_unanswered_offers_and_recent_commands_go_again(hub, place, api, tokens):
    answered, unanswered, cancelled = place(1)["jobs"][0]["id"], place(1, NEAR_B)["jobs"][0]["id"], place(1, NEAR_C)
    rows = claim(hub, "relay-1")
    mark_sent(hub, rows)
    with Session(hub.engine) as session:  # lab-a answered: it has the offer
        session.execute(update(Job).where(Job.id == answered).values(status=JobStatus.FETCHING.value))
        session.commit()
    response = api.post(f"/api/v1/orders/{cancelled['id']}/cancel", headers=bearer(tokens["maker"]))
    assert response.status_code == 200, response.text
    mark_sent(hub, claim(hub, "relay-1"))  # the cancel command went out too
    t = now()
    with Session(hub.engine) as session:
        count = outbox.requeue_after_broker_loss(session, sent_before=t, commands_since=t - 30)
    again = claim(hub, "relay-2")
    kinds = {(r.topic.split("/")[-2], json.loads(r.payload)["kind"], json.loads(r.payload)["job_id"]) for r in again}
    assert kinds == {("lab-b", "offer", unanswered), ("lab-c", "command", cancelled["jobs"][0]["id"])}
    assert count == 2


def test_expired_offers_are_not_sent_again(hub, place):
    place(1)
    mark_sent(hub, claim(hub, "relay-1"))
    with Session(hub.engine) as session:
        session.execute(update(OutboxMessage).values(expires_at=now() - 1))
        session.commit()
        assert outbox.requeue_after_broker_loss(session, sent_before=now(), commands_since=now() - 30) == 0


@postgres_only
def test_concurrent_relays_never_share_a_row(request, place):
    """Row locks are PostgreSQL's; SQLite has one process."""
    hub = request.getfixturevalue("hub")
    for where in (NEAR_A, NEAR_B, NEAR_C):
        place(20, where)
    claimed: dict[str, list[int]] = {}
    barrier = threading.Barrier(4)

    def relay(owner: str) -> None:
        barrier.wait()
        mine = claimed.setdefault(owner, [])
        while rows := claim(hub, owner, limit=7):
            mine.extend(r.id for r in rows)
            mark_sent(hub, rows)

    threads = [threading.Thread(target=relay, args=(f"relay-{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    every = [row_id for ids in claimed.values() for row_id in ids]
    with Session(hub.engine) as session:
        all_rows = list(session.execute(select(OutboxMessage.id)).scalars())
    assert sorted(every) == sorted(all_rows)  # each row claimed exactly once


def test_a_restarted_replica_takes_back_its_dead_predecessors_claims_at_once(hub, place):
    place(2)
    held = claim(hub, "hub-1/dead0001")
    assert claim(hub, "hub-2/alive001") == []
    with Session(hub.engine) as session:
        assert outbox.release_predecessors(session, "hub-1", "hub-1/new00001") == len(held)
    assert [r.id for r in claim(hub, "hub-1/new00001")] == [r.id for r in held]
