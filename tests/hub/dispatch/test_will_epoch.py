"""A node's Last Will is renewed with a later connection epoch before every connection, so the
hub can tell a will of a dropped connection from the statuses of the next one (a real
Mosquitto; the connection is cut from the node's side without a DISCONNECT, as a network
failure does, so the broker publishes the will)."""

from __future__ import annotations

import socket

from cofab_mqtt.session import SessionClient
from cofab_wire import NodeStatus, Topics, parse_status
from tests.mqtt_support import HUB_PASSWORD, HUB_USER, Probe, wait_until

NODE = "lab-w"
TOPICS = Topics("cofab/v1")


def statuses(probe: Probe) -> list[NodeStatus]:
    return [parse_status(payload) for payload in probe.payloads() if payload]


def test_each_connection_has_its_own_will_epoch(broker):
    password = broker.add_node(NODE)
    wait_until(lambda: broker.credentials.has_user(NODE))
    host, port = broker.settings.node_endpoint
    hub_host, hub_port = broker.settings.hub_endpoint
    watcher = Probe((hub_host, hub_port), HUB_USER, HUB_PASSWORD).start(TOPICS.status(NODE))
    session = SessionClient(
        client_id=NODE,
        username=NODE,
        password=password,
        host=host,
        port=port,
        subscriptions=[],
        on_message=lambda _m: None,
        session_expiry_s=60,
        who="test node",
        will=lambda epoch: (
            TOPICS.status(NODE),
            NodeStatus(node_id=NODE, online=False, connection_epoch=epoch).to_bytes(),
        ),
    )
    session.client.reconnect_delay_set(min_delay=0.05, max_delay=0.2)
    try:
        assert session.start(10)
        first = session.connection_epoch
        assert first is not None
        session.publish(
            TOPICS.status(NODE), NodeStatus(node_id=NODE, online=True, connection_epoch=first).to_bytes(), retain=True
        )
        wait_until(lambda: any(s.online for s in statuses(watcher)), what="online status")

        session.client.socket().shutdown(socket.SHUT_RDWR)  # the network drops: no DISCONNECT sent
        wait_until(lambda: any(not s.online for s in statuses(watcher)), what="the Last Will")
        [will] = [s for s in statuses(watcher) if not s.online]
        assert will.connection_epoch == first

        wait_until(lambda: session.connected and session.connection_epoch != first, what="reconnect")
        second = session.connection_epoch
        assert second > first
        session.client.socket().shutdown(socket.SHUT_RDWR)
        wait_until(lambda: len([s for s in statuses(watcher) if not s.online]) == 2, what="the second will")
        assert [s.connection_epoch for s in statuses(watcher) if not s.online] == [first, second]
    finally:
        session.stop()
        watcher.stop()
