"""What the generated password and ACL files let each user do, on a real mosquitto."""

from __future__ import annotations

import pytest

from cofab_wire.topics import Topics

pytestmark = pytest.mark.integration

T = Topics()
NOT_AUTHORISED = 135


@pytest.fixture
def nodes(broker):
    """Two registered nodes and their passwords."""
    return {"lab-a": broker.add_node("lab-a"), "lab-b": broker.add_node("lab-b")}


def test_hub_publishes_to_any_node_and_reads_all_events_and_status(broker, nodes, connect) -> None:
    hub = connect("hub", broker.settings.hub_password)
    a = connect("lab-a", nodes["lab-a"])
    b = connect("lab-b", nodes["lab-b"])
    assert not hub.subscribe(T.all_events)[0].is_failure
    assert not hub.subscribe(T.all_status)[0].is_failure
    a.subscribe(T.jobs("lab-a"))
    b.subscribe(T.jobs("lab-b"))

    for node, probe in (("lab-a", a), ("lab-b", b)):
        assert hub.publish(T.jobs(node), f"offer for {node}".encode()).value == 0
        probe.wait_for(T.jobs(node), f"offer for {node}".encode())

    assert a.publish(T.events("lab-a"), b"accepted").value == 0
    assert b.publish(T.status("lab-b"), b"online", retain=True).value == 0
    hub.wait_for(T.events("lab-a"), b"accepted")
    hub.wait_for(T.status("lab-b"), b"online")


def test_hub_replicas_share_events_through_a_shared_subscription(broker, nodes, connect, wait_until) -> None:
    replica_1 = connect("hub", broker.settings.hub_password)
    replica_2 = connect("hub", broker.settings.hub_password)
    for replica in (replica_1, replica_2):
        assert not replica.subscribe(f"$share/hubs/{T.all_events}")[0].is_failure
    a = connect("lab-a", nodes["lab-a"])
    sent = [f"event {i}".encode() for i in range(10)]
    for payload in sent:
        a.publish(T.events("lab-a"), payload)
    topic = T.events("lab-a")
    wait_until(
        lambda: len(replica_1.payloads(topic)) + len(replica_2.payloads(topic)) == len(sent),
        what="every event delivered to one replica",
    )
    got_1, got_2 = replica_1.payloads(topic), replica_2.payloads(topic)
    assert sorted(got_1 + got_2) == sorted(sent)
    assert got_1 and got_2  # both replicas got a share


def test_a_node_reads_its_own_jobs_only(broker, nodes, connect) -> None:
    hub = connect("hub", broker.settings.hub_password)
    a = connect("lab-a", nodes["lab-a"])
    b = connect("lab-b", nodes["lab-b"])
    a.subscribe(T.jobs("lab-a"))
    # A denied subscribe is acknowledged as granted: the proof is that nothing arrives.
    a.subscribe(T.jobs("lab-b"))
    a.subscribe(f"{T.prefix}/nodes/+/jobs")
    a.subscribe(f"{T.prefix}/#")
    b.subscribe(T.jobs("lab-b"))

    hub.publish(T.jobs("lab-b"), b"secret offer for b")
    b.wait_for(T.jobs("lab-b"), b"secret offer for b")
    # Mosquitto delivers one publisher's QoS 1 messages in order, so once A has the marker
    # sent after B's offer, B's offer would have reached A already if it ever could.
    hub.publish(T.jobs("lab-a"), b"marker")
    a.wait_for(T.jobs("lab-a"), b"marker")
    # The wildcard subscriptions match A's own jobs topic too, hence several copies.
    assert {(m.topic, m.payload) for m in a.messages} == {(T.jobs("lab-a"), b"marker")}


def test_a_node_cannot_read_status_or_events(broker, nodes, connect) -> None:
    a = connect("lab-a", nodes["lab-a"])
    b = connect("lab-b", nodes["lab-b"])
    a.subscribe(T.all_status)
    a.subscribe(T.all_events)
    a.subscribe(T.jobs("lab-a"))
    b.publish(T.status("lab-b"), b"b is online", retain=True)
    b.publish(T.events("lab-b"), b"b accepted a job")
    hub = connect("hub", broker.settings.hub_password)
    hub.publish(T.jobs("lab-a"), b"marker")
    a.wait_for(T.jobs("lab-a"), b"marker")
    assert [m.payload for m in a.messages] == [b"marker"]


def test_a_node_cannot_speak_for_another(broker, nodes, connect) -> None:
    hub = connect("hub", broker.settings.hub_password)
    hub.subscribe(f"{T.prefix}/#")
    a = connect("lab-a", nodes["lab-a"])

    assert a.publish(T.events("lab-b"), b"forged completion").value == NOT_AUTHORISED
    assert a.publish(T.status("lab-b"), b"forged offline", retain=True).value == NOT_AUTHORISED
    assert a.publish(T.jobs("lab-b"), b"forged offer").value == NOT_AUTHORISED
    assert a.publish(T.jobs("lab-a"), b"self-made offer").value == NOT_AUTHORISED
    assert a.publish(T.events("lab-a"), b"marker").value == 0

    hub.wait_for(T.events("lab-a"), b"marker")
    assert [m.payload for m in hub.messages] == [b"marker"]


def test_last_will_only_on_its_own_status(broker, nodes, connect) -> None:
    hub = connect("hub", broker.settings.hub_password)
    hub.subscribe(T.all_status)
    honest = connect("lab-a", nodes["lab-a"], will_topic=T.status("lab-a"))
    forger = connect("lab-a", nodes["lab-a"], will_topic=T.status("lab-b"))

    forger.disconnect_with_will()
    honest.disconnect_with_will()
    hub.wait_for(T.status("lab-a"), b"offline")
    assert hub.payloads(T.status("lab-b")) == []


def test_anonymous_and_wrong_passwords_are_refused(broker, nodes, mqtt_client) -> None:
    endpoint = broker.settings.node_endpoint
    attempts = {
        "anonymous": (None, None),
        "wrong password": ("lab-a", nodes["lab-b"]),
        "unknown user": ("lab-z", "whatever"),
        "hub with a node's password": ("hub", nodes["lab-a"]),
    }
    for what, (user, password) in attempts.items():
        reason = mqtt_client(endpoint, user, password).connect()
        assert reason.is_failure, what
        assert reason.value in (134, 135), f"{what}: {reason}"  # bad credentials / not authorised
