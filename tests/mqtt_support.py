"""A real Mosquitto for tests, and an MQTT v5 probe that records what it receives.

The broker is the hub's own supervisor with its generated configuration (a node listener
that enforces client id = user name, and a hub listener), so tests speak to the broker a
deployment runs, not a permissive one."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cofab.devstack.ports import free_port
from hub.broker import BrokerSettings, MosquittoSupervisor
from hub.dispatch.mqtt import HubMqtt

HUB_USER = "cofab-hub"
HUB_PASSWORD = "test-hub-password"
WAIT = 10.0


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT, what: str = "condition") -> None:
    """Poll `predicate` until it holds; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


@contextmanager
def running_broker(data_dir: Path) -> Iterator[MosquittoSupervisor]:
    """A real Mosquitto with the hub's generated configuration (node and hub listeners)."""
    settings = BrokerSettings(
        data_dir=data_dir,
        port=free_port(),
        hub_port=free_port(),
        hub_username=HUB_USER,
        hub_password=HUB_PASSWORD,
    )
    with MosquittoSupervisor(settings, watchdog_interval=0.1) as supervisor:
        yield supervisor


def hub_mqtt(topics: Any, broker: MosquittoSupervisor, *, client_id: str, **options: Any) -> HubMqtt:
    """The hub's MQTT session on `broker`'s hub listener, acknowledging what it receives."""
    host, port = broker.settings.hub_endpoint
    mqtt = HubMqtt(
        host=host,
        port=port,
        username=HUB_USER,
        password=HUB_PASSWORD,
        topics=topics,
        on_message=lambda message: mqtt.ack(message),  # noqa: PLW0108 - mqtt is assigned by this call
        client_id=client_id,
        **options,
    )
    return mqtt


class Probe:
    """A paho v5 client that records the messages it gets, with their properties."""

    def __init__(
        self,
        endpoint: tuple[str, int],
        username: str,
        password: str,
        *,
        client_id: str | None = None,
        persistent: bool = False,
        on_subscribed: Callable[[mqtt.Client], None] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id or f"probe-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5
        )
        self.client.username_pw_set(username, password)
        self.client.reconnect_delay_set(min_delay=0.05, max_delay=0.2)
        self.persistent = persistent
        self.messages: list[mqtt.MQTTMessage] = []
        self.subscribed = threading.Event()
        self.connected = threading.Event()
        self._subscriptions: list[str] = []
        self.client.on_message = lambda _c, _u, message: self._received(message)
        self.client.on_subscribe = self._on_subscribe
        self._on_subscribed = on_subscribed
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *_args: self.connected.clear()

    def _received(self, message: mqtt.MQTTMessage) -> None:
        self.messages.append(message)

    def _on_connect(self, client, _u, _f, reason, _p) -> None:
        if not reason.is_failure:
            self.connected.set()
            for topic in self._subscriptions:
                client.subscribe(topic, qos=1)

    def _on_subscribe(self, client, *_args) -> None:
        if self._on_subscribed is not None:
            self._on_subscribed(client)
        self.subscribed.set()

    def start(self, *topics: str) -> Probe:
        self._subscriptions = list(topics)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600 if self.persistent else 0
        self.client.connect(*self.endpoint, clean_start=not self.persistent, properties=props)
        self.client.loop_start()
        wait_until(self.subscribed.is_set, what="SUBACK")
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def payloads(self) -> list[bytes]:
        return [m.payload for m in list(self.messages)]
