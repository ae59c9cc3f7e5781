"""The relay when paho refuses a publish, against a real Mosquitto.

paho refuses a QoS 1 publish when its queue holds `max_queued_messages` (or the message id is
still in use: MQTT_ERR_QUEUE_SIZE) and reports MQTT_ERR_NO_CONN when the connection dropped
after the relay looked. Such a message's `is_published()` raises for ever, which used to stop
the relay for good. Now the refused row and the rest of its batch are released unsent and go
out on a later pass, in their topic's order.
"""

from __future__ import annotations

import os
import signal
from collections import defaultdict

import pytest
from sqlmodel import Session, select

from hub.dispatch import outbox
from hub.dispatch.models import OutboxMessage
from hub.dispatch.mqtt import HubMqtt
from hub.dispatch.relay import OutboxRelay
from tests.mqtt_support import HUB_PASSWORD, HUB_USER, Probe, hub_mqtt, wait_until

pytestmark = pytest.mark.integration

CAP = 100
BURST = 1500  # more than the cap, and more than Mosquitto's per-client queue (1,000)
TOPICS = [f"cofab/v1/nodes/burst-{n}/jobs" for n in range(3)]


def hub_session(hub, broker, *, cap: int = 0) -> HubMqtt:
    mqtt = hub_mqtt(hub.dispatch.topics, broker, client_id="cofab-hub-burst")
    mqtt.client.max_queued_messages_set(cap)
    return mqtt


def write_burst(hub, count: int) -> dict[str, list[bytes]]:
    """`count` rows over three topics; returns each topic's payloads in written order."""
    written: dict[str, list[bytes]] = defaultdict(list)
    with Session(hub.engine) as session:
        for n in range(count):
            topic = TOPICS[n % len(TOPICS)]
            payload = f"message-{n}".encode()
            outbox.enqueue(session, topic, payload, kind=outbox.COMMAND)
            written[topic].append(payload)
        session.commit()
    return written


def listener(broker) -> Probe:
    """A client on the hub listener subscribed to the burst's topics."""
    return Probe(broker.settings.hub_endpoint, HUB_USER, HUB_PASSWORD).start(*TOPICS)


def first_seen(probe: Probe) -> dict[str, list[bytes]]:
    """Each topic's payloads in arrival order, repeats dropped (QoS 1 may deliver twice)."""
    seen: dict[str, list[bytes]] = defaultdict(list)
    for message in list(probe.messages):
        if message.payload not in seen[message.topic]:
            seen[message.topic].append(message.payload)
    return dict(seen)


def unclaimed_unsent(hub) -> int:
    with Session(hub.engine) as session:
        return len(
            session.exec(
                select(OutboxMessage).where(OutboxMessage.sent_at.is_(None), OutboxMessage.claimed_by.is_(None))
            ).all()
        )


def test_a_burst_beyond_a_capped_queue_while_the_broker_stalls_is_sent_whole_and_in_order(hub, broker):
    probe = listener(broker)
    mqtt = hub_session(hub, broker, cap=CAP)
    relay = OutboxRelay(hub.engine, mqtt, owner="burst", write_lock=hub.dispatch.lock)
    written = write_burst(hub, BURST)
    assert mqtt.start()
    try:
        os.kill(broker.pid, signal.SIGSTOP)  # a broker that answers nothing: paho's queue fills up
        try:
            relay._pass()
        finally:
            os.kill(broker.pid, signal.SIGCONT)
        assert relay.counts["refused"] > 0  # paho took CAP messages and refused the rest of the batch...
        assert unclaimed_unsent(hub) == BURST - CAP  # ...whose rows wait unclaimed with those not yet claimed
        relay.flush_once(timeout_s=60)
        with Session(hub.engine) as session:
            assert outbox.pending_count(session) == 0
        wait_until(lambda: first_seen(probe) == written, timeout=30, what="every message, in order per topic")
    finally:
        mqtt.stop()
        probe.stop()


def test_a_publish_after_the_connection_dropped_leaves_its_rows_for_the_next_pass(hub, broker):
    probe = listener(broker)
    mqtt = hub_session(hub, broker)
    relay = OutboxRelay(hub.engine, mqtt, owner="burst", write_lock=hub.dispatch.lock)
    written = write_burst(hub, 30)
    mqtt._connected.set()  # the relay saw the session up; its socket is gone (never opened here)
    try:
        relay._pass()
        assert relay.counts["refused"] == 30 and unclaimed_unsent(hub) == 30
        mqtt._connected.clear()
        assert mqtt.start()
        relay.flush_once(timeout_s=30)
        with Session(hub.engine) as session:
            assert outbox.pending_count(session) == 0
        wait_until(lambda: first_seen(probe) == written, what="every message, in order per topic")
    finally:
        mqtt.stop()
        probe.stop()


def test_the_hub_session_puts_no_cap_on_paho_queue(hub):
    """The outbox is the durable queue: paho's in-memory one must never refuse for size."""
    mqtt = HubMqtt(
        host="127.0.0.1",
        port=1,
        username=HUB_USER,
        password=HUB_PASSWORD,
        topics=hub.dispatch.topics,
        on_message=lambda _message: None,
    )
    assert mqtt.client.max_queued_messages == 0
