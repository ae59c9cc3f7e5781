"""Fixtures for the broker tests: a real mosquitto on a free port, and paho v5 test clients.

Helpers reach the tests as fixtures (not imports from this file), so the tests keep working
whether or not their directories become packages.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from paho.mqtt.client import CallbackAPIVersion, Client, MQTTMessage, MQTTv5
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from hub.broker import BrokerSettings, MosquittoSupervisor

HUB_PASSWORD = "hub-test-password"
WAIT = 5.0  # seconds; generous deadline for things that normally take milliseconds


def _free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (never 1883, where the system broker runs)."""
    while True:
        with socket.socket() as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
        if port != 1883:
            return port


def _wait_until(predicate: Callable[[], bool], timeout: float = WAIT, what: str = "condition") -> None:
    """Poll `predicate` until it holds; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


class MqttProbe:
    """A paho MQTT v5 client that records what happens to it, with deadline-bound waits."""

    def __init__(
        self,
        endpoint: tuple[str, int],
        username: str | None,
        password: str | None,
        *,
        client_id: str | None = None,
        will_topic: str | None = None,
        clean_start: bool = True,
        session_expiry: int = 0,
    ) -> None:
        self.endpoint = endpoint
        self.client = Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id or f"t-{username}-{uuid.uuid4().hex[:8]}",
            protocol=MQTTv5,
        )
        if username is not None:
            self.client.username_pw_set(username, password)
        # Short reconnect sleeps: paho's network thread only notices close() between them.
        self.client.reconnect_delay_set(min_delay=0.05, max_delay=0.2)
        if will_topic is not None:
            self.client.will_set(will_topic, b"offline", qos=1, retain=True)
        self._clean_start = clean_start
        self._session_expiry = session_expiry
        self._cond = threading.Condition()
        self.connacks: list[ReasonCode] = []
        self.session_present: bool | None = None
        self.messages: list[MQTTMessage] = []
        self.pubacks: dict[int, ReasonCode] = {}
        self.subacks: dict[int, list[ReasonCode]] = {}
        self.disconnects: list[ReasonCode] = []
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_publish = self._on_publish
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect

    # paho callbacks (paho's network thread)
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        with self._cond:
            self.connacks.append(reason_code)
            self.session_present = flags.session_present
            self._cond.notify_all()

    def _on_message(self, client, userdata, message) -> None:
        with self._cond:
            self.messages.append(message)
            self._cond.notify_all()

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._cond:
            self.pubacks[mid] = reason_code
            self._cond.notify_all()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        with self._cond:
            self.subacks[mid] = list(reason_codes)
            self._cond.notify_all()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        with self._cond:
            self.disconnects.append(reason_code)
            self._cond.notify_all()

    def _wait(self, predicate: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
        with self._cond:
            if not self._cond.wait_for(predicate, timeout):
                raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")

    # test-facing API
    def connect(self) -> ReasonCode:
        """Connect and return the CONNACK reason code; the network thread runs only after a
        success (paho's thread would retry a refused login forever)."""
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self._session_expiry
        self.client.connect(*self.endpoint, clean_start=self._clean_start, properties=props)
        deadline = time.monotonic() + WAIT
        while not self.connacks:
            if time.monotonic() >= deadline:
                raise AssertionError(f"no CONNACK within {WAIT:g} s")
            self.client.loop(timeout=0.05)
        reason = self.connacks[0]
        if not reason.is_failure:
            self.client.loop_start()
        return reason

    def subscribe(self, topic: str, qos: int = 1) -> list[ReasonCode]:
        _, mid = self.client.subscribe(topic, qos)
        self._wait(lambda: mid in self.subacks, f"SUBACK for {topic}")
        return self.subacks[mid]

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> ReasonCode:
        """Publish at QoS 1 and return the PUBACK reason code."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        self._wait(lambda: info.mid in self.pubacks, f"PUBACK for {topic}")
        return self.pubacks[info.mid]

    def payloads(self, topic: str) -> list[bytes]:
        with self._cond:
            return [m.payload for m in self.messages if m.topic == topic]

    def wait_for(self, topic: str, payload: bytes, timeout: float = WAIT) -> None:
        # The condition's lock is re-entrant, so the predicate may take it again.
        self._wait(lambda: payload in self.payloads(topic), f"{payload!r} on {topic}", timeout)

    def wait_disconnected(self, timeout: float = WAIT) -> ReasonCode:
        self._wait(lambda: bool(self.disconnects), "disconnect", timeout)
        return self.disconnects[0]

    def disconnect_with_will(self) -> None:
        """End the session so that the broker publishes the will (MQTT v5 reason code 4),
        as it does when a node's connection dies."""
        with_will = ReasonCode(PacketTypes.DISCONNECT, "Disconnect with will message")
        self.client.disconnect(reasoncode=with_will)
        self.wait_disconnected()

    def close(self) -> None:
        try:
            self.client.disconnect()  # also stops paho's reconnect attempts after a lost link
        finally:
            self.client.loop_stop()


@pytest.fixture
def free_port() -> Callable[[], int]:
    """free_port(): a TCP port on 127.0.0.1 that nothing listens on right now."""
    return _free_port


@pytest.fixture
def wait_until() -> Callable[..., None]:
    """wait_until(predicate, timeout=5, what="..."): poll until true or fail at the deadline."""
    return _wait_until


@pytest.fixture
def broker_settings(tmp_path: Path) -> BrokerSettings:
    return BrokerSettings(data_dir=tmp_path / "broker", port=_free_port(), hub_password=HUB_PASSWORD)


@pytest.fixture
def broker(broker_settings: BrokerSettings) -> Iterator[MosquittoSupervisor]:
    supervisor = MosquittoSupervisor(broker_settings, watchdog_interval=0.1)
    with supervisor:
        yield supervisor


@pytest.fixture
def mqtt_client() -> Iterator[Callable[..., MqttProbe]]:
    """Factory: mqtt_client(endpoint, username, password, **options) -> MqttProbe, closed after."""
    probes: list[MqttProbe] = []

    def make(endpoint: tuple[str, int], username: str | None, password: str | None, **options) -> MqttProbe:
        probe = MqttProbe(endpoint, username, password, **options)
        probes.append(probe)
        return probe

    yield make
    for probe in probes:
        probe.close()


@pytest.fixture
def connect(mqtt_client, broker: MosquittoSupervisor) -> Callable[..., MqttProbe]:
    """connect(username, password, **options): a probe logged in to the test broker, or fail."""

    def connected(username: str, password: str, **options) -> MqttProbe:
        s = broker.settings
        endpoint = s.hub_endpoint if username == s.hub_username else s.node_endpoint
        probe = mqtt_client(endpoint, username, password, **options)
        reason = probe.connect()
        assert not reason.is_failure, f"{username} could not log in: {reason}"
        return probe

    return connected
