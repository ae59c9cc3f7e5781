"""Node statuses in the order they were sent: every replica applies every status, and one
that lags must not write an older one over a newer one another replica stored. The Last
Will (offline) carries the time the node built it, so offline is always applied."""

from __future__ import annotations

import time

from sqlmodel import Session

from cofab_wire import MachineStatus, NodeStatus
from hub.nodes.models import Node
from hub.nodes.service import CLOCK_STEP_BACK_S, apply_status, machines_of

NODE = "lab-a"


def status(online: bool, sent_at: float, state: str = "idle", queue: int = 0) -> NodeStatus:
    machines = (
        [
            MachineStatus(
                machine_id="p1",
                process="FDM",
                build_volume_mm=(200, 200, 200),
                materials=["PLA"],
                state=state,
                queue_length=queue,
            )
        ]
        if online
        else []
    )
    return NodeStatus(node_id=NODE, online=online, machines=machines, sent_at=sent_at)


def apply(hub, message: NodeStatus) -> bool:
    with Session(hub.engine) as session:
        return apply_status(session, NODE, message, hub.registry)


def stored(hub) -> tuple[bool, str, int]:
    """(online, machine state, queue length) in the database; the registry must agree."""
    with Session(hub.engine) as session:
        node = session.get(Node, NODE)
        machine = machines_of(session, NODE)[0]
        in_db = (node.online, machine.state, machine.queue_length)
    lab = hub.registry.get(NODE)
    assert (lab.online, lab.machines[0].state, lab.machines[0].queue_length) == in_db
    return in_db


def test_an_older_status_never_replaces_a_newer_one(hub):
    # The node built its Last Will when it started; the hub fixture's status came before these.
    will_built, t = time.time() + 100, time.time() + 200
    apply(hub, status(True, t + 2, "printing", 2))
    assert stored(hub) == (True, "printing", 2)

    assert apply(hub, status(True, t + 1, "idle", 0)) is False  # a lagging replica's older status
    assert stored(hub) == (True, "printing", 2)

    assert apply(hub, status(False, will_built)) is True  # the Last Will: older time, still applied
    assert stored(hub)[0] is False

    apply(hub, status(True, t + 2, "printing", 2))  # the newest status again, from a lagging replica
    assert stored(hub)[0] is False

    apply(hub, status(True, t + 1, "idle", 0))  # still older than the newest applied
    assert stored(hub) == (False, "printing", 2)

    apply(hub, status(True, t + 3, "idle", 1))  # the node back, with a newer status
    assert stored(hub) == (True, "idle", 1)
    apply(hub, status(True, t + 3, "idle", 1))  # the same status again (retained, redelivered)
    assert stored(hub) == (True, "idle", 1)


def test_a_node_whose_clock_stepped_back_is_still_heard(hub):
    t = time.time() + 10_000  # the node's clock ran far ahead, then NTP set it right
    apply(hub, status(True, t, "printing", 1))
    assert stored(hub) == (True, "printing", 1)

    apply(hub, status(True, t - 3_600, "idle", 0))  # an hour "older": the clock, not a replica
    assert stored(hub) == (True, "idle", 0)

    apply(hub, status(True, t - 3_600 - 5, "printing", 3))  # now seconds older than that: stale
    assert stored(hub) == (True, "idle", 0)
    apply(hub, status(True, t - 3_590, "printing", 2))
    assert stored(hub) == (True, "printing", 2)


def with_epoch(message: NodeStatus, epoch: float) -> NodeStatus:
    return message.model_copy(update={"connection_epoch": epoch})


def test_a_last_will_of_an_earlier_connection_never_takes_a_node_offline(hub):
    # Connection 1 (epoch e1, six hours ago: far more than CLOCK_STEP_BACK_S), its will built
    # with it; the node drops and comes back on connection 2.
    e1 = time.time() - 6 * 3600
    e2 = t = time.time()
    assert e2 - e1 > CLOCK_STEP_BACK_S
    apply(hub, with_epoch(status(True, e1 + 1, "printing", 1), e1))
    assert apply(hub, with_epoch(status(False, e1), e1)) is True  # its own connection's will: offline
    assert stored(hub)[0] is False

    apply(hub, with_epoch(status(True, t, "idle", 0), e2))  # back on a new connection
    assert stored(hub) == (True, "idle", 0)

    # A lagging replica delivers connection 1's will and last status only now: both stale.
    assert apply(hub, with_epoch(status(False, e1), e1)) is False
    assert stored(hub) == (True, "idle", 0)
    apply(hub, with_epoch(status(True, e1 + 1, "printing", 1), e1))
    assert stored(hub) == (True, "idle", 0)

    # Connection 2's own will still applies; a node without epochs is ordered as before.
    assert apply(hub, with_epoch(status(False, e2), e2)) is True
    assert stored(hub)[0] is False
    apply(hub, status(True, t + 1, "printing", 2))
    assert stored(hub) == (True, "printing", 2)


def test_a_lagging_will_after_the_node_came_back_unseen(hub):
    """The replica that stored the node's return never applied the will in between."""
    e1 = time.time() - 3600
    e2 = time.time()
    apply(hub, with_epoch(status(True, e1 + 1, "idle", 0), e1))
    apply(hub, with_epoch(status(True, e2 + 1, "printing", 1), e2))
    assert apply(hub, with_epoch(status(False, e1), e1)) is False
    assert stored(hub) == (True, "printing", 1)


def test_an_epoch_from_a_clock_that_ran_fast_does_not_silence_the_node(hub):
    """The node's clock ran an hour fast; corrected, its next connection's epoch is 'earlier'.
    The stored epoch lies ahead of the hub's own clock, so it is not trusted."""
    fast = time.time() + 3600
    apply(hub, with_epoch(status(True, fast + 1, "printing", 1), fast))
    corrected = time.time()
    apply(hub, with_epoch(status(True, corrected + 1, "idle", 0), corrected))
    assert stored(hub) == (True, "idle", 0)
    # From then on the corrected connection orders as usual.
    assert apply(hub, with_epoch(status(True, corrected - 10, "printing", 3), corrected - 10)) is False
    assert stored(hub) == (True, "idle", 0)
