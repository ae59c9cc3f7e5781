"""The hub's own broker session (paho-mqtt, MQTT v5).

A persistent session (clean_start false, session expiry) keeps the hub's subscriptions and
queued node events across a hub restart; subscriptions are renewed on every connect anyway.
TCP_NODELAY is set on the socket: paho does not, and request/reply traffic collapses
without it (notes/mqtt.md).
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cofab_wire import Topics

log = logging.getLogger(__name__)

MessageHandler = Callable[[str, bytes], None]


class HubMqtt:
    def __init__(self, *, host: str, port: int, username: str, password: str | None, topics: Topics,
                 on_message: MessageHandler, client_id: str = "cofab-hub",
                 session_expiry_s: int = 86400) -> None:
        self._topics = topics
        self._handler = on_message
        self._connected = threading.Event()
        self._host, self._port = host, port
        self._session_expiry_s = session_expiry_s
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if password is not None:
            self.client.username_pw_set(username, password)
        self.client.max_inflight_messages_set(50)
        self.client.reconnect_delay_set(min_delay=1, max_delay=10)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    def start(self, wait_s: float = 10.0) -> None:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self._session_expiry_s
        self.client.connect_async(self._host, self._port, keepalive=30, clean_start=False, properties=props)
        self.client.loop_start()
        if not self._connected.wait(wait_s):
            log.warning("hub not yet connected to the broker; it keeps retrying",
                        extra={"host": self._host, "port": self._port})

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> mqtt.MQTTMessageInfo:
        return self.client.publish(topic, payload, qos=qos)

    def _on_connect(self, client, _userdata, _flags, reason_code, _props) -> None:
        if reason_code.is_failure:
            log.error("broker refused the hub", extra={"reason": str(reason_code)})
            return
        sock = client.socket()
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.subscribe([(self._topics.all_status, 1), (self._topics.all_events, 1)])
        self._connected.set()
        log.info("hub connected to broker", extra={"host": self._host, "port": self._port})

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _props) -> None:
        self._connected.clear()
        log.warning("hub disconnected from broker", extra={"reason": str(reason_code)})

    def _on_message(self, _client, _userdata, message: mqtt.MQTTMessage) -> None:
        try:
            self._handler(message.topic, message.payload)
        except Exception:  # a handler bug must not kill the network loop
            log.exception("handler failed", extra={"topic": message.topic})
