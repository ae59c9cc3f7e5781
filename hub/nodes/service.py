"""Lab registry: registration with per-node credentials, membership, and the live status
nodes report. Every change is committed to the database first, then copied into the
in-memory registry the matcher reads."""

from __future__ import annotations

import logging
from typing import Protocol

from sqlmodel import Session, col, select

from cofab_wire import NodeStatus
from hub.auth.roles import Role
from hub.auth.service import Principal, create_token, revoke_node_tokens
from hub.errors import Conflict, Forbidden, NotFound
from hub.nodes.models import Machine, Membership, MembershipApproval, Node
from hub.nodes.schemas import MachinePublic, MachineSpec, NodeCreate, NodePublic
from hub.routing.registry import LabRegistry
from hub.routing.sync import refresh_lab
from hub.timeutil import now

log = logging.getLogger(__name__)

#: A lagging replica applies a status seconds after another applied a newer one; a status
#: this much older than the stored one means the node's clock stepped back (NTP, a dead
#: RTC battery), and ignoring it would freeze the node's state until the clock caught up.
CLOCK_STEP_BACK_S = 300.0


class NodeAlreadyExists(Conflict):
    """A lab with this id is registered already (409)."""


class ApprovalRefused(Forbidden):
    """The approver may not approve this lab (403)."""


class NotPending(Conflict):
    """The lab does not await approval (409): it is active, or deactivated by an admin."""


class BrokerAccounts(Protocol):
    """Whatever issues a node's broker login (the supervised Mosquitto's password file)."""

    def add_node(self, node_id: str) -> str: ...

    def remove_node(self, node_id: str) -> bool: ...


def register_node(
    session: Session,
    body: NodeCreate,
    accounts: BrokerAccounts | None,
    registry: LabRegistry | None,
    *,
    hub_user: str,
) -> tuple[NodePublic, str, str | None]:
    """Create a pending lab, its machines, its lab token and its broker login; secrets returned once.
    A node id is also a broker user name, so the hub's own (`hub_user`) is taken, whether or not
    this replica runs the broker."""
    if body.id == hub_user:
        raise NodeAlreadyExists(f"node id {body.id!r} is the hub's own broker user name; choose another")
    if session.get(Node, body.id) is not None:
        raise NodeAlreadyExists(f"node {body.id!r} is already registered")
    fields = body.model_dump(exclude={"machines"})
    node = Node(**fields, membership=Membership.PENDING, created_at=now())
    session.add(node)
    session.flush()
    for spec in body.machines:
        session.add(_machine_from(body.id, spec))
    _, token = create_token(session, role=Role.LAB, name=f"node {body.id}", node_id=body.id)
    password = accounts.add_node(body.id) if accounts is not None else None
    session.commit()
    _sync(session, registry, body.id)
    log.info("lab registered (pending)", extra={"node_id": body.id, "machines": len(body.machines)})
    return to_public(session, node), token, password


def _machine_from(node_id: str, spec: MachineSpec) -> Machine:
    x, y, z = (float(v) for v in spec.build_volume_mm)
    return Machine(
        node_id=node_id,
        machine_id=spec.machine_id,
        process=spec.process,
        make=spec.make,
        model=spec.model,
        build_x_mm=x,
        build_y_mm=y,
        build_z_mm=z,
        materials=list(spec.materials),
        colours=list(spec.colours),
        nozzle_mm=spec.nozzle_mm,
        laser_power_w=spec.laser_power_w,
        volumetric_rate_mm3_s=spec.volumetric_rate_mm3_s,
        queue_limit=spec.queue_limit,
    )


def approve(
    session: Session, node_id: str, approver: Principal, *, required: int, registry: LabRegistry | None
) -> NodePublic:
    """One approval of a pending lab. An admin's approval activates it at once; otherwise
    `required` distinct active member labs must approve. Only an admin may approve an inactive
    lab (re-activation): member votes count for pending labs only, so a deactivation by an admin
    cannot be undone by a member lab."""
    node = find_node(session, node_id)
    _check_approvable(node, approver)
    if approver.role is Role.ADMIN:
        key = f"admin:{approver.token_id}"
    else:
        voter = session.get(Node, approver.node_id) if approver.node_id else None
        if voter is None or voter.membership != Membership.ACTIVE:
            raise ApprovalRefused("only active member labs (or an admin) may approve a lab")
        if voter.id == node_id:
            raise ApprovalRefused("a lab cannot approve itself")
        key = f"node:{voter.id}"
    if (
        session.exec(
            select(MembershipApproval).where(MembershipApproval.node_id == node_id, MembershipApproval.approver == key)
        ).first()
        is None
    ):
        session.add(MembershipApproval(node_id=node_id, approver=key, at=now()))
        session.flush()
    votes = _approvals(session, node_id)
    if approver.role is Role.ADMIN or sum(v.startswith("node:") for v in votes) >= required:
        node.membership = Membership.ACTIVE
        session.add(node)
        log.info("lab became active", extra={"node_id": node_id, "approvals": votes})
    session.commit()
    _sync(session, registry, node_id)
    return to_public(session, node)


