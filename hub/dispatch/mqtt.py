"""The hub's own broker session: every node's status and events in, offers out.

- Node events arrive through the MQTT v5 shared subscription `$share/cofab-hubs/...`: the
  broker hands each event to one hub replica. Statuses are a plain subscription: every
  replica keeps its own lab registry from the retained statuses.
- The session is persistent under a client id fixed per replica (`cofab-hub-<replica id>`),
  so what arrives while a replica restarts waits for it. Mosquitto keeps routing a shared
  subscription's share to a member whose session is offline (measured with 2.0.11), which is
  why the id must be stable across restarts and unique among running replicas.
- Messages are acknowledged by hand once the database has them (`manual_ack`), and the hub
  lets the broker push up to `RECEIVE_MAXIMUM` unacknowledged ones: beyond its in-flight
  window Mosquitto queues only `max_queued_messages` per client and drops the rest.
"""

from __future__ import annotations

from collections.abc import Callable

import paho.mqtt.client as mqtt

from cofab_mqtt import SessionClient
from cofab_wire import Topics

MessageHandler = Callable[[mqtt.MQTTMessage], None]

SHARE_GROUP = "cofab-hubs"
RECEIVE_MAXIMUM = 65535  # the MQTT maximum
PUBLISH_WINDOW = 50  # QoS 1 publishes awaiting PUBACK; 20-100 is best (docs/mqtt.md)


def shared_events_filter(topics: Topics) -> str:
    return f"$share/{SHARE_GROUP}/{topics.all_events}"


class HubMqtt(SessionClient):
    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        password: str | None,
        topics: Topics,
        on_message: MessageHandler,
        client_id: str = "cofab-hub",
        session_expiry_s: int = 86400,
        on_published: Callable[[int], None] | None = None,
        on_ready: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(
            client_id=client_id,
            username=username,
            password=password,
            host=host,
            port=port,
            subscriptions=[(topics.all_status, 1), (shared_events_filter(topics), 1)],
            on_message=on_message,
            session_expiry_s=session_expiry_s,
            who="hub",
            on_published=on_published,
            on_ready=on_ready,
            manual_ack=True,
            receive_maximum=RECEIVE_MAXIMUM,
        )
        self.client.max_inflight_messages_set(PUBLISH_WINDOW)
        # No cap on paho's in-memory queue: the outbox is the durable queue and the relay bounds
        # what it hands paho (its window), so a burst must never be refused for size.
        self.client.max_queued_messages_set(0)
