"""One way to open a cofab MQTT session, for the hub and for every node.

- MQTT v5 with a persistent session (clean_start false and a session expiry), so queued QoS 1
  messages wait in the broker while a side is away;
- TCP_NODELAY on the socket after every connect: paho never sets it, and request/reply
  traffic collapses to tens of messages per second without it (docs/mqtt.md);
- subscriptions renewed on every connect, since a broker that lost its state (a SIGKILL
  before autosave) no longer has them;
- a Last Will renewed before every connection with a later `connection_epoch` (when the
  caller gives one): a will is built before its connection, so its own time cannot order it
  against what the client publishes on a later connection; the epoch does.

Options the hub uses and a node does not need: `manual_ack` (the caller acknowledges a message
only once it has acted on it, so a crash in between means the broker delivers it again) and
`receive_maximum` (how many unacknowledged messages the broker may push: Mosquitto queues
only `max_queued_messages` more per client and drops the rest, even for a connected client).
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Sequence

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cofab_mqtt import speedups
from cofab_wire import next_connection_epoch

log = logging.getLogger(__name__)


# MQTT v5 reason code 142: another connection with the same client id took the session over.
SESSION_TAKEN_OVER = 142


def new_client(client_id: str, username: str | None, password: str | None, *, manual_ack: bool = False) -> mqtt.Client:
    speedups.install()  # paho decodes packets without rebuilding its tables each time
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, manual_ack=manual_ack)
    if username is not None and password is not None:
        client.username_pw_set(username, password)
    client.reconnect_delay_set(min_delay=1, max_delay=15)
    return client


def connect_persistent(
    client: mqtt.Client,
    host: str,
    port: int,
    *,
    session_expiry_s: int,
    keepalive_s: int = 30,
    receive_maximum: int | None = None,
) -> None:
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = session_expiry_s
    if receive_maximum is not None:
        props.ReceiveMaximum = receive_maximum
    client.connect_async(host, port, keepalive=keepalive_s, clean_start=False, properties=props)
    client.loop_start()


class SessionClient:
    """A paho client with the session rules above; `on_ready` runs after each successful connect."""

    def __init__(
        self,
        *,
        client_id: str,
        username: str | None,
        password: str | None,
        host: str,
        port: int,
        subscriptions: Sequence[tuple[str, int]],
        on_message: Callable[[mqtt.MQTTMessage], None],
        session_expiry_s: int,
        who: str,
        on_ready: Callable[[], None] | None = None,
        on_published: Callable[[int], None] | None = None,
        manual_ack: bool = False,
        receive_maximum: int | None = None,
        will: Callable[[float], tuple[str, bytes]] | None = None,
        epochs: Callable[[float | None], float] | None = None,
    ) -> None:
        """`will(epoch)` builds the Last Will (topic, payload) for a connection of that epoch;
        `epochs(previous)` gives the next epoch (a node keeps them in its journal so they
        increase across restarts too; by default, `next_connection_epoch` in this process)."""
        self.client = new_client(client_id, username, password, manual_ack=manual_ack)
        self.client_id = client_id
        self._receive_maximum = receive_maximum
        self._expiry_properties: dict[int, Properties] = {}
        self._host, self._port = host, port
        self._subscriptions = list(subscriptions)
        self._handle = on_message
        self._on_ready = on_ready
        self._session_expiry_s = session_expiry_s
        self._who = who
        self._connected = threading.Event()
        self._will = will
        self._epochs = epochs or next_connection_epoch
        self.connection_epoch: float | None = None
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        if on_published is not None:
            self.client.on_publish = lambda _c, _u, mid, _reason, _props: on_published(mid)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self, wait_s: float = 10.0, *, keepalive_s: int = 30) -> bool:
        self._renew_will()
        connect_persistent(
            self.client,
            self._host,
            self._port,
            session_expiry_s=self._session_expiry_s,
            keepalive_s=keepalive_s,
            receive_maximum=self._receive_maximum,
        )
        if not self._connected.wait(wait_s):
            log.warning(
                "not connected to the broker yet; retrying in the background",
                extra={"who": self._who, "host": self._host, "port": self._port},
            )
            return False
        return True

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False, expiry_s: int | None = None
    ) -> mqtt.MQTTMessageInfo:
        """Publish; `expiry_s` sets the MQTT v5 message expiry (the broker drops it unsent after that)."""
        properties = None
        if expiry_s is not None:
            expiry_s = max(1, int(expiry_s))
            properties = self._expiry_properties.get(expiry_s)
            if properties is None:  # paho's Properties are slow to build; these are never changed once made
                if len(self._expiry_properties) > 4096:
                    self._expiry_properties.clear()
                properties = self._expiry_properties[expiry_s] = Properties(PacketTypes.PUBLISH)
                properties.MessageExpiryInterval = expiry_s
        return self.client.publish(topic, payload, qos=qos, retain=retain, properties=properties)

    def ack(self, message: mqtt.MQTTMessage) -> None:
        """With `manual_ack`: tell the broker this message is handled (QoS 0 needs nothing)."""
        if message.qos > 0:
            self.client.ack(message.mid, message.qos)

    def _on_connect(self, client, _userdata, _flags, reason_code, _props) -> None:
        if reason_code.is_failure:
            log.error("broker refused the connection", extra={"who": self._who, "reason": str(reason_code)})
            return
        sock = client.socket()
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._subscriptions:
            client.subscribe(self._subscriptions)
        self._connected.set()
        log.info("connected to broker", extra={"who": self._who, "host": self._host, "port": self._port})
        if self._on_ready is not None:
            self._on_ready()

    def _renew_will(self) -> None:
        """A new epoch and its will, for the next connection (paho sends the will with CONNECT).
        Runs on paho's network thread, which must not die of it: on failure the previous will
        and epoch stay (the hub then orders this connection's statuses by `sent_at` alone)."""
        if self._will is None:
            return
        try:
            epoch = self._epochs(self.connection_epoch)
            topic, payload = self._will(epoch)
            self.client.will_set(topic, payload, qos=1, retain=True)
        except Exception:
            log.exception("could not renew the Last Will; the previous one stays", extra={"who": self._who})
            return
        self.connection_epoch = epoch

    def _on_disconnect(self, _client, _userdata, _flags, reason_code, _props) -> None:
        self._connected.clear()
        self._renew_will()  # paho reconnects from this thread after this returns
        if reason_code == SESSION_TAKEN_OVER:
            log.error(
                "another client connected with this client id and took the session over: two processes share one id",
                extra={"who": self._who, "client_id": self.client_id},
            )
            return
        log.warning("disconnected from broker", extra={"who": self._who, "reason": str(reason_code)})

    def _on_message(self, _client, _userdata, message: mqtt.MQTTMessage) -> None:
        try:
            self._handle(message)
        except Exception:  # a handler bug must not kill the network loop
            log.exception("message handler failed", extra={"who": self._who, "topic": message.topic})