def _check_approvable(node: Node, approver: Principal) -> None:
    """409 unless the lab awaits approval: pending, or inactive when an admin approves."""
    if node.membership == Membership.PENDING:
        return
    if node.membership == Membership.INACTIVE and approver.role is Role.ADMIN:
        return
    if node.membership == Membership.ACTIVE:
        raise NotPending(f"lab {node.id!r} is already active; only a pending lab can be approved")
    raise NotPending(
        f"lab {node.id!r} was deactivated; only an admin can approve it again (member labs approve pending labs only)"
    )


def deactivate(
    session: Session, node_id: str, accounts: BrokerAccounts | None, registry: LabRegistry | None
) -> NodePublic:
    """Make a lab inactive and shut it out at once: its votes, API tokens and broker login go.

    Votes go so that re-activation takes an admin; the broker disconnects the lab's live
    connection when its login is removed (docs/mqtt.md). With several replicas the broker's
    password file lives with the replica that runs it (`accounts` is None elsewhere)."""
    node = find_node(session, node_id)
    node.membership = Membership.INACTIVE
    session.add(node)
    for approval in session.exec(select(MembershipApproval).where(MembershipApproval.node_id == node_id)):
        session.delete(approval)
    revoked = revoke_node_tokens(session, node_id)
    session.commit()
    if accounts is not None:
        accounts.remove_node(node_id)
    _sync(session, registry, node_id)
    log.info("lab deactivated", extra={"node_id": node_id, "tokens_revoked": revoked})
    return to_public(session, node)


def apply_status(session: Session, node_id: str, status: NodeStatus, registry: LabRegistry | None = None) -> bool:
    """Update the live registry from a node's retained status. Returns whether the node went offline.

    Every replica applies every status, so one that lags may hold a status older than the
    stored one: it is ignored (`is_stale`), and this replica's registry takes the stored state
    instead. The node's row is locked (PostgreSQL) so the check and the write are one step
    against another replica applying a status at the same moment."""
    node = session.get(Node, node_id, with_for_update=True)
    if node is None:
        log.warning("status from unregistered node ignored", extra={"node_id": node_id})
        return False
    if is_stale(node, status):
        log.info(
            "status older than the stored one ignored",
            extra={
                "node_id": node_id,
                "sent_at": status.sent_at,
                "stored_sent_at": node.status_sent_at,
                "connection_epoch": status.connection_epoch,
                "stored_connection_epoch": node.status_connection_epoch,
            },
        )
        session.rollback()
        _sync(session, registry, node_id)
        return False
    was_online = node.online
    node.online = status.online
    node.last_status_at = now()
    if status.connection_epoch is not None:
        node.status_connection_epoch = status.connection_epoch
    if status.online:
        node.status_sent_at = status.sent_at  # not stale: newer, a repeat, or after a clock step back
    session.add(node)
    if status.online:
        _apply_machines(session, node_id, status)
    session.commit()
    _sync(session, registry, node_id)
    return was_online and not status.online


def _apply_machines(session: Session, node_id: str, status: NodeStatus) -> None:
    """Copy each machine's reported state onto its row; a machine the lab added since it
    registered gets a row of its own."""
    existing = {m.machine_id: m for m in machines_of(session, node_id)}
    for reported in status.machines:
        machine = existing.get(reported.machine_id)
        if machine is None:
            machine = _machine_from(
                node_id,
                MachineSpec(
                    machine_id=reported.machine_id,
                    process=reported.process,
                    build_volume_mm=reported.build_volume_mm,
                    materials=reported.materials,
                ),
            )
        machine.process = reported.process
        machine.build_x_mm, machine.build_y_mm, machine.build_z_mm = (float(v) for v in reported.build_volume_mm)
        machine.materials = list(reported.materials)
        machine.state = reported.state
        machine.queue_length = reported.queue_length
        machine.material_loaded = reported.material_loaded
        machine.colour_loaded = reported.colour_loaded
        if reported.nozzle_mm is not None:
            machine.nozzle_mm = reported.nozzle_mm
        machine.eta_free_s = reported.eta_free_s
        session.add(machine)


