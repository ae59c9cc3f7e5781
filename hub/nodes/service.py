"""Node registry: registration with per-node credentials, and the live status nodes report."""

from __future__ import annotations

import logging
from typing import Protocol

from sqlmodel import Session, select

from cofab_wire import NodeStatus
from hub.auth.roles import Role
from hub.auth.service import create_token
from hub.nodes.models import Machine, Node
from hub.nodes.schemas import MachinePublic, NodeCreate, NodePublic
from hub.timeutil import now

log = logging.getLogger(__name__)


class NodeAlreadyExists(ValueError):
    pass


class BrokerAccounts(Protocol):
    """Whatever issues a node's broker login (the supervised Mosquitto's password file)."""

    def add_node(self, node_id: str) -> str: ...


def register_node(
    session: Session, body: NodeCreate, accounts: BrokerAccounts | None
) -> tuple[NodePublic, str, str | None]:
    """Create the node, its machines, its lab token and its broker login. Returns the plain secrets once."""
    if session.get(Node, body.id) is not None:
        raise NodeAlreadyExists(f"node {body.id!r} is already registered")
    node = Node(id=body.id, name=body.name, city=body.city, lat=body.lat, lon=body.lon, created_at=now())
    session.add(node)
    session.flush()
    for spec in body.machines:
        session.add(_machine_from(body.id, spec.machine_id, spec.process, spec.build_volume_mm, spec.materials))
    _, token = create_token(session, role=Role.LAB, name=f"node {body.id}", node_id=body.id)
    password = accounts.add_node(body.id) if accounts is not None else None
    session.commit()
    log.info("node registered", extra={"node_id": body.id, "machines": len(body.machines)})
    return to_public(session, node), token, password


def _machine_from(node_id: str, machine_id: str, process: str, volume, materials) -> Machine:
    x, y, z = (float(v) for v in volume)
    return Machine(node_id=node_id, machine_id=machine_id, process=process, build_x_mm=x, build_y_mm=y,
                   build_z_mm=z, materials=list(materials))


def apply_status(session: Session, node_id: str, status: NodeStatus) -> bool:
    """Update the live registry from a node's retained status. Returns whether the node went offline."""
    node = session.get(Node, node_id)
    if node is None:
        log.warning("status from unregistered node ignored", extra={"node_id": node_id})
        return False
    was_online = node.online
    node.online = status.online
    node.last_status_at = now()
    session.add(node)
    if status.online:
        existing = {m.machine_id: m for m in machines_of(session, node_id)}
        for reported in status.machines:
            machine = existing.get(reported.machine_id) or _machine_from(
                node_id, reported.machine_id, reported.process, reported.build_volume_mm, reported.materials)
            machine.process = reported.process
            machine.build_x_mm, machine.build_y_mm, machine.build_z_mm = (float(v) for v in reported.build_volume_mm)
            machine.materials = list(reported.materials)
            machine.state = reported.state
            machine.queue_length = reported.queue_length
            session.add(machine)
    return was_online and not status.online


def machines_of(session: Session, node_id: str) -> list[Machine]:
    return list(session.exec(select(Machine).where(Machine.node_id == node_id).order_by(Machine.machine_id)))


def to_public(session: Session, node: Node) -> NodePublic:
    return NodePublic(
        id=node.id, name=node.name, city=node.city, lat=node.lat, lon=node.lon, online=node.online,
        last_status_at=node.last_status_at,
        machines=[MachinePublic(machine_id=m.machine_id, process=m.process,
                                build_volume_mm=(m.build_x_mm, m.build_y_mm, m.build_z_mm),
                                materials=m.materials, state=m.state, queue_length=m.queue_length)
                  for m in machines_of(session, node.id)],
    )


def list_nodes(session: Session) -> list[NodePublic]:
    return [to_public(session, n) for n in session.exec(select(Node).order_by(Node.id))]
