"""Fixtures for the dispatch tests: a hub app (no broker) with labs, a design and orders, on
SQLite and PostgreSQL (the `api` fixture's parameters); a real Mosquitto; an MQTT probe."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlmodel import Session

from cofab.devstack.samples import box, stl_bytes
from cofab_wire import MachineStatus, NodeStatus
from hub.broker import BrokerSettings, MosquittoSupervisor
from hub.nodes.service import apply_status
from tests.conftest import bearer

HUB_USER = "cofab-hub"
HUB_PASSWORD = "dispatch-test-hub-password"
WAIT = 10.0
# Barcelona: labs a few km apart, makers near the first.
LABS = [("lab-a", 41.3969, 2.1945), ("lab-b", 41.3836, 2.1302), ("lab-c", 41.4100, 2.2200)]
NEAR_A = (41.4036, 2.1744)


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


def free_port() -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port != 1883:
            return port


def set_online(services, node_id: str, online: bool = True) -> None:
    with Session(services.engine) as session:
        apply_status(
            session,
            node_id,
            NodeStatus(
                node_id=node_id,
                online=online,
                machines=[
                    MachineStatus(
                        machine_id="p1", process="FDM", build_volume_mm=(200, 200, 200), materials=["PLA"], state="idle"
                    )
                ],
            ),
            services.registry,
        )


@pytest.fixture
def hub(api, tokens):
    """The hub's services with three active, online labs."""
    services = api.app.state.services
    for node_id, lat, lon in LABS:
        response = api.post(
            "/api/v1/nodes",
            headers=bearer(tokens["admin"]),
            json={
                "id": node_id,
                "name": node_id,
                "lat": lat,
                "lon": lon,
                "machines": [{"machine_id": "p1", "build_volume_mm": [200, 200, 200], "materials": ["PLA"]}],
            },
        )
        assert response.status_code == 201, response.text
        assert api.post(f"/api/v1/nodes/{node_id}/approvals", headers=bearer(tokens["admin"])).status_code == 200
        set_online(services, node_id)
    return services


@pytest.fixture
def design_id(api, tokens) -> str:
    response = api.post(
        "/api/v1/designs",
        content=stl_bytes(box((20, 20, 20))),
        headers=bearer(tokens["designer"]),
        params={"filename": "p.stl", "title": "part"},
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


@pytest.fixture
def place(api, tokens, hub, design_id) -> Callable[..., dict]:
    """place(quantity=1, where=NEAR_A) -> the order's full view (its POST answer's Location)."""

    def place(quantity: int = 1, where: tuple[float, float] = NEAR_A) -> dict:
        response = api.post(
            "/api/v1/orders",
            headers=bearer(tokens["maker"]),
            json={"design_id": design_id, "material": "PLA", "quantity": quantity, "lat": where[0], "lon": where[1]},
        )
        assert response.status_code == 201, response.text
        return api.get(response.headers["Location"], headers=bearer(tokens["maker"])).json()

    return place


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoSupervisor]:
    """A real Mosquitto with the hub's generated configuration (node and hub listeners)."""
    settings = BrokerSettings(
        data_dir=tmp_path / "broker",
        port=free_port(),
        hub_port=free_port(),
        hub_username=HUB_USER,
        hub_password=HUB_PASSWORD,
    )
    supervisor = MosquittoSupervisor(settings, watchdog_interval=0.1)
    with supervisor:
        yield supervisor


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
        self.client.on_message = lambda _c, _u, message: self.messages.append(message)
        self.client.on_subscribe = self._on_subscribe
        self._on_subscribed = on_subscribed
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *_args: self.connected.clear()

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
