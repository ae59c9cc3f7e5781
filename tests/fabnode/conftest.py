"""Fixtures for the node agent's unit tests: a real Mosquitto, the hub's side of the
conversation, a file server, and `node`, which starts a real `NodeAgent` whose machines are
`MemoryMachine`s (see tests/fabnode/support.py for why they are fakes)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fabnode.agent import NodeAgent
from fabnode.config import BrokerConfig, Location, MachineConfig, NodeConfig
from hub.broker import MosquittoSupervisor
from tests.fabnode.support import FileServer, HubSide, MemoryMachine
from tests.mqtt_support import wait_until

NODE = "lab-unit"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "machines"


def machine(
    machine_id: str, process: str, build: tuple[float, float, float], material: str, **extra: str
) -> MachineConfig:
    """A machine of the test node; its driver config names it, so `Node` hands it its `MemoryMachine`."""
    driver_type = "octoprint" if process == "FDM" else "grbl"
    return MachineConfig(
        id=machine_id,
        process=process,
        build_volume_mm=build,
        materials=[material],
        driver={"type": driver_type, "machine": machine_id},
        **extra,
    )


MILL = machine("mill", "CNC", (300.0, 300.0, 60.0), "plywood")
LASER = machine("laser", "laser", (400.0, 300.0, 40.0), "plywood-3mm", safety_profile=str(EXAMPLES / "grbl-laser.toml"))
PRINTER = machine("printer", "FDM", (200.0, 200.0, 200.0), "PLA")


class Node:
    """The node under test. `start` makes a new `NodeAgent` on the same work directory each
    time, as a lab restarting its agent does; the machines are the test's `MemoryMachine`s."""

    def __init__(self, broker: MosquittoSupervisor, work_dir: Path, hub: HubSide) -> None:
        self.work_dir = work_dir
        self.hub = hub
        self.password = broker.add_node(NODE)
        self.host, self.port = broker.settings.node_endpoint
        self.agent: NodeAgent | None = None
        wait_until(lambda: broker.credentials.has_user(NODE), what="the node's broker login")

    def start(
        self,
        machines: dict[str, MemoryMachine] | None = None,
        *,
        configs: tuple[MachineConfig, ...] = (MILL, LASER, PRINTER),
        auto_accept: bool = True,
    ) -> dict[str, MemoryMachine]:
        """Start an agent; returns its machines by id (new idle ones unless given)."""
        machines = machines if machines is not None else {c.id: MemoryMachine() for c in configs}
        config = NodeConfig(
            node_id=NODE,
            location=Location(lat=41.39, lon=2.17),
            broker=BrokerConfig(host=self.host, port=self.port, password=self.password),
            machines=list(configs),
            work_dir=self.work_dir,
            auto_accept=auto_accept,
            status_poll_s=0.02,
            start_stagger_s=0.0,
        )
        self.hub.statuses.clear()
        self.agent = NodeAgent(config, driver_factory=lambda raw: machines[raw["machine"]])
        self.agent.start(wait_s=10)
        self.hub.wait_online()
        return machines

    def stop(self) -> None:
        if self.agent is not None:
            self.agent.stop()
            self.agent = None


@pytest.fixture
def files() -> Iterator[FileServer]:
    server = FileServer().start()
    yield server
    server.stop()


@pytest.fixture
def hub(broker: MosquittoSupervisor) -> Iterator[HubSide]:
    side = HubSide(broker.settings.hub_endpoint, NODE).listen()
    yield side
    side.stop()


@pytest.fixture
def node(broker: MosquittoSupervisor, tmp_path: Path, hub: HubSide) -> Iterator[Node]:
    started = Node(broker, tmp_path / "node", hub)
    yield started
    started.stop()
