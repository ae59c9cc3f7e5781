"""Keeps the in-memory registry in step with the database: the database is the truth, the
registry a snapshot for fast matching, refreshed whenever a lab's rows change."""

from __future__ import annotations

from sqlmodel import Session, col, select

from hub.nodes.models import Machine, Node
from hub.orders.models import Job
from hub.routing.fairness import FairnessLedger
from hub.routing.registry import LabRegistry
from hub.routing.snapshots import LabView, MachineView
from hub.timeutil import now


def machine_view(machine: Machine) -> MachineView:
    build = (machine.build_x_mm, machine.build_y_mm, machine.build_z_mm)
    small, mid, large = sorted(build)
    return MachineView(
        node_id=machine.node_id,
        machine_id=machine.machine_id,
        process=machine.process,
        build_sorted_mm=(small, mid, large),
        build_mm=build,
        materials=frozenset(m.casefold() for m in machine.materials),
        colours=frozenset(c.casefold() for c in machine.colours),
        nozzle_mm=machine.nozzle_mm,
        volumetric_rate_mm3_s=machine.volumetric_rate_mm3_s,
        queue_limit=machine.queue_limit,
        state=machine.state,
        queue_length=machine.queue_length,
        material_loaded=machine.material_loaded,
        colour_loaded=machine.colour_loaded,
        eta_free_s=machine.eta_free_s,
    )


def lab_view(node: Node, machines: list[Machine]) -> LabView:
    return LabView(
        node_id=node.id,
        name=node.name,
        lat=node.lat,
        lon=node.lon,
        membership=node.membership,
        online=node.online,
        machines=tuple(machine_view(m) for m in sorted(machines, key=lambda m: m.machine_id)),
        opening_hours=node.opening_hours,
        timezone=node.timezone,
        auto_accept=node.auto_accept,
        accepts_unpaid=node.accepts_unpaid,
        currency=node.currency,
        material_price_per_kg=dict(node.material_price_per_kg),
        machine_rate_per_hour=node.machine_rate_per_hour,
        labour_per_job=node.labour_per_job,
    )


def refresh_lab(session: Session, registry: LabRegistry, node_id: str) -> None:
    node = session.get(Node, node_id)
    if node is None:
        registry.remove(node_id)
        return
    machines = list(session.exec(select(Machine).where(Machine.node_id == node_id)))
    registry.replace(lab_view(node, machines))


def load_registry(session: Session, registry: LabRegistry) -> None:
    machines: dict[str, list[Machine]] = {}
    for machine in session.exec(select(Machine)):
        machines.setdefault(machine.node_id, []).append(machine)
    registry.replace_all([lab_view(node, machines.get(node.id, [])) for node in session.exec(select(Node))])


def load_fairness(session: Session, ledger: FairnessLedger) -> None:
    """Jobs accepted within the window, per lab, from the job records."""
    since = now() - ledger.window_s
    rows = session.exec(
        select(Job.node_id, Job.started_at)
        .where(col(Job.started_at).is_not(None))
        .where(col(Job.started_at) >= since)
        .where(col(Job.node_id).is_not(None))
    )
    # the query excludes NULLs: the test is for the type checker
    ledger.load([(node_id, at) for node_id, at in rows if node_id is not None and at is not None])