def is_stale(node: Node, status: NodeStatus) -> bool:
    """Whether a status was superseded by one already applied (all times are the node's clock).

    Statuses are ordered by connection first: the node renews its Last Will with a later
    `connection_epoch` before each connection (kept in its journal, so later across restarts
    too) and stamps its statuses on that connection with the same. A will or status of an
    earlier connection than the stored one is stale, however late a lagging replica delivers
    it and however long ago that connection began; unless the stored epoch lies more than
    CLOCK_STEP_BACK_S ahead of the hub's clock: it came from a node clock that ran fast, and
    trusting it would silence the node until that time. (A will of that fast connection
    delivered late after the corrected one is then taken as newer: the node looks offline
    until its next status. Rarer and milder than ignoring a node whose clock jumped ahead.)

    Within one connection (or from a node that sends no epoch) the Last Will is never stale:
    its `sent_at` is when the node built it, before every status of that connection, so that
    time says nothing of its order. An offline status leaves the stored time as it was (the
    newest), so an online status a lagging replica still holds from before stays stale; and
    once the node is offline, a repeat of its newest online status is stale too (the will
    replaced it on the broker). Otherwise online statuses go by `sent_at`, an equal time being
    a repeat, applied again harmlessly; one more than CLOCK_STEP_BACK_S behind is the node's
    clock having stepped back, not a replica lagging, and applies."""
    stored_epoch = node.status_connection_epoch
    if status.connection_epoch is not None and stored_epoch is not None and status.connection_epoch != stored_epoch:
        return status.connection_epoch < stored_epoch <= now() + CLOCK_STEP_BACK_S
    if not status.online or node.status_sent_at is None:
        return False
    if node.status_sent_at == status.sent_at:
        return not node.online
    return 0 < node.status_sent_at - status.sent_at <= CLOCK_STEP_BACK_S


def _sync(session: Session, registry: LabRegistry | None, node_id: str) -> None:
    if registry is not None:
        refresh_lab(session, registry, node_id)


def machines_of(session: Session, node_id: str) -> list[Machine]:
    return list(session.exec(select(Machine).where(Machine.node_id == node_id).order_by(Machine.machine_id)))


def _approvals(session: Session, node_id: str) -> list[str]:
    return [
        a.approver
        for a in session.exec(
            select(MembershipApproval).where(MembershipApproval.node_id == node_id).order_by(col(MembershipApproval.id))
        )
    ]


def to_public(session: Session, node: Node) -> NodePublic:
    fields = node.model_dump(exclude={"created_at"})
    return NodePublic(
        **fields,
        approvals=_approvals(session, node.id),
        machines=[
            MachinePublic(
                machine_id=m.machine_id,
                process=m.process,
                make=m.make,
                model=m.model,
                build_volume_mm=(m.build_x_mm, m.build_y_mm, m.build_z_mm),
                materials=m.materials,
                colours=m.colours,
                nozzle_mm=m.nozzle_mm,
                laser_power_w=m.laser_power_w,
                volumetric_rate_mm3_s=m.volumetric_rate_mm3_s,
                queue_limit=m.queue_limit,
                state=m.state,
                queue_length=m.queue_length,
                material_loaded=m.material_loaded,
                colour_loaded=m.colour_loaded,
                eta_free_s=m.eta_free_s,
            )
            for m in machines_of(session, node.id)
        ],
    )


def list_nodes(session: Session) -> list[NodePublic]:
    return [to_public(session, n) for n in session.exec(select(Node).order_by(Node.id))]


def find_node(session: Session, node_id: str) -> Node:
    """The lab's row, or NotFound."""
    node = session.get(Node, node_id)
    if node is None:
        raise NotFound(f"no lab {node_id!r}")
    return node


def get_node(session: Session, node_id: str) -> NodePublic:
    return to_public(session, find_node(session, node_id))
